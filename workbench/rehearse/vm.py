"""The rehearsal's virtual machines: the throwaway overlay, its NBD server, and the qemu guest on its console."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

from workbench.image.preflight import ImageFacts
from workbench.netnames import os_conf_macs
from workbench.rehearse.result import STOPPED, RehearsalError
from workbench.rehearse.stages import reached

DONE = re.compile(r"os-conf: (done; os\.conf removed|failed;.*|no aliyun_custom_image/os\.conf.*|the first partition .* "
                  r"was not found.*)")
LOGIN = re.compile(r"^(\S+) login:")
GRACE = 30  # seconds for a SysRq sync/remount/poweroff before a kill
QUIET = 10  # after the ACPI request, this long without console output means the guest ignores it
# the guest boots on the host's cores (the appliance waits meanwhile): under TCG 2 vCPUs boot a Debian 12 in ~37 s
# where 1 takes ~45 s
VCPUS = max(1, min(len(os.sched_getaffinity(0)), 4))
SYSRQ = ("s", "u", "o")  # sync, remount read-only, power off: no write is lost if the guest ignores ACPI
DISK_SLOT, NIC_SLOTS = 4, (5, 6)  # PCI slots: the first NIC is ens5 where udev names NICs by slot
# a boot that cannot go on by itself: stop it a few seconds after such a line rather than wait for the timeout
FATAL = re.compile(r"Kernel panic - not syncing|You are in emergency mode|Give root password for maintenance|"
                   r"Dropping to a shell|Entering emergency mode|You are in rescue mode")
FATAL_GRACE = 5
PROBE_END = re.compile(r"WB-PROBE end\b")
PROBE_WAIT = 75  # after the parser: how long the live network probe may take to report


def nic_args(values: dict) -> list[str]:
    """qemu arguments for eth0 (and eth1 when the os.conf has it): virtio-net as on ECS, in PCI slots 5 and 6,
    on user networking that reaches nothing, with the os.conf's MAC addresses. The os.conf is untrusted: a value
    that is not a unicast MAC is not passed to qemu (it could carry more options); the NIC gets a local address
    instead."""
    nics = []
    for n, mac in enumerate(os_conf_macs(values)):
        nics += ["-netdev", f"user,id=n{n},restrict=on", "-device",
                 f"virtio-net-pci,netdev=n{n},mac={mac},addr={NIC_SLOTS[n]:#x}"]
    return nics


def disk_args(drive: str, disk: str) -> list[str]:
    """qemu arguments for the system disk on the bus ECS gives it: virtio-blk, or NVMe (newer families)."""
    device = "nvme,drive=disk0,serial=wbrehearsal" if disk == "nvme" else "virtio-blk-pci,drive=disk0"
    return ["-drive", f"{drive},if=none,id=disk0", "-device", f"{device},addr={DISK_SLOT:#x}"]


def qmp(sock_path: str, *commands: dict) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(sock_path)
        s.recv(65536)
        for cmd in ({"execute": "qmp_capabilities"}, *commands):
            s.sendall(json.dumps(cmd).encode() + b"\n")
            s.recv(65536)
            time.sleep(0.5)


def sysrq(key: str) -> dict:
    return {"execute": "send-key", "arguments": {"keys": [{"type": "qcode", "data": k} for k in ("alt", "sysrq", key)]}}


def make_overlay(facts: ImageFacts, tmp: str) -> str:
    """A qcow2 overlay of the image in tmp (the image is only its read-only backing file); its path."""
    overlay = os.path.join(tmp, "overlay.qcow2")
    made = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", facts.format, "-b",
                           os.path.abspath(facts.path), overlay], capture_output=True, text=True)
    if made.returncode != 0:
        raise RehearsalError(f"the overlay could not be created: {made.stderr.strip()}")
    return overlay


@contextlib.contextmanager
def nbd_export(tmp: str, overlay: str):
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


def stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise RehearsalError(STOPPED)


def _running(pid: int) -> bool:
    """Whether PID is alive (a zombie waiting for init to reap it is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class BootOutcome:
    lines: list[str]
    finished: bool  # the parser said it was done
    hostname: str | None  # from the login prompt
    seconds: float
    booted: bool  # False: qemu could not run the image at all
    stage: str  # how far it got (stages.reached)
    timed_out: bool = False
    fatal: str | None = None  # the console line after which the boot could not go on (a panic, an emergency shell)
    probe_seconds: float | None = None  # from the parser's end to the probe's report


def boot(tmp: str, drive: str, accel: str, direct: list[str], values: dict, timeout: float,
         console: Callable[[str], None], until_login: bool = False, cancel: threading.Event | None = None,
         vcpus: int | None = None, disk: str = "virtio", firmware: list[str] | None = None,
         probe: bool = False) -> BootOutcome:
    """Boot DRIVE (a qemu -drive value, without the interface) on the disk bus given, by its bootloader (under the
    firmware given: SeaBIOS when none) or with the direct-boot arguments given, until the parser is done (and,
    with probe, the live network probe has reported), then shut it down. until_login: done at the login prompt
    instead (a bare boot, for the benchmark). A panic or an emergency shell ends it a few seconds later."""
    qmp_sock = os.path.join(tmp, "qmp.sock")
    nics = nic_args(values)
    cmd = ["qemu-system-x86_64", "-machine", f"accel={'tcg' if accel == 'tcg' else 'kvm:tcg'}", "-m", "1024",
           "-smp", str(vcpus or VCPUS), "-cpu", "max", "-display", "none", "-monitor", "none", "-serial", "stdio",
           "-no-reboot", *(firmware or []), *direct, *disk_args(drive, disk),
           "-qmp", f"unix:{qmp_sock},server=on,wait=off", *nics]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    state = {"finished": False, "hostname": None, "done_at": None, "powerdown": None, "sysrq": None, "heard": started,
             "probed": None, "fatal": None, "fatal_at": None, "timed_out": False}
    buf = b""
    try:
        while True:
            now = time.monotonic()
            if proc.poll() is not None:
                break
            stop_if(cancel)  # the finally below kills the guest
            if now - started > timeout:
                lines.append(f"(workbench: no poweroff within {timeout:.0f} s; the VM was stopped)")
                state["timed_out"] = True
                break
            if state["fatal_at"] and not state["powerdown"] and now - state["fatal_at"] > FATAL_GRACE:
                lines.append("(workbench: the boot cannot go on by itself; the VM was stopped)")
                break
            if state["powerdown"] and not state["sysrq"] and now - max(state["powerdown"], state["heard"]) > QUIET:
                lines.append("(workbench: no ACPI shutdown; SysRq sync, remount read-only, power off)")
                try:
                    qmp(qmp_sock, *(sysrq(k) for k in SYSRQ))
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
                    if probe and state["probed"] is None and PROBE_END.search(line):
                        state["probed"] = now
                    if state["fatal"] is None and FATAL.search(line):
                        state["fatal"], state["fatal_at"] = line, now
                # a login prompt waits for input: it has no line end
                m = LOGIN.match(buf.decode("utf-8", "replace").strip())
                if m and (state["done_at"] or until_login):
                    state["hostname"] = m.group(1)
                    state["done_at"] = state["done_at"] or now
            # once the parser is done: wait for the probe's report or the login prompt (or a while), then shut down
            if probe:  # the probe's report, then the login prompt (systemd heeds ACPI by then), or a while
                ready = (state["probed"] is not None and (state["hostname"] or now - state["probed"] > 10)) or \
                    (state["done_at"] and now - state["done_at"] > PROBE_WAIT)
            else:
                ready = state["hostname"] or (state["done_at"] and now - state["done_at"] > 60)
            if state["done_at"] and not state["powerdown"] and ready:
                try:
                    qmp(qmp_sock, {"execute": "system_powerdown"})
                except OSError:
                    pass
                state["powerdown"] = now
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    booted = bool(lines) and not (not state["finished"] and not any("login:" in ln for ln in lines)
                                  and proc.returncode not in (0,) and len(lines) < 5)
    probe_seconds = state["probed"] - state["done_at"] if state["probed"] and state["done_at"] else None
    return BootOutcome(lines, state["finished"], state["hostname"], time.monotonic() - started, booted,
                       reached(lines, state["finished"], state["hostname"]), state["timed_out"],
                       state["fatal"], probe_seconds)
