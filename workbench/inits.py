"""Init styles: how each init system starts the parser. One record per style, read by the script builder (which
header and portal, and what its header says about ordering), the injection plan (what registers it), the review's
boot.init check and the simulation (how it is started).

Every registration is computed from the pulled tree (nothing runs in the image): the start links and, where a Debian
image orders its boot with insserv's order files (startpar starts only what they list), those files updated as
insserv would update them. The parser always runs before the image's network comes up: on runlevel S where the
image has one (Debian's sysvinit, and runit's stage 1, which runs /etc/rcS.d), in the OpenRC runlevel that holds the
network service, and before the network script of a Buildroot-style rcS.

Adding an init style: a record here, assets/parsers/header-NAME.sh and portal-NAME.sh if it needs a script form of
its own, detection in image/osinfo.py:detect_init, and its case in tests/unit/test_inits.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from workbench.changes import Change, dir_write, file_write, link_write
from workbench.image.tree import GuestTree
from workbench.paths import assets_dir

NAME = "os-conf"
INSTALL_PATH = "/etc/init.d/os-conf"
UNIT_PATH = "/etc/systemd/system/os-conf.service"
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/os-conf.service"
RC_LEVELS = (2, 3, 4, 5)
DEPEND_BOOT = "/etc/init.d/.depend.boot"
DEPEND_START = "/etc/init.d/.depend.start"
RUNIT_SV = "/etc/sv/os-conf"
RUNSVDIRS = ("/etc/runit/runsvdir/default", "/etc/service")
OPENRC_RUNLEVELS = ("sysinit", "boot", "default")
UDEV_CONF = "/etc/udev/udev.conf"  # every udev ships it (systemd's, eudev); mdev has none
SSH_SERVICES = {"systemd": ("sshd.service", "ssh.service", "cloud-init-local.service"),
                "sysvinit": ("ssh", "sshd"), "openrc": ("sshd", "ssh")}
# what insserv's $local_fs is on Debian (initscripts), and OpenRC's own service for it (Gentoo, Alpine)
LSB_LOCAL_FS = ("mountkernfs.sh", "mountall.sh", "mountall-bootclean.sh")
# network scripts of busybox systems (Buildroot's S40network, and the daemons some images start instead)
BUSYBOX_NET = ("network", "networking", "ifup", "dhcpcd", "udhcpc", "connman", "NetworkManager")
RUNIT_RUN = f"""#!/bin/sh
# written by workbench: runs the os-conf parser once at boot (runsv is told not to start it again)
sv once "$PWD" >/dev/null 2>&1
exec {INSTALL_PATH} start
"""


@dataclass(frozen=True)
class Ordering:
    """What the script says about when it starts, as this image's init system reads it (parsers.parser_text)."""
    default_start: str = "2 3 4 5"
    """The LSB header's Default-Start (S where the parser is registered in runlevel S)."""
    depend: tuple[str, ...] = ("need localmount", "before @@BEFORE@@")
    """The lines of the openrc-run script's depend()."""


@dataclass(frozen=True)
class InitStyle:
    name: str
    script: str
    """The script's form: "lsb" (an LSB init script: sysvinit runs it, systemd through the unit) or "openrc"
    (an openrc-run script); assets/parsers/header-SCRIPT.sh and portal-SCRIPT.sh."""
    register: Callable[[GuestTree], list[Change]]
    """The writes (besides the script itself) that make the init system start the parser at boot, from the tree."""
    ordering: Callable[[GuestTree], Ordering] = field(default=lambda tree: Ordering())
    """What the script's header says for this image."""
    interpreter: str | None = None
    """What runs the script in the simulation when its #! line names a program the host lacks (a stand-in from
    assets/stubs), or None: the script runs through its own #! line."""
    udev: Callable[[GuestTree], bool] = field(default=lambda tree: tree.is_file(UDEV_CONF))
    """Whether a udev daemon runs when the parser starts at this image's boots (and so names the NICs by the
    parser's rule). The parser asks the running system (udev_runs); this is the simulation's answer, so that its
    sandbox looks like the boot. The default: the init systems of the distributions start udev when it is
    installed."""


def before(init: str) -> tuple[str, ...]:
    """The services the parser starts before under an init style: every network stack's, and sshd's."""
    from workbench.flavors import services_for

    return services_for(init) + SSH_SERVICES.get(init, ())


def systemd_unit() -> str:
    """The unit that starts the parser early, before any network service (assets/templates)."""
    text = (assets_dir() / "templates" / "os-conf.service").read_text(encoding="utf-8")
    return text.replace("@@BEFORE@@", " ".join(("network-pre.target",) + before("systemd")))


def _systemd(tree: GuestTree) -> list[Change]:
    return [file_write(UNIT_PATH, systemd_unit().encode(), "systemd unit"),
            link_write(WANTS_LINK, UNIT_PATH, "enable for multi-user.target")]


# -- start links and insserv's order files ----------------------------------------------------------------------
def _links(tree: GuestTree, directory: str) -> list[tuple[int, str]]:
    """(number, name) of the start links S<NN><name> in directory (the parser's own left out)."""
    out = []
    for entry in tree.listdir(directory):
        m = re.fullmatch(r"S(\d\d)(.+)", entry)
        if m and m.group(2) != NAME:
            out.append((int(m.group(1)), m.group(2)))
    return out


def start_number(links: list[tuple[int, str]], first: tuple[str, ...], default: int = 5) -> int:
    """The parser's start number: one below the first of the services it must precede (sequential boots run the
    links in name order, and S10networking sorts before S10os-conf), never below 1."""
    hits = [n for n, name in links if name in first]
    return max(1, min(hits) - 1) if hits else default


def insserv_order(text: str, first: tuple[str, ...]) -> str | None:
    """startpar's order file (insserv's .depend.boot or .depend.start) with the parser added as insserv adds a
    script whose header says X-Start-Before those services: a target before the first of them, which they depend
    on, and which depends on what they depend on (but nothing that comes after them). None without a TARGETS line."""
    lines = text.splitlines()
    at = next((i for i, ln in enumerate(lines) if ln.startswith("TARGETS =")), None)
    if at is None:
        return None
    targets = [t for t in lines[at][len("TARGETS ="):].split() if t != NAME]
    deps: dict[str, list[str]] = {}
    for ln in lines:
        m = re.match(r"^([^\s:=#]+):(.*)$", ln)
        if m and m.group(1) != NAME:
            deps[m.group(1)] = [d for d in m.group(2).split() if d != NAME]
    ahead = [t for t in targets if t in first]
    later = set(ahead)  # what must start after the parser: those services and everything that needs them
    grew = True
    while grew:
        grew = False
        for name, needs in deps.items():
            if name not in later and later.intersection(needs):
                later.add(name)
                grew = True
    wanted = [d for b in ahead for d in deps.get(b, [])] + [t for t in LSB_LOCAL_FS if t in targets]
    mine = [d for d in dict.fromkeys(wanted) if d not in later]
    cut = targets.index(ahead[0]) if ahead else len(targets)
    out = []
    for i, ln in enumerate(lines):
        m = re.match(r"^([^\s:=#]+):", ln)
        if i == at:
            out.append("TARGETS = " + " ".join(targets[:cut] + [NAME] + targets[cut:]))
        elif m and m.group(1) == NAME:
            continue
        elif m and m.group(1) in deps:
            name = m.group(1)
            out.append(f"{name}: " + " ".join(deps[name] + ([NAME] if name in ahead else [])))
        else:
            out.append(ln)
    out += [f"{b}: {NAME}" for b in ahead if b not in deps]
    out.append(f"{NAME}: " + " ".join(mine) if mine else f"{NAME}:")
    return "\n".join(out) + "\n"


def _order_file(tree: GuestTree, path: str, first: tuple[str, ...], why: str) -> list[Change]:
    text = tree.read_text(path, 1 << 20)
    order = insserv_order(text, first) if text is not None else None
    return [file_write(path, order.encode(), why)] if order is not None else []


def runs_rcs(tree: GuestTree) -> bool:
    """Whether boot runs runlevel S's scripts (/etc/rcS.d): Debian's sysvinit does, and Debian's runit in stage 1."""
    return tree.is_dir("/etc/rcS.d")


def _rcs(tree: GuestTree) -> list[Change]:
    """A start link in runlevel S before the network's, and the parser in insserv's order file for runlevel S."""
    first = before("sysvinit")
    n = start_number(_links(tree, "/etc/rcS.d"), first)
    return [link_write(f"/etc/rcS.d/S{n:02d}{NAME}", "../init.d/os-conf", "start in runlevel S, before the network"),
            *_order_file(tree, DEPEND_BOOT, first, "insserv's order for runlevel S: startpar starts only what it lists")]


def _sysvinit(tree: GuestTree) -> list[Change]:
    links = [link_write(f"/etc/rc{n}.d/S05os-conf", "../init.d/os-conf", f"start in runlevel {n}") for n in RC_LEVELS]
    if runs_rcs(tree):  # the run that applies os.conf is runlevel S's; in 2-5 (the inject contract's links) it
        return _rcs(tree) + links  # finds no os.conf left and does nothing; startpar's order file does not list them
    return links + _order_file(tree, DEPEND_START, before("sysvinit"),
                               "insserv's order for runlevels 2-5: startpar starts only what it lists")


def _lsb_ordering(tree: GuestTree) -> Ordering:
    return Ordering(default_start="S") if runs_rcs(tree) else Ordering()


# -- OpenRC ------------------------------------------------------------------------------------------------------
def _openrc_services(tree: GuestTree) -> set[str]:
    return set(tree.listdir("/etc/init.d"))


def openrc_runlevel(tree: GuestTree) -> str:
    """The runlevel the parser joins: the first that starts a network service (Debian's OpenRC starts networking in
    sysinit, Alpine in boot, Gentoo's net.* in default), else boot, else default."""
    net = set(before("openrc")) - set(SSH_SERVICES["openrc"])
    for level in OPENRC_RUNLEVELS:
        if any(n in net or n.startswith("net.") for n in tree.listdir(f"/etc/runlevels/{level}")):
            return level
    return "boot" if tree.is_dir("/etc/runlevels/boot") else "default"


def _openrc(tree: GuestTree) -> list[Change]:
    level = openrc_runlevel(tree)
    return [link_write(f"/etc/runlevels/{level}/os-conf", INSTALL_PATH, f"OpenRC {level} runlevel, with the network")]


def _openrc_ordering(tree: GuestTree) -> Ordering:
    """depend() naming only services the image has: need localmount where OpenRC provides it, else after the LSB
    scripts that mount the file systems (Debian's OpenRC runs initscripts'); before every network service there."""
    have = _openrc_services(tree)
    lines = []
    if "localmount" in have:
        lines.append("need localmount")
    else:
        after = [s for s in LSB_LOCAL_FS if s in have]
        if after:
            lines.append("after " + " ".join(after))
    first = [s for s in before("openrc") if s in have or (s == "net" and any(n.startswith("net.") for n in have))]
    if first:
        lines.append("before " + " ".join(first))
    return Ordering(depend=tuple(lines) or (":",))


# -- runit and busybox init ----------------------------------------------------------------------------------------
def runsvdir(tree: GuestTree) -> str | None:
    """The runsvdir runit starts its services from (Debian's and Void's default), or None."""
    return next((d for d in RUNSVDIRS if tree.is_dir(d)), None)


def runit_runs_rcs(tree: GuestTree) -> bool:
    """Debian's runit stage 1 (/etc/runit/1) runs /etc/rcS.d's scripts in order, before any service."""
    return runs_rcs(tree) and "/etc/rcS.d" in (tree.read_text("/etc/runit/1", 65536) or "")


def _runit(tree: GuestTree) -> list[Change]:
    if runit_runs_rcs(tree):  # stage 1, before the network (a stage-2 service renames the NIC too late)
        return _rcs(tree)
    svdir = runsvdir(tree) or RUNSVDIRS[0]
    return [dir_write(RUNIT_SV, "runit service directory"),
            file_write(f"{RUNIT_SV}/run", RUNIT_RUN.encode(), "runs the parser once", 0o755),
            link_write(f"{svdir}/{NAME}", RUNIT_SV, "enable in the default runsvdir")]


def busybox_rcs(tree: GuestTree) -> bool:
    """busybox init whose inittab runs /etc/init.d/rcS, which runs /etc/init.d/S??* in order (Buildroot's way)."""
    inittab = tree.read_text("/etc/inittab", 65536) or ""
    rcs = tree.read_text("/etc/init.d/rcS", 65536) or ""
    return bool(re.search(r"^[^#]*::sysinit:.*/etc/init\.d/rcS", inittab, re.M)) and "/etc/init.d/S" in rcs


def busybox_udev(tree: GuestTree) -> bool:
    """Whether rcS starts a udev daemon (Buildroot's S10udev, for eudev or systemd's udevd): busybox init starts
    nothing else, and mdev names no NIC. Debian's udev package installed beside it is not started by anything."""
    return any("udev" in name for _, name in _links(tree, "/etc/init.d"))


def _busybox(tree: GuestTree) -> list[Change]:
    n = start_number(_links(tree, "/etc/init.d"), BUSYBOX_NET + before("sysvinit"))
    return [link_write(f"/etc/init.d/S{n:02d}{NAME}", NAME, "rcS runs it before the network script")]


STYLES: dict[str, InitStyle] = {s.name: s for s in (
    InitStyle("systemd", "lsb", _systemd, udev=lambda tree: True),
    InitStyle("sysvinit", "lsb", _sysvinit, _lsb_ordering),
    InitStyle("openrc", "openrc", _openrc, _openrc_ordering, interpreter="openrc-run"),
    InitStyle("runit", "lsb", _runit, _lsb_ordering),
    InitStyle("busybox", "lsb", _busybox, udev=busybox_udev),
)}
SCRIPT_FORMS = tuple(dict.fromkeys(s.script for s in STYLES.values()))


def init_style(init: str | None, tree: GuestTree) -> str:
    """The style the parser is registered with, from the detected init system and the image's directories;
    "unknown" when nothing would start it (s6, NixOS, an init the workbench does not know)."""
    has_rc = any(tree.is_dir(f"/etc/rc{n}.d") for n in RC_LEVELS) or runs_rcs(tree)
    if init in ("systemd", "openrc"):
        return init
    if init == "runit":
        return "runit" if runit_runs_rcs(tree) or runsvdir(tree) else "unknown"
    if init == "busybox":
        if tree.is_dir("/etc/runlevels") or "openrc" in (tree.read_text("/etc/inittab", 65536) or ""):
            return "openrc"  # Alpine: busybox init runs OpenRC
        return "busybox" if busybox_rcs(tree) else "unknown"
    if init in ("sysvinit", "upstart", None):
        if tree.is_dir("/etc/runlevels"):
            return "openrc"
        if has_rc:
            return "sysvinit"
    return "unknown"


INIT_NAMES = {"s6": "s6", "nixos": "NixOS's systemd (its /etc is generated from the system's configuration)",
              "dinit": "dinit", "shepherd": "GNU Shepherd", "runit": "runit", "busybox": "busybox init",
              "upstart": "upstart", "sysvinit": "sysvinit"}


def init_name(init: str | None, tree: GuestTree) -> str:
    """The init system as a sentence names it: the detected one, else where /sbin/init leads (printable)."""
    from workbench.image.osinfo import init_program
    from workbench.text import printable

    program = init_program(tree)
    return INIT_NAMES.get(init or "", init) or (printable(program) if program else "not one the workbench recognises")


def udev_at_boot(style: str, tree: GuestTree) -> bool:
    """Whether a udev daemon runs when the parser starts, under this init style on this image (InitStyle.udev; an
    unknown style: whether udev is installed)."""
    return STYLES[style].udev(tree) if style in STYLES else tree.is_file(UDEV_CONF)


def script_form(style: str) -> str:
    """The script form for an init style (an unknown style gets the LSB script, which nothing starts)."""
    return STYLES[style].script if style in STYLES else "lsb"


def ordering(style: str, tree: GuestTree | None) -> Ordering:
    """What the script's header says for this image (the defaults without a tree)."""
    return STYLES[style].ordering(tree) if style in STYLES and tree is not None else Ordering()
