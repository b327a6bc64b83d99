"""Run a parser in a bubblewrap sandbox over a copy of the guest's files and report what it changed.

The sandbox holds the guest's pulled /etc and /var at their real paths (writable
copies), the first partition with the os.conf where the platform puts it, and
the host's /usr read-only for the interpreter and tools. It has no network.
Commands whose effects reach outside those files (hostname, ip, systemctl,
chpasswd, ssh-keygen, mount, blkid...) are recording stubs that make the
equivalent file change where there is one. The image is never touched.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from workbench.changes import Change
from workbench.errors import WorkbenchError
from workbench.flavors import all_stubs
from workbench.image.tree import GuestTree
from workbench.netnames import KERNEL_NAMES, expected_names, os_conf_macs
from workbench.osconf import parse_text
from workbench.inits import INSTALL_PATH, STYLES
from workbench.parsers import ParserScript
from workbench.paths import assets_dir

SCHEMA = "workbench.simulate/1"
TIMEOUT = 20
MATERIALIZE = ("/etc", "/var/lib", "/var/log", "/var/spool")  # guest trees copied into the sandbox
SKIP = ("/var/lib/rpm/", "/var/lib/dpkg/", "/usr/lib/sysimage/", "/lib/apk/", "/var/lib/apk/")
# What the host's dynamic loader and libc read from /etc: always the host's (or nothing), never the guest's,
# so that no guest file can make a host binary load guest code (ld.so.preload) or read guest config as its own.
HOST_ETC = ("/etc/ld.so.preload", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ld.so.nohwcap",
            "/etc/localtime", "/etc/alternatives", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
            "/etc/suid-debug")
HOST_ETC_DIRS = ("/etc/ld.so.conf.d", "/etc/alternatives")
# commands with effects outside the files, whatever the flavour; each flavour adds its stack's (flavors.py)
STUB_COMMANDS = tuple(dict.fromkeys(("hostname", "blkid", "findfs", "mount", "umount", "ssh-keygen", "ip", "systemctl", "service",
                 "resolvectl", "udevadm", "restorecon", "rc-service", "rc-update", "chkconfig", "update-rc.d",
                 "sysctl", "modprobe", "reboot", "shutdown", "poweroff", "dhclient", "ifconfig", "route", "hwclock",
                 "setenforce", "sshd", "invoke-rc.d", *all_stubs())))
MAX_TEXT = 1 << 20


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


@dataclass
class _Entry:
    kind: str  # file | dir | link
    data: bytes = b""
    target: str = ""
    mode: int = 0o644


def _host_layout() -> list[str]:
    """bwrap arguments that give the sandbox the host's /usr and its /bin, /lib... links or dirs."""
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return args


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    if b"\0" in data[:8192]:
        return f"<binary, {len(data)} bytes>"
    return data[:MAX_TEXT].decode("utf-8", "replace")


def _initial_state(tree: GuestTree) -> dict[str, _Entry]:
    """Guest paths under MATERIALIZE as the sandbox starts them."""
    state: dict[str, _Entry] = {}
    for top in MATERIALIZE:
        for node in tree.walk(top):
            if node.path.startswith(SKIP) or node.path in HOST_ETC or node.path.startswith(
                    tuple(h + "/" for h in HOST_ETC)):
                continue
            if node.kind == "dir":
                state[node.path] = _Entry("dir", mode=node.mode or 0o755)
            elif node.kind == "link":
                state[node.path] = _Entry("link", target=node.target or "")
            elif node.kind == "file":
                state[node.path] = _Entry("file", node.data or b"", mode=node.mode)
    for d in ("/etc", "/var", "/var/lib", "/var/log", "/var/tmp"):
        state.setdefault(d, _Entry("dir", mode=0o755))
    return state


def _resolve(state: dict[str, _Entry], path: str) -> str:
    """path with symlinked directories (e.g. /etc/init.d -> rc.d/init.d) followed inside the state."""
    parts = [p for p in path.split("/") if p]
    done = "/"
    for hop in range(40):
        if not parts:
            return done
        name = parts.pop(0)
        cand = posixpath.join(done, name)
        e = state.get(cand)
        if e is not None and e.kind == "link" and parts:
            base = "/" if e.target.startswith("/") else done
            parts = [p for p in posixpath.normpath(posixpath.join(base, e.target)).split("/") if p] + parts
            done = "/"
            continue
        done = cand
    return done


def _write_tree(root: str, state: dict[str, _Entry], executable: frozenset[str] = frozenset()) -> dict[str, tuple]:
    """Materialise state under root; returns the lstat fingerprint of every path written.

    The guest's files are data: none is left executable (a parser that runs one gets "permission denied"),
    except the paths in executable (the parser itself)."""
    prints = {}
    for path in sorted(state):
        e = state[path]
        host = root + path
        try:
            if e.kind == "dir":
                os.makedirs(host, exist_ok=True)
                os.chmod(host, e.mode | 0o700)
            elif e.kind == "link":
                os.makedirs(os.path.dirname(host), exist_ok=True)
                os.symlink(e.target, host)
            else:
                os.makedirs(os.path.dirname(host), exist_ok=True)
                with open(host, "wb") as f:
                    f.write(e.data)
                os.chmod(host, (e.mode & 0o777) | 0o600 if path in executable else (e.mode & 0o666) | 0o600)
        except OSError:
            continue
        st = os.lstat(host)
        prints[path] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
    return prints


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
    nic_names: what the image calls its first and second NIC; the sandbox's /sys/class/net has them, with the
    os.conf's MAC addresses (netnames.expected_names says which names the image will use); nics, when given,
    are the NICs instead, as (name, MAC).
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SimulationError("bubblewrap (bwrap) is not installed; it runs the simulation (apt install bubblewrap)")
    if not tree.exists("/etc"):
        raise SimulationError("the guest has no /etc to simulate the parser on (no Linux root was found)")
    started = time.monotonic()
    state = _initial_state(tree)
    parser_path = _resolve(state, INSTALL_PATH)
    state[parser_path] = _Entry("file", script.text.encode(), mode=0o755)
    flavor, first_uuid, first_label = script.name, script.first_uuid, script.first_label
    interpreter = STYLES[script.init].interpreter if script.init in STYLES else None
    first_dir = first_mountpoint or "[first partition]"
    conf_rel = "/aliyun_custom_image/os.conf"
    with tempfile.TemporaryDirectory(prefix="wb-sim-") as tmp:
        guest, first, record, stubs = (os.path.join(tmp, n) for n in ("guest", "first", "record", "stubs"))
        for d in (guest, first + "/aliyun_custom_image", record, stubs):
            os.makedirs(d)
        prints = _write_tree(guest, state, frozenset({parser_path}))
        first_state = {"/aliyun_custom_image": _Entry("dir", mode=0o755)}
        if osconf_text is not None:
            first_state[conf_rel] = _Entry("file", osconf_text.encode(), mode=0o644)
        first_prints = _write_tree(first, first_state)
        _install_stubs(stubs, busybox)
        sys_net = _fake_sys_net(tmp, osconf_text, nic_names, nics)
        cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", *_host_layout(),
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run",
               "--bind", guest + "/etc", "/etc", "--bind", guest + "/var", "/var", "--bind", sys_net, "/sys/class/net"]
        cmd += _host_etc_binds(tmp)
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
        start = ([f"/usr/local/sbin/{interpreter}"] if interpreter else []) + [parser_path, action]
        cmd += ["/usr/local/sbin/sh", *start] if busybox else start
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, env={"PATH": "/usr/bin:/bin", "LANG": "C"})
            exit_code: int | None = proc.returncode
            output = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            exit_code = None
            output = ((e.stdout or b"") + (e.stderr or b"")).decode("utf-8", "replace")
            output += f"\n(workbench: the parser did not finish within {TIMEOUT} s and was stopped)"
        if exit_code is not None and exit_code > 125 and "bwrap:" in output:
            raise SimulationError(f"the sandbox could not start: {output.strip().splitlines()[-1]}")
        changes = _diff(guest, state, prints, "")
        changes += _diff(first, first_state, first_prints, first_dir.rstrip("/") if first_dir != "/" else "")
        commands = _read_records(os.path.join(record, "commands"))
    # the parser itself is the injection, not its effect; host files bound in are mount points
    changes = [c for c in changes if c.path != parser_path and not _host_path(c.path)]
    changes.sort(key=lambda c: c.path)
    return ChangeSet(flavor, exit_code, changes, commands, output[-(64 << 10):], time.monotonic() - started,
                     first_dir)


def _fake_sys_net(tmp: str, osconf_text: str | None, names: tuple[str, str],
                  given: list[tuple[str, str]] | None = None) -> str:
    """A /sys/class/net for the sandbox: the loopback and one NIC per os.conf interface (eth1 only when the
    os.conf has eth1 keys), named as the image will name them, with the os.conf's MAC (or qemu's default)."""
    values = parse_text(osconf_text)[0] if osconf_text else {}
    root = os.path.join(tmp, "sys-class-net")
    nics = [("lo", "00:00:00:00:00:00", False)]
    if given is None:  # as the rehearsal's qemu (and ECS) gives them: the os.conf's MACs
        nics += [(names[n], mac, True) for n, mac in enumerate(os_conf_macs(values))]
    else:
        nics += [(name, mac, True) for name, mac in given]
    for name, mac, device in nics:
        os.makedirs(os.path.join(root, name, "device") if device else os.path.join(root, name))
        for attr, value in (("address", mac), ("operstate", "down"), ("type", "772" if not device else "1")):
            with open(os.path.join(root, name, attr), "w") as f:
                f.write(value + "\n")
    return root


def _host_etc_binds(tmp: str) -> list[str]:
    """bwrap arguments putting the host's loader and libc files over /etc, or an empty file or directory where
    the host has none (the guest's are never materialised there)."""
    empty_file, empty_dir = os.path.join(tmp, "empty"), os.path.join(tmp, "empty.d")
    open(empty_file, "wb").close()
    os.makedirs(empty_dir, exist_ok=True)
    args = []
    for path in HOST_ETC:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
        else:
            args += ["--ro-bind", empty_dir if path in HOST_ETC_DIRS else empty_file, path]
    return args


def _host_path(path: str) -> bool:
    return any(path == h or path.startswith(h + "/") for h in HOST_ETC)


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
                elif before.kind != "link" or before.target != after[3:]:
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
