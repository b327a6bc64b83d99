"""The rehearsal's virtual machines: the throwaway overlay, its NBD server, and the qemu guest on its console."""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

from workbench.image.preflight import ImageFacts
from workbench.interrupt import deferred
from workbench.netnames import os_conf_macs
from workbench.rehearse.ecsnet import ecs_network
from workbench.rehearse.live import CHANNEL, MARK, MAX_BYTES, parse_probe
from workbench.rehearse.monitor import qmp, sysrq_power_off, vm_status
from workbench.rehearse.result import STOPPED, RehearsalError
from workbench.rehearse.stages import reached

DONE = re.compile(r"os-conf: (done; os\.conf removed|failed;.*|no aliyun_custom_image/os\.conf.*|the first partition .* "
                  r"was not found.*)")
LOGIN = re.compile(r"^(\S+) login:")
GRACE = 30  # seconds for a SysRq sync/remount/poweroff before a kill
QUIET = 3  # after the ACPI request, this long without console output means the guest ignores it (minbase images
# without logind or acpid do; a guest that heeds it prints its first "Stopping" line well within this). Where the
# probe found none of them running, no request is made: SysRq at once (NO_HANDLER)
# the guest boots on the host's cores (the appliance waits meanwhile): under TCG on an idle 2-core host 2 vCPUs boot a
# Debian 12 in ~37 s where 1 takes ~45 s; two guests side by side boot faster with one each (42-47 s, against 49-57 s
# with two each): VCPUS_ENV says how many when several rehearsals share the host (the test suite's workers do)
VCPUS = max(1, min(len(os.sched_getaffinity(0)), 4))
VCPUS_ENV = "WORKBENCH_REHEARSAL_VCPUS"


def guest_vcpus() -> int:
    """The guest's vCPUs: $WORKBENCH_REHEARSAL_VCPUS (1-8) when set, else the host's cores, at most 4."""
    given = os.environ.get(VCPUS_ENV, "").strip()
    if not given:
        return VCPUS
    if not given.isdigit() or not 1 <= int(given) <= 8:
        from workbench.errors import UsageError

        raise UsageError(f"{VCPUS_ENV} must be a whole number of vCPUs from 1 to 8")
    return int(given)
NO_HANDLER = ("(workbench: nothing in the guest acts on the ACPI power button (the probe found no logind, elogind "
              "or acpid running); SysRq sync, remount read-only, power off)")
DISK_SLOT, NIC_SLOTS, CHANNEL_SLOT = 4, (5, 6), 7  # PCI slots: the first NIC is ens5 where udev names NICs by slot
MAX_LINE = 4096  # characters of a console line kept
MAX_CONSOLE_LINES, KEEP_FIRST = 20000, 2000
# a boot that cannot go on by itself: stop it a few seconds after such a line rather than wait for the timeout
FATAL = re.compile(r"Kernel panic - not syncing|You are in emergency mode|Give root password for maintenance|"
                   r"Dropping to a shell|Entering emergency mode|You are in rescue mode")
FATAL_GRACE = 5
PROBE_WAIT = 75  # after the parser: how long the live network probe may take to report
# after the login prompt: how long a parser that never said it was done (nothing started it, or it hangs) is waited
# for, rather than the whole timeout (it runs before the network, so well before the prompt where it runs at all)
UNFINISHED_WAIT = 90
STALL = 30  # seconds of console silence after which qemu is asked whether the guest stopped on an I/O error


def isolation() -> list[str] | None:
    """The command prefix that runs qemu in a network namespace of its own (bubblewrap: only a loopback, nothing
    listening on it), so that its user network reaches nothing on this host or beyond even unrestricted; None
    without bubblewrap (the simulation needs it too)."""
    bwrap = shutil.which("bwrap")
    return [bwrap, "--dev-bind", "/", "/", "--unshare-net", "--die-with-parent", "--"] if bwrap else None


def nic_args(values: dict, isolated: bool = False) -> list[str]:
    """qemu arguments for eth0 (and eth1 when the os.conf has it): virtio-net as on ECS, in PCI slots 5 and 6, with
    the os.conf's MAC addresses, each on a user network made like ECS's from the os.conf (ecsnet: its subnet, its
    gateway, DHCP answering with the instance's address), or qemu's default one when the os.conf's values cannot
    make one. No IPv6 (ECS's VPC sends no router advertisements by default). isolated: qemu runs in a network
    namespace of its own (isolation()), so the network need not be restricted; restricted, qemu's DHCP server
    announces no router and no nameserver. The os.conf is untrusted: only parsed addresses and unicast MACs reach
    qemu's option strings."""
    nics = []
    for n, mac in enumerate(os_conf_macs(values)):
        net, _ = ecs_network(values, f"eth{n}")
        options = f",{net.options()}" if net else ""
        nics += ["-netdev", f"user,id=n{n},restrict={'off' if isolated else 'on'},ipv6=off{options}", "-device",
                 f"virtio-net-pci,netdev=n{n},mac={mac},addr={NIC_SLOTS[n]:#x}"]
    return nics


def network_notes(values: dict, isolated: bool | None = None) -> list[str]:
    """What the rehearsal's network is, per NIC, and where it differs from ECS's."""
    isolated = isolation() is not None if isolated is None else isolated
    notes = []
    for n, _ in enumerate(os_conf_macs(values)):
        net, more = ecs_network(values, f"eth{n}")
        if net:
            notes.append(f"eth{n} on a network like ECS's: {net.net}, gateway {net.host}, DHCP hands out "
                         f"{net.lease} (the os.conf's address)")
        else:
            notes.append(f"eth{n} on qemu's default user network (10.0.2.0/24, DHCP hands out 10.0.2.15)")
        notes += more
    if not isolated:
        notes.append("bubblewrap is missing, so qemu's network is restricted: its DHCP server announces no router "
                     "and no nameserver (ECS's does)")
    return notes


def disk_args(drive: str, disk: str) -> list[str]:
    """qemu arguments for the system disk on the bus ECS gives it: virtio-blk, or NVMe (newer families)."""
    device = "nvme,drive=disk0,serial=wbrehearsal" if disk == "nvme" else "virtio-blk-pci,drive=disk0"
    return ["-drive", f"{drive},if=none,id=disk0", "-device", f"{device},addr={DISK_SLOT:#x}"]


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
    probe_data: bytes = b""  # what the probe's channel carried (at most live.MAX_BYTES + 1 bytes)


class Channel:
    """The probe's own channel: a virtio-serial port in the guest (named live.CHANNEL, never a console), a Unix
    socket here that qemu connects to when it starts. What comes through is kept up to MAX_BYTES + 1 bytes (one
    more than a report may have, so that the parser refuses it), then the socket is closed."""

    def __init__(self, tmp: str, token: str):
        self.path = os.path.join(tmp, "probe.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.server.setblocking(False)
        self.conn: socket.socket | None = None
        self.data = b""
        self.end = re.compile(rb"(^|\n)" + re.escape(f"{MARK} {token} end".encode()) + rb"\s*\n")

    def args(self) -> list[str]:
        return ["-device", f"virtio-serial-pci,id=wbprobe,addr={CHANNEL_SLOT:#x}",
                "-chardev", f"socket,id=wbprobe0,path={self.path}",
                "-device", f"virtserialport,bus=wbprobe.0,chardev=wbprobe0,name={CHANNEL}"]

    def fds(self) -> list[socket.socket]:
        if self.conn is None:
            return [self.server] if self.server.fileno() >= 0 else []
        return [self.conn] if self.conn.fileno() >= 0 else []

    def read(self, ready: list) -> None:
        if self.conn is None and self.server in ready:
            self.conn, _ = self.server.accept()  # the first connection only: qemu's
            self.server.close()
        elif self.conn is not None and self.conn in ready:
            chunk = self.conn.recv(65536)
            self.data += chunk[:MAX_BYTES + 1 - len(self.data)]
            if not chunk or len(self.data) > MAX_BYTES:
                self.conn.close()

    def reported(self) -> bool:
        """The report's end line came, or the channel carried more than a report can be."""
        return len(self.data) > MAX_BYTES or bool(self.end.search(self.data))

    def close(self) -> None:
        for s in (self.conn, self.server):
            if s is not None:
                s.close()


class Console:
    """The serial console's lines as they come: escape sequences dropped, each line cut at MAX_LINE characters,
    the oldest dropped past MAX_CONSOLE_LINES (the first KEEP_FIRST kept: where a failed boot says why)."""

    def __init__(self, sink: Callable[[str], None]):
        self.lines: list[str] = []
        self.partial = b""
        self.sink = sink

    def feed(self, chunk: bytes) -> list[str]:
        self.partial += chunk
        *complete, self.partial = self.partial.split(b"\n")
        if len(self.partial) > MAX_LINE:
            complete.append(self.partial)
            self.partial = b""
        new = []
        for raw in complete:
            line = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw[:MAX_LINE].decode("utf-8", "replace")).rstrip("\r")
            new.append(line)
            self.sink(line)
        self.lines += new
        if len(self.lines) > MAX_CONSOLE_LINES:
            del self.lines[KEEP_FIRST:KEEP_FIRST + len(self.lines) - MAX_CONSOLE_LINES]
        return new

    def prompt(self) -> str:
        """The unfinished last line (a login prompt waits for input: it has no line end)."""
        return self.partial.decode("utf-8", "replace").strip()


def boot(tmp: str, drive: str, accel: str, direct: list[str], values: dict, timeout: float,
         console: Callable[[str], None], until_login: bool = False, cancel: threading.Event | None = None,
         vcpus: int | None = None, disk: str = "virtio", firmware: list[str] | None = None,
         probe: str = "") -> BootOutcome:
    """Boot DRIVE (a qemu -drive value, without the interface) on the disk bus given, by its bootloader (under the
    firmware given: SeaBIOS when none) or with the direct-boot arguments given, until the parser is done (and,
    with probe, this run's token, the live network probe has reported on its channel), then shut it down: by ACPI
    (then SysRq when the guest ignores it), or by SysRq at once when the probe found nothing that acts on the power
    button.
    until_login: done at the login prompt instead (a bare boot, for the benchmark). A panic or an emergency shell
    ends it a few seconds later. The machine has only the devices asked for (-nodefaults: no floppy, CD-ROM,
    parallel port or VGA: the rehearsal watches the serial console, and their drivers cost a TCG boot 1-2 s)."""
    qmp_sock = os.path.join(tmp, "qmp.sock")
    channel = Channel(tmp, probe) if probe else None
    jail = isolation()
    cmd = [*(jail or []), "qemu-system-x86_64", "-machine", f"accel={'tcg' if accel == 'tcg' else 'kvm:tcg'}",
           "-nodefaults", "-m", "1024", "-smp", str(vcpus or guest_vcpus()), "-cpu", "max", "-display", "none",
           "-serial", "stdio", "-no-reboot", *(firmware or []), *direct, *disk_args(drive, disk),
           "-qmp", f"unix:{qmp_sock},server=on,wait=off", *nic_args(values, jail is not None),
           *(channel.args() if channel else [])]
    started = time.monotonic()
    proc = None
    out = Console(console)
    lines = out.lines
    state = {"finished": False, "hostname": None, "done_at": None, "powerdown": None, "sysrq": None, "heard": started,
             "probed": None, "fatal": None, "fatal_at": None, "timed_out": False, "login_at": None, "settled_at": None}
    try:
        with deferred():  # a ^C or SIGTERM while qemu starts waits until it is known here: the finally stops it
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while True:
            now = time.monotonic()
            if proc.poll() is not None:
                break
            stop_if(cancel)  # the finally below kills the guest
            stop = _stop_or_escalate(state, now, started, timeout, qmp_sock, lines)
            if stop:
                lines.append(stop)
                break
            ready, _, _ = select.select([proc.stdout, *(channel.fds() if channel else [])], [], [], 0.5)
            if channel:
                channel.read(ready)
                if state["probed"] is None and channel.reported():
                    state["probed"] = now
                    report = parse_probe(channel.data, probe)
                    # nothing would act on an ACPI request: shut down by SysRq at once, not QUIET seconds later
                    state["no_acpi"] = bool(report and report.complete and report.power == "none")
            if proc.stdout in ready:
                state["heard"] = now
                for line in out.feed(os.read(proc.stdout.fileno(), 65536)):
                    _watch(state, line, now)
                m = LOGIN.match(out.prompt())
                state["login_at"] = state["login_at"] or (now if m else None)
                if m and (state["done_at"] or until_login):
                    state["hostname"] = m.group(1)
                    state["done_at"] = state["done_at"] or now
            if not state["done_at"] and not state["settled_at"] and _settled(state, now):
                lines.append("(workbench: the system is up (a login prompt, or the probe's report, which runs after "
                             "the parser) and the parser did not say it was done; the VM is shut down)")
                state["settled_at"] = now
            _shut_down_when_ready(state, now, bool(probe), qmp_sock, lines)
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if channel:
            channel.close()
    booted = bool(lines) and not (not state["finished"] and not any("login:" in ln for ln in lines)
                                  and proc.returncode not in (0,) and len(lines) < 5)
    probe_seconds = state["probed"] - state["done_at"] if state["probed"] and state["done_at"] else None
    return BootOutcome(lines, state["finished"], state["hostname"], time.monotonic() - started, booted,
                       reached(lines, state["finished"], state["hostname"]), state["timed_out"],
                       state["fatal"], probe_seconds, channel.data if channel else b"")


def _settled(state: dict, now: float) -> bool:
    """The system is up without the parser having said it was done: UNFINISHED_WAIT after a login prompt, or 10 s
    after the probe's report (which is ordered after the parser)."""
    return bool((state["login_at"] and now - state["login_at"] > UNFINISHED_WAIT)
                or (state["probed"] and now - state["probed"] > 10))


def _watch(state: dict, line: str, now: float) -> None:
    """What a console line says: the parser is done, a login prompt's host name, a boot that cannot go on."""
    if DONE.search(line):
        state["finished"] = True
        state["done_at"] = state["done_at"] or now
    m = LOGIN.match(line.strip())
    if m:
        state["hostname"] = m.group(1)
        state["login_at"] = state["login_at"] or now
    if state["fatal"] is None and FATAL.search(line):
        state["fatal"], state["fatal_at"] = line, now


def _shut_down_when_ready(state: dict, now: float, probe: bool, qmp_sock: str, lines: list[str]) -> None:
    """Once the parser is done: after the probe's report or the login prompt (or a while), shut the guest down, by
    ACPI, or by SysRq at once when the probe found nothing that acts on the power button."""
    end = state["done_at"] or state["settled_at"]
    if not end or state["powerdown"]:
        return
    if probe:  # the probe's report, then the login prompt (systemd heeds ACPI by then), or a while
        ready = (state["probed"] is not None and (state["hostname"] or now - state["probed"] > 10)) \
            or now - end > PROBE_WAIT or state["settled_at"]
    else:
        ready = state["hostname"] or now - end > 60 or state["settled_at"]
    if not ready:
        return
    if state.get("no_acpi"):
        _sysrq_poweroff(state, now, qmp_sock, lines, NO_HANDLER)
    else:
        try:
            qmp(qmp_sock, {"execute": "system_powerdown"})
        except OSError:
            pass
    state["powerdown"] = now


def _sysrq_poweroff(state: dict, now: float, qmp_sock: str, lines: list[str], why: str) -> None:
    sysrq_power_off(qmp_sock)
    state["sysrq"] = now
    lines.append(why)


def _stop_or_escalate(state: dict, now: float, started: float, timeout: float, qmp_sock: str,
                      lines: list[str]) -> str | None:
    """Why the guest must be stopped now (a line for the console), or None; a guest that ignored the ACPI request
    gets SysRq sync, remount and power-off first."""
    if now - started > timeout:
        state["timed_out"] = True
        return f"(workbench: no poweroff within {timeout:.0f} s; the VM was stopped)"
    if state["fatal_at"] and not state["powerdown"] and now - state["fatal_at"] > FATAL_GRACE:
        return "(workbench: the boot cannot go on by itself; the VM was stopped)"
    if state["powerdown"] and not state["sysrq"] and now - max(state["powerdown"], state["heard"]) > QUIET:
        _sysrq_poweroff(state, now, qmp_sock, lines, "(workbench: no ACPI shutdown; SysRq sync, remount read-only, "
                                                     "power off)")
    if state["sysrq"] and now - state["sysrq"] > GRACE:
        return "(workbench: the guest did not power off; the VM was stopped)"
    if now - state["heard"] > STALL and now - state.get("status_at", 0) > STALL:
        state["status_at"] = now
        if vm_status(qmp_sock) == "io-error":
            return ("(workbench: the virtual machine stopped on an I/O error writing its throwaway overlay: is the "
                    "disk that holds the temporary directory full?)")
    return None
