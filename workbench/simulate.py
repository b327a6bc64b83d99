"""Run a parser in a bubblewrap sandbox over a copy of the guest's files and report what it changed.

The sandbox holds the guest's pulled /etc and /var at their real paths (writable
copies, their links leading where they lead in the guest, never onto the host:
see sandbox.py), the first partition with the os.conf where the platform puts it,
and the host's /usr read-only for the interpreter and tools. It has no network,
and runs under memory, CPU-time, file-size, output and time limits; a limit that
was reached makes the result untrusted (exit_code None, the reason in the log).
Commands whose effects reach outside those files (hostname, ip, systemctl,
chpasswd, ssh-keygen, mount, blkid...) are recording stubs that make the
equivalent file change where there is one. The image is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field

from workbench import sandbox
from workbench.changes import Change
from workbench.errors import WorkbenchError
from workbench.flavors import all_stubs
from workbench.image.tree import GuestTree
from workbench.netnames import KERNEL_NAMES, expected_names, nics_at_boot, os_conf_macs
from workbench.osconf import parse_text
from workbench.inits import INSTALL_PATH, STYLES, udev_at_boot
from workbench.parsers import ParserScript
from workbench.paths import assets_dir
from workbench.sandbox import SHADOW, Entry as _Entry, host_etc_binds, host_layout as _host_layout, host_path

SCHEMA = "workbench.simulate/1"
TIMEOUT = 20
# commands with effects outside the files, whatever the flavour; each flavour adds its stack's (flavors.py)
STUB_COMMANDS = tuple(dict.fromkeys(("hostname", "blkid", "findfs", "mount", "umount", "ssh-keygen", "ip", "systemctl", "service",
                 "resolvectl", "udevadm", "restorecon", "rc-service", "rc-update", "chkconfig", "update-rc.d",
                 "sysctl", "modprobe", "reboot", "shutdown", "poweroff", "dhclient", "ifconfig", "route", "hwclock",
                 "setenforce", "sshd", "invoke-rc.d", *all_stubs())))
MAX_TEXT = 1 << 20
WITH_UDEVD = "with-udevd"  # assets/stubs: starts a stand-in udev daemon, then the parser


class SimulationError(WorkbenchError):
    """The sandbox could not run (bubblewrap missing, no Linux root...)."""

    title = "The simulation could not run"


@dataclass
class ChangeSet:
    flavor: str
    exit_code: int | None
    changes: list[Change] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    log: str = ""
    seconds: float = 0.0
    first_partition_dir: str = ""
    basis: tuple = ()
    """What it was simulated for (the session's os.conf and parser), so that a stale one is not reported."""

    def change(self, path: str) -> Change | None:
        return next((c for c in self.changes if c.path == path), None)

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "flavor": self.flavor, "exit_code": self.exit_code,
                "changes": [c.to_json() for c in self.changes],
                "commands": [{"argv": argv} for argv in self.commands], "log": self.log}


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    if b"\0" in data[:8192]:
        return f"<binary, {len(data)} bytes>"
    return data[:MAX_TEXT].decode("utf-8", "replace")


def _read_records(path: str) -> list[list[str]]:
    try:
        data = open(path, "rb").read()
    except OSError:
        return []
    out, at = [], 0
    while at < len(data):
        nl = data.find(b"\n", at)
        if nl < 0 or not data[at:nl].isdigit():
            break
        count, at = int(data[at:nl]), nl + 1
        argv = []
        for _ in range(count):
            end = data.find(b"\0", at)
            if end < 0:
                break
            argv.append(data[at:end].decode("utf-8", "replace"))
            at = end + 1
        out.append(argv)
    return out


BUSYBOX_APPLETS = ("sh", "sed", "grep", "tr", "cut", "od", "base64", "readlink", "mkdir", "mv", "rm", "cat", "date",
                   "chmod", "ln", "rmdir", "cp", "printf", "echo", "ls", "head", "tail", "wc", "sort", "basename",
                   "dirname", "test", "[", "sleep", "touch", "id", "env", "awk", "find", "xargs", "stat")


def simulate(tree: GuestTree, osconf_text: str | None, script: ParserScript, first_mountpoint: str | None,
             action: str = "start", busybox: bool = False, nic_names: tuple[str, str] = KERNEL_NAMES,
             nics: list[tuple[str, str]] | None = None) -> ChangeSet:
    """Run script (the exact text that would be injected, parsers.script_for) against a copy of the guest's files,
    started as its init style starts it.

    busybox: run it with busybox's sh and applets instead of the host's shell and tools, as a
    busybox-only image would (the stubs still stand in for commands with outside effects).
    nic_names: what the image calls its first and second NIC; the sandbox's /sys/class/net has them (one per
    os.conf interface), with the os.conf's MAC addresses (netnames.expected_names says which names the image will
    use; where a udev daemon runs at boot, the parser's rule from an earlier boot names them: nics_at_boot); nics,
    when given, are the NICs instead, as (name, MAC).
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SimulationError("bubblewrap (bwrap) is not installed; it runs the simulation (apt install bubblewrap)")
    if not tree.exists("/etc"):
        raise SimulationError("the guest has no /etc to simulate the parser on (no Linux root was found)")
    started = time.monotonic()
    own = (first_mountpoint.rstrip("/") + "/aliyun_custom_image",) if first_mountpoint else ()
    state, shadow = sandbox.guest_state(tree, own)
    parser_path, parser_outside = sandbox.parser_place(tree, INSTALL_PATH, own)
    (shadow if parser_outside else state)[parser_path] = _Entry("file", script.text.encode(), mode=0o755)
    flavor, first_uuid, first_label = script.name, script.first_uuid, script.first_label
    interpreter = STYLES[script.init].interpreter if script.init in STYLES else None
    first_dir = first_mountpoint or "[first partition]"
    conf_rel = "/aliyun_custom_image/os.conf"
    with tempfile.TemporaryDirectory(prefix="wb-sim-") as tmp:
        guest, first, outside, record, stubs = (os.path.join(tmp, n) for n in ("guest", "first", "outside", "record",
                                                                                "stubs"))
        for d in (guest, first + "/aliyun_custom_image", outside, record, stubs):
            os.makedirs(d)
        prints = sandbox.write_tree(guest, state, frozenset({parser_path}))
        outside_prints = sandbox.write_tree(outside, shadow, frozenset({parser_path}))
        first_state = {"/aliyun_custom_image": _Entry("dir", mode=0o755)}
        if osconf_text is not None:
            first_state[conf_rel] = _Entry("file", osconf_text.encode(), mode=0o644)
        first_prints = sandbox.write_tree(first, first_state)
        _install_stubs(stubs, busybox)
        look, before = _like_the_boot(tmp, stubs, tree, script, osconf_text, nic_names, nics)
        cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1", *_host_layout(),
               *sandbox.private_mounts(bwrap), "--bind", guest + "/etc", "/etc", "--bind", guest + "/var", "/var",
               "--bind", outside, SHADOW, *look]
        cmd += host_etc_binds(tmp)
        cmd += ["--bind", first, "/.wb-first"]
        if first_mountpoint:
            mp = first_mountpoint.rstrip("/")
            cmd += ["--bind", first + "/aliyun_custom_image", f"{mp}/aliyun_custom_image"]
        cmd += ["--ro-bind", stubs, "/usr/local/sbin", "--bind", record, "/.wb-record",
                "--clearenv", "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--setenv", "LANG", "C", "--setenv", "HOME", "/root",
                "--setenv", "WB_FIRST_UUID", first_uuid, "--setenv", "WB_FIRST_LABEL", first_label, "--chdir", "/"]
        # as init would start it: through its #! line, or the init style's stand-in for the program that line
        # names (busybox mode: busybox's sh whatever the line says)
        run_path = SHADOW + parser_path if parser_outside else parser_path
        start = ([f"/usr/local/sbin/{interpreter}"] if interpreter else []) + [run_path, action]
        cmd += before + (["/usr/local/sbin/sh", *start] if busybox else start)
        run = sandbox.run_limited(cmd, TIMEOUT, {"PATH": "/usr/bin:/bin", "LANG": "C"})
        exit_code, output = run.exit_code, run.output
        if exit_code is not None and exit_code > 125 and "bwrap:" in output:
            raise SimulationError(f"the sandbox could not start: {output.strip().splitlines()[-1]}")
        stopped = run.stopped or sandbox.oversized([guest, first, outside, record])
        if stopped:  # a limit ended the run or may have spoiled it: its result is not the parser's
            exit_code = None
            output += f"\n(workbench: {stopped}; the simulation's result is not trusted)"
        changes = _diff(guest, state, prints, "")
        changes += _diff(outside, shadow, outside_prints, "")
        changes += _diff(first, first_state, first_prints, first_dir.rstrip("/") if first_dir != "/" else "")
        commands = _read_records(os.path.join(record, "commands"))
    # the parser itself is the injection, not its effect; host files bound in are mount points
    changes = [c for c in changes if c.path != parser_path and not host_path(c.path)]
    changes.sort(key=lambda c: c.path)
    return ChangeSet(flavor, exit_code, changes, commands, output[-(64 << 10):], time.monotonic() - started,
                     first_dir)


def _like_the_boot(tmp: str, stubs: str, tree: GuestTree, script: ParserScript, osconf_text: str | None,
                   nic_names: tuple[str, str], nics: list[tuple[str, str]] | None) -> tuple[list[str], list[str]]:
    """What makes the sandbox look like the boot where the parser looks: bwrap's arguments (the NICs in
    /sys/class/net, systemd's directory under systemd) and what starts before the parser. The parser asks whether a
    udev daemon runs (udev_runs): under systemd the directory says so, asked first; elsewhere a process called udevd
    runs beside it where the image's boot starts one (inits.udev_at_boot)."""
    udev = udev_at_boot(script.init, tree)
    if nics is None:  # as the rehearsal's qemu (and ECS) gives them: the os.conf's MACs
        values = parse_text(osconf_text)[0] if osconf_text else {}
        nics = nics_at_boot(nic_names, os_conf_macs(values), tree, udev)
    look = ["--bind", _fake_sys_net(tmp, nics), "/sys/class/net"]
    if script.init == "systemd":  # what every program takes for "systemd runs"
        look += ["--dir", "/run/systemd/system"]
    if not udev or script.init == "systemd":
        return look, []
    sleep = shutil.which("sleep", path="/usr/bin:/bin")
    if sleep is None:
        raise SimulationError("the host has no sleep program, which stands in for the image's udev daemon")
    os.symlink(sleep, os.path.join(stubs, "udevd"))  # the host's sleep, called udevd while it runs
    shutil.copyfile(assets_dir() / "stubs" / WITH_UDEVD, os.path.join(stubs, WITH_UDEVD))
    os.chmod(os.path.join(stubs, WITH_UDEVD), 0o755)
    return look, [f"/usr/local/sbin/{WITH_UDEVD}"]


def _fake_sys_net(tmp: str, given: list[tuple[str, str]]) -> str:
    """A /sys/class/net for the sandbox: the loopback and the NICs given, as (name, MAC)."""
    root = os.path.join(tmp, "sys-class-net")
    nics = [("lo", "00:00:00:00:00:00", False)] + [(name, mac, True) for name, mac in given]
    for name, mac, device in nics:
        os.makedirs(os.path.join(root, name, "device") if device else os.path.join(root, name))
        for attr, value in (("address", mac), ("operstate", "down"), ("type", "772" if not device else "1")):
            with open(os.path.join(root, name, attr), "w") as f:
                f.write(value + "\n")
    return root


def _install_stubs(stubs: str, busybox: bool = False) -> None:
    src = assets_dir() / "stubs"
    if busybox:
        bb = shutil.which("busybox")
        if bb is None:
            raise SimulationError("busybox is not installed")
        for applet in BUSYBOX_APPLETS:
            os.symlink(bb, os.path.join(stubs, applet))
    record = (src / "record").read_bytes()
    for name in STUB_COMMANDS:
        with open(os.path.join(stubs, name), "wb") as f:
            f.write(record)
        os.chmod(os.path.join(stubs, name), 0o755)
    for name in ("chpasswd", "openrc-run"):  # stand-ins that act, not recording stubs
        shutil.copyfile(src / name, os.path.join(stubs, name))
        os.chmod(os.path.join(stubs, name), 0o755)


def _diff(root: str, state: dict[str, _Entry], prints: dict[str, tuple], prefix: str) -> list[Change]:
    """Compare the sandbox directory with what was written there."""
    changes: list[Change] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            host = os.path.join(dirpath, name)
            path = "/" + os.path.relpath(host, root)
            seen.add(path)
            st = os.lstat(host)
            before = state.get(path)
            fp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                if before is None:
                    changes.append(Change(prefix + path, "create", None, None, "dir"))
                continue
            if stat.S_ISLNK(st.st_mode):
                after = "-> " + os.readlink(host)
                if before is None:
                    changes.append(Change(prefix + path, "create", None, after, "link"))
                elif before.kind != "link" or (before.written or before.target) != after[3:]:
                    changes.append(Change(prefix + path, "modify", _describe(before), after, "link"))
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if before is not None and prints.get(path) == fp:
                continue  # untouched
            with open(host, "rb") as f:
                data = f.read(MAX_TEXT + 1)
            written_mode = stat.S_IMODE(prints[path][3]) if path in prints else None
            if before is None:
                changes.append(Change(prefix + path, "create", None, _text(data)))
            elif before.kind != "file" or before.data != data or written_mode != stat.S_IMODE(st.st_mode):
                changes.append(Change(prefix + path, "modify", _describe(before), _text(data)))
    for path, e in state.items():
        if path not in seen and path in prints and e.kind != "dir":
            changes.append(Change(prefix + path, "delete", _describe(e), None, e.kind))
    return changes


def _describe(e: _Entry) -> str | None:
    return "-> " + e.target if e.kind == "link" else _text(e.data) if e.kind == "file" else None


# -- masking for text output and the TUI -------------------------------------------------------------
_PASSWORD_LINE = re.compile(r"^(password=)(\"?)([^\"\n]*)(\"?)$", re.M)
_SHADOW_HASH = re.compile(r"^([^:\n]+):(\$[^:\n]+):", re.M)


def mask(path: str, text: str | None) -> str | None:
    """Hide os.conf passwords and password hashes (the TUI and text output never show them)."""
    if text is None:
        return None
    if path.endswith("os.conf") or path.endswith("applied.conf"):
        text = _PASSWORD_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}********{m.group(4)}", text)
    if path.endswith(("/shadow", "/passwd")):
        text = _SHADOW_HASH.sub(lambda m: f"{m.group(1)}:{m.group(2)[:3]}…(hash hidden):", text)
    return text


def simulate_image(facts, report, osconf_text: str | None, script: ParserScript) -> ChangeSet:
    """The simulation for one reviewed image: its parser (parsers.script_for) on its files."""
    if report is None or report.os is None:
        raise SimulationError("no Linux root file system was found in the image, so there is nothing to run "
                              "the parser on")
    cmdline = report.boot.cmdline if report.boot is not None else ""
    return simulate(report.tree, osconf_text, script, report.os.first_partition_mountpoint,
                    nic_names=expected_names(report.tree, cmdline))
