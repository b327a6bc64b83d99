"""Boot rehearsal: run the parser for real, on a throwaway copy of the image, and compare with the simulation.

A qcow2 overlay of the image (the image itself is never written) gets the parser as
inject would install it and the os.conf where the platform puts it; qemu boots it with
the image's own bootloader when it has one in its first sector whose configuration puts
the console on the serial port, otherwise directly with the image's own kernel and
initramfs (read out of the image); either way with its own init and shell, NICs whose
network reaches nothing outside, and the serial console captured. The parser's marker
on the console says when it is done; the guest is then shut down, the overlay read back, and what really changed is
compared with what the simulation predicted, file by file.

One appliance does it all: qemu-nbd serves the overlay on a private socket to the appliance (which installs the
parser, then waits with nothing mounted) and to the booted guest; afterwards the appliance drops its caches and
reads the disk back, so a rehearsal costs one appliance launch, not two.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from workbench.errors import WorkbenchError
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.qemu import ByteReader
from workbench.image.session import GuestSession, Progress
from workbench.image.tree import GuestTree
from workbench.inject import FIRST, _Writer, build_plan, close_first_partition, open_first_partition
from workbench.osconf import MAC, decode_password, parse_text
from workbench.simulate import Change, ChangeSet, simulate

SCHEMA = "workbench.rehearse/1"
DONE = re.compile(r"os-conf: (done; os\.conf removed|failed;.*|no aliyun_custom_image/os\.conf.*|the first partition .* "
                  r"was not found.*)")
LOGIN = re.compile(r"^(\S+) login:")
# where a parser's effects show: everything else a boot changes (journal, machine-id...) is not compared
DOMAIN = ("/etc/sysconfig/network", "/etc/network/", "/etc/netplan/", "/etc/systemd/network/",
          "/etc/NetworkManager/system-connections/", "/etc/hostname", "/etc/HOSTNAME", "/etc/hosts",
          "/etc/resolv.conf", "/etc/shadow", "/etc/ssh/ssh_host_", "/var/lib/os-conf", "/var/log/os-conf.log",
          "/etc/conf.d/net", "/etc/conf.d/hostname", "/etc/systemd/resolved.conf.d/", "/etc/init.d/net.",
          "/etc/runlevels/default/net.")
EXISTENCE_ONLY = ("/var/log/os-conf.log", "/var/lib/os-conf/applied-at", "/etc/ssh/ssh_host_")
PULLS = [("/etc", []), ("/var/lib/os-conf", [])]
GRACE = 30  # seconds for a SysRq sync/remount/poweroff before a kill
QUIET = 10  # after the ACPI request, this long without console output means the guest ignores it
BOOT_MODES = ("auto", "bootloader", "kernel")
# where BIOS bootloaders keep the kernel command line, as the guest mounts them
BOOT_CONFIGS = ("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/boot/extlinux/extlinux.conf", "/boot/extlinux.conf",
                "/boot/syslinux/syslinux.cfg", "/boot/syslinux.cfg", "/extlinux.conf")
SERIAL_CONSOLE = re.compile(r"(^|\s)console=ttyS0(\s|,|$)")
STOPPED = "the rehearsal was stopped before it finished; nothing of it was kept"
# the guest boots on the host's cores (the appliance waits meanwhile): under TCG 2 vCPUs boot a Debian 12 in ~37 s
# where 1 takes ~45 s
VCPUS = max(1, min(len(os.sched_getaffinity(0)), 4))
MAX_BOOT_FILE = 512 << 20  # a kernel or initramfs read out of the image for a direct boot
SYSRQ = ("s", "u", "o")  # sync, remount read-only, power off: no write is lost if the guest ignores ACPI


class RehearsalError(WorkbenchError):
    """The rehearsal boot could not be done (exit 2)."""


@dataclass
class RehearsalResult:
    real: ChangeSet
    simulated: ChangeSet
    mismatches: list[str]
    os_conf_removed: bool
    parser_finished: bool
    parser_log: str
    console_tail: list[str]
    hostname_seen: str | None
    accel: str
    boot_seconds: float
    notes: list[str] = field(default_factory=list)
    boot: str = "kernel"  # "bootloader" (the image's own) or "kernel" (direct kernel boot)

    @property
    def matches_simulation(self) -> bool:
        return not self.mismatches

    @property
    def exit_code(self) -> int:
        return 0 if self.matches_simulation and self.parser_finished and self.os_conf_removed else 1

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "matches_simulation": self.matches_simulation, "mismatches": self.mismatches,
                "os_conf_removed": self.os_conf_removed, "parser_finished": self.parser_finished,
                "hostname_seen": self.hostname_seen, "accel": self.accel, "boot": self.boot,
                "boot_seconds": round(self.boot_seconds, 1),
                "real": self.real.to_json(), "simulation": self.simulated.to_json(), "parser_log": self.parser_log,
                "console_tail": self.console_tail, "notes": self.notes}


def _in_domain(path: str) -> bool:
    return path.startswith(DOMAIN) or "/aliyun_custom_image/" in path


def _text(tree: GuestTree, path: str) -> str | None:
    node = tree.node(path, follow=False)
    if node is None:
        return None
    if node.kind == "link":
        return f"-> {node.target}"
    if node.kind == "file":
        return tree.read_text(path) if node.data is not None else f"<{node.size} bytes, not read>"
    return None


def tree_changes(before: GuestTree, after: GuestTree) -> list[Change]:
    """Create/modify/delete of the files (and links) under the parser's domain, between two pulls."""
    paths = {n.path for t in (before, after) for n in t.walk("/") if n.kind in ("file", "link") and _in_domain(n.path)}
    out = []
    for path in sorted(paths):
        a, b = _text(before, path), _text(after, path)
        if a == b:
            continue
        action = "create" if a is None else "delete" if b is None else "modify"
        out.append(Change(path, action, a, b))
    return out


def _shadow_fields(text: str | None) -> dict[str, list[str]]:
    return {ln.split(":")[0]: ln.split(":") for ln in (text or "").splitlines() if ":" in ln}


def compare(real: list[Change], simulated: list[Change], password: str | None) -> list[str]:
    """What the boot did differently from the simulation, one sentence per file."""
    from workbench import crypt

    done = {"create": "created", "modify": "modified", "delete": "deleted"}
    mismatches = []
    real_by = {c.path: c for c in real}
    sim_by = {c.path: c for c in simulated if c.kind != "dir" and _in_domain(c.path)}
    for path in sorted(set(real_by) | set(sim_by)):
        r, s = real_by.get(path), sim_by.get(path)
        if r is None:
            mismatches.append(f"{path}: the simulation {done[s.action]} it, the boot did not")
            continue
        if s is None:
            mismatches.append(f"{path}: the boot {done[r.action]} it, the simulation did not")
            continue
        if r.action != s.action:
            mismatches.append(f"{path}: the boot {done[r.action]} it, the simulation {done[s.action]} it")
            continue
        if path.startswith(EXISTENCE_ONLY) or r.action == "delete":
            continue  # timestamps and freshly generated keys differ by nature
        if path == "/etc/shadow":
            rf, sf = _shadow_fields(r.after), _shadow_fields(s.after)
            for user in sorted(set(rf) | set(sf)):
                a, b = rf.get(user), sf.get(user)
                if a is None or b is None:
                    mismatches.append(f"/etc/shadow: account {user} differs")
                elif a[1] != b[1] and not (password and crypt.verify(password, a[1]) and crypt.verify(password, b[1])):
                    mismatches.append(f"/etc/shadow: the password hash of {user} differs")
                elif a[3:] != b[3:]:
                    mismatches.append(f"/etc/shadow: the ageing fields of {user} differ")
            continue
        if (r.after or "") != (s.after or ""):
            mismatches.append(f"{path}: the content written at boot differs from the simulation's")
    return mismatches


def _newest_kernel(g) -> tuple[str, str]:
    def version_key(path: str):
        return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path)]

    kernels = sorted((k for k in g.glob_expand("/boot/vmlinuz-*") if not k.endswith(".old")), key=version_key)
    for k in reversed(kernels):
        v = k[len("/boot/vmlinuz-"):]
        for initrd in (f"/boot/initrd.img-{v}", f"/boot/initramfs-{v}.img", f"/boot/initrd-{v}"):
            if g.is_file(initrd):
                return k, initrd
    raise RehearsalError("the image has no kernel with an initramfs in /boot to boot")


def _grub_cmdline(tree: GuestTree) -> str:
    text = tree.read_text("/etc/default/grub", 65536) or ""
    parts = []
    for key in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"):
        m = re.search(rf'^\s*{key}\s*=\s*"?([^"\n]*)"?', text, re.M)
        if m:
            parts += [w for w in m.group(1).split() if re.fullmatch(r"[A-Za-z0-9_.,=/:-]+", w)
                      and not w.startswith(("console=", "root="))]
    return " ".join(parts)


def bios_boot_code(facts: ImageFacts) -> bool:
    """Whether the first sector holds boot code (an MBR signature and a non-empty code area)."""
    sector = ByteReader(facts.path, facts.format, facts.virtual_size).read(0, 512)
    return len(sector) == 512 and sector[510:] == b"\x55\xaa" and any(sector[:440])


def serial_boot_config(g) -> str | None:
    """The bootloader configuration whose kernel lines put the console on ttyS0, or None."""
    for path in BOOT_CONFIGS:
        try:
            if not g.is_file(path) or g.filesize(path) > 4 << 20:
                continue
            text = g.read_file(path).decode("utf-8", "replace")
        except RuntimeError:
            continue
        for line in text.splitlines():
            words = line.strip()
            if words.lower().startswith(("linux", "append", "kernel")) and SERIAL_CONSOLE.search(words):
                return path
    return None


def choose_boot(mode: str, has_code: bool, serial_config: str | None) -> tuple[str, str]:
    """(bootloader|kernel, why). Raises RehearsalError when the asked-for bootloader boot cannot be watched."""
    if mode == "kernel":
        return "kernel", "direct kernel boot, as asked"
    if has_code and serial_config:
        return "bootloader", f"the image's own bootloader ({serial_config} puts the console on ttyS0)"
    if not has_code:
        why = "the first sector has no BIOS boot code"
    else:
        why = ("no bootloader configuration in /boot puts the console on the serial port (console=ttyS0), "
               "where the rehearsal watches the parser")
    if mode == "bootloader":
        raise RehearsalError(f"the image's bootloader cannot be rehearsed: {why}")
    return "kernel", f"direct kernel boot: {why}"


def direct_boot(g, tmp: str, root_device: str, extra: str = "") -> tuple[str, list[str]]:
    """Take the newest kernel and initramfs out of the mounted guest into tmp: (kernel, qemu arguments)."""
    kernel, initrd = _newest_kernel(g)
    for path in (kernel, initrd):
        size = g.filesize(path)
        if size > MAX_BOOT_FILE:
            raise RehearsalError(f"{path} is {size >> 20} MiB, more than a kernel or initramfs can be "
                                 f"({MAX_BOOT_FILE >> 20} MiB); it was not read")
    g.download(kernel, os.path.join(tmp, "vmlinuz"))
    g.download(initrd, os.path.join(tmp, "initrd"))
    cmdline = " ".join(filter(None, [f"root=UUID={g.vfs_uuid(root_device)}", "ro", extra, "console=ttyS0,115200",
                                     "net.ifnames=0", "biosdevname=0", "panic=-1"]))
    return kernel, ["-kernel", os.path.join(tmp, "vmlinuz"), "-initrd", os.path.join(tmp, "initrd"),
                    "-append", cmdline]


def nic_args(values: dict) -> list[str]:
    """qemu arguments for eth0 (and eth1 when the os.conf has it): user networking that reaches nothing,
    with the os.conf's MAC addresses. The os.conf is untrusted: a value that is not a unicast MAC is not
    passed to qemu (it could carry more options); the NIC gets a local address instead."""
    nics = []
    for n, iface in enumerate(("eth0", "eth1")):
        if n == 1 and not any(k.startswith("eth1_") for k in values):
            break
        mac = str(values.get(f"{iface}_mac_addr") or "")
        if not MAC.match(mac) or int(mac[:2], 16) & 1:
            mac = f"52:54:00:12:34:{56 + n:02x}"
        nics += ["-netdev", f"user,id=n{n},restrict=on", "-device", f"virtio-net-pci,netdev=n{n},mac={mac}"]
    return nics


def _qmp(sock_path: str, *commands: dict) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(sock_path)
        s.recv(65536)
        for cmd in ({"execute": "qmp_capabilities"}, *commands):
            s.sendall(json.dumps(cmd).encode() + b"\n")
            s.recv(65536)
            time.sleep(0.5)


def _sysrq(key: str) -> dict:
    return {"execute": "send-key", "arguments": {"keys": [{"type": "qcode", "data": k} for k in ("alt", "sysrq", key)]}}


def rehearse(image: str, osconf_text: str, flavor: str | None = None, script: str | None = None,
             timeout: float = 600, boot: str = "auto", progress: Callable[[Progress], None] | None = None,
             console: Callable[[str], None] | None = None, notify: Callable[[str], None] | None = None,
             cancel: threading.Event | None = None) -> RehearsalResult:
    """cancel: set it to stop the rehearsal (the guest is killed, everything made for it removed); it is looked at
    between steps and while the guest boots, not during the appliance's launch."""
    progress = progress or (lambda p: None)
    console = console or (lambda line: None)
    facts = preflight(image)
    values, _ = parse_text(osconf_text)
    try:
        password = decode_password(values["password"]) if values.get("password") else None
    except ValueError:
        password = None
    notes: list[str] = []
    if boot not in BOOT_MODES:
        raise RehearsalError(f"unknown boot mode {boot!r}: use one of {', '.join(BOOT_MODES)}")
    has_code = boot != "kernel" and bios_boot_code(facts)
    if boot == "bootloader" and not has_code:
        choose_boot(boot, has_code, None)  # refused before anything is launched or written
    with tempfile.TemporaryDirectory(prefix="wb-rehearse-") as tmp:
        overlay = make_overlay(facts, tmp)
        ov = ImageFacts(**{**facts.__dict__, "path": overlay, "format": "qcow2", "backing_chain": [image]})
        # One appliance for the whole rehearsal: it reaches the overlay through an NBD server, which the
        # booted guest shares while the appliance waits, so the read-back needs no second launch.
        progress(Progress("Installing the parser in a throwaway overlay", None))
        with _nbd_export(tmp, overlay) as sock, GuestSession(ov, progress, notify, writable_path=overlay,
                                                               nbd_socket=sock) as s:
            # 1. install the parser and the os.conf in the overlay; read the state before the boot
            report = s.open(pull="system")
            _stop_if(cancel)
            if report.os is None:
                raise RehearsalError("no Linux root file system was found in the image")
            plan = build_plan(ov, report, flavor, script, [], osconf_text)
            writer = _Writer(s, plan, ov)
            try:
                for w in plan.writes:
                    writer.apply(w)
                writer.write_manifest()
                writer.label(report.tree)
            finally:
                writer.close()
            progress(Progress("Reading the state before the boot", None))
            before = GuestTree()
            s.pull(before, notes, trees=PULLS)
            g = s.g
            mode, why = choose_boot(boot, has_code, serial_boot_config(g) if has_code else None)
            direct: list[str] = []
            if mode == "kernel":
                progress(Progress("Taking the image's kernel and initramfs out", None))
                kernel, direct = direct_boot(g, tmp, report.root_device, _grub_cmdline(before))
                notes.append(f"{why}; booted {kernel} (kernel and initramfs read from the image) with: {direct[-1]}")
            else:
                notes.append(f"booted with {why}")
            g.umount_all()
            g.sync()
            # 2. the simulation of the same parser on the same files
            progress(Progress("Simulating the same parser", None))
            parser = plan.writes[0].content.decode()
            sim = simulate(before, osconf_text, parser, plan.flavor, plan.first_mountpoint, plan.first_uuid,
                           plan.first_label)
            # 3. the boot, on the same disk; the appliance has nothing mounted meanwhile
            progress(Progress("Booting the image", None))
            _stop_if(cancel)
            console_lines, finished, hostname, boot_seconds = _boot(
                tmp, f"file=nbd+unix:///?socket={sock},format=raw,cache=unsafe", s.accel, direct, values, timeout,
                console, cancel=cancel)
            # 4. read back what the guest left on the disk, past the appliance's caches
            progress(Progress("Reading back what the boot changed", None))
            s.remount_readonly(report.mounts)
            after = GuestTree()
            s.pull(after, notes, trees=PULLS, files=["/var/log/os-conf.log"], probes=[])
            root, mounted = open_first_partition(g, ov, report.os.first_partition_mountpoint, readonly=True)
            conf_path = (root.rstrip("/") if root != "/" else "") + "/aliyun_custom_image/os.conf"
            removed = not g.exists(conf_path)
            if mounted:
                close_first_partition(g, root)
            accel = s.accel
        real_changes = tree_changes(before, after)
        first_display = plan.display_path(FIRST + "/aliyun_custom_image/os.conf")
        if removed:
            real_changes.append(Change(first_display, "delete", osconf_text, None))
        parser_log = after.read_text("/var/log/os-conf.log", 1 << 20) or ""
        real = ChangeSet(plan.flavor, 0 if "done; os.conf removed" in parser_log else 1, real_changes, [],
                         parser_log, boot_seconds, sim.first_partition_dir)
        mismatches = compare(real_changes, sim.changes, password)
        return RehearsalResult(real, sim, mismatches, removed, finished, parser_log, console_lines[-40:], hostname,
                               accel, boot_seconds, notes, mode)


def make_overlay(facts: ImageFacts, tmp: str) -> str:
    """A qcow2 overlay of the image in tmp (the image is only its read-only backing file); its path."""
    overlay = os.path.join(tmp, "overlay.qcow2")
    made = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", facts.format, "-b",
                           os.path.abspath(facts.path), overlay], capture_output=True, text=True)
    if made.returncode != 0:
        raise RehearsalError(f"the overlay could not be created: {made.stderr.strip()}")
    return overlay


@contextlib.contextmanager
def _nbd_export(tmp: str, overlay: str):
    """Serve OVERLAY on a Unix socket in TMP to two clients at once (the appliance and the booted guest);
    one server keeps the qcow2's metadata consistent for both. Yields the socket's path."""
    sock, pid_file = os.path.join(tmp, "nbd.sock"), os.path.join(tmp, "qemu-nbd.pid")
    # --fork: returns once the image is open and the socket listens, or fails saying why
    started = subprocess.run(["qemu-nbd", "--fork", "--pid-file", pid_file, "--format=qcow2", "--shared=2",
                              "--persistent", "--cache=unsafe", "--socket", sock, overlay],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if started.returncode != 0:
        raise RehearsalError("the overlay could not be served to the virtual machines: "
                             + (started.stderr.strip()[:2000] or "qemu-nbd did not start"))
    with open(pid_file) as f:
        pid = int(f.read().strip())
    try:
        yield sock
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _running(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise RehearsalError(STOPPED)


def _running(pid: int) -> bool:
    """Whether PID is alive (a zombie waiting for init to reap it is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _boot(tmp: str, drive: str, accel: str, direct: list[str], values: dict, timeout: float,
          console: Callable[[str], None], until_login: bool = False, cancel: threading.Event | None = None,
          vcpus: int | None = None) -> tuple[list[str], bool, str | None, float]:
    """Boot DRIVE (a qemu -drive value, without the interface) by its bootloader, or with the direct-boot arguments
    given, until the parser is done, then shut it down. until_login: done at the login prompt instead (a bare boot,
    for the benchmark)."""
    qmp = os.path.join(tmp, "qmp.sock")
    nics = nic_args(values)
    cmd = ["qemu-system-x86_64", "-machine", f"accel={'tcg' if accel == 'tcg' else 'kvm:tcg'}", "-m", "1024",
           "-smp", str(vcpus or VCPUS), "-cpu", "max", "-display", "none", "-monitor", "none", "-serial", "stdio",
           "-no-reboot", *direct, "-drive", f"{drive},if=virtio", "-qmp", f"unix:{qmp},server=on,wait=off", *nics]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    state = {"finished": False, "hostname": None, "done_at": None, "powerdown": None, "sysrq": None, "heard": started}
    buf = b""
    try:
        while True:
            now = time.monotonic()
            if proc.poll() is not None:
                break
            _stop_if(cancel)  # the finally below kills the guest
            if now - started > timeout:
                lines.append(f"(workbench: no poweroff within {timeout:.0f} s; the VM was stopped)")
                break
            if state["powerdown"] and not state["sysrq"] and now - max(state["powerdown"], state["heard"]) > QUIET:
                lines.append("(workbench: no ACPI shutdown; SysRq sync, remount read-only, power off)")
                try:
                    _qmp(qmp, *(_sysrq(k) for k in SYSRQ))
                except OSError:
                    pass
                state["sysrq"] = now
            if state["sysrq"] and now - state["sysrq"] > GRACE:
                lines.append("(workbench: the guest did not power off; the VM was stopped)")
                break
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                state["heard"] = now
                buf += chunk
                *complete, buf = buf.split(b"\n")
                for raw in complete:
                    line = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode("utf-8", "replace")).rstrip("\r")
                    lines.append(line)
                    console(line)
                    if DONE.search(line):
                        state["finished"] = True
                        state["done_at"] = state["done_at"] or now
                    m = LOGIN.match(line.strip())
                    if m:
                        state["hostname"] = m.group(1)
                # a login prompt waits for input: it has no line end
                m = LOGIN.match(buf.decode("utf-8", "replace").strip())
                if m and (state["done_at"] or until_login):
                    state["hostname"] = m.group(1)
                    state["done_at"] = state["done_at"] or now
            # once the parser is done: wait for the login prompt (or a while), then shut down
            if state["done_at"] and not state["powerdown"] and (state["hostname"] or now - state["done_at"] > 60):
                try:
                    _qmp(qmp, {"execute": "system_powerdown"})
                except OSError:
                    pass
                state["powerdown"] = now
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if not lines or (not state["finished"] and not any("login:" in ln for ln in lines) and proc.returncode not in (0,)
                     and len(lines) < 5):
        raise RehearsalError("qemu could not boot the image: " + (" / ".join(lines[-3:]) or "no console output"))
    return lines, state["finished"], state["hostname"], time.monotonic() - started


__all__ = ["RehearsalResult", "rehearse", "compare", "tree_changes"]
