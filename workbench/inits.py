"""Init styles: how each init system starts the parser. One record per style, read by the script builder (which
header and portal), the injection plan (what registers it) and the simulation (how it is started).

Adding an init style: a record here, assets/parsers/header-NAME.sh and portal-NAME.sh if it needs a script form of
its own, detection in image/osinfo.py:detect_init, and its case in tests/unit/test_inits.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from workbench.changes import Change, file_write, link_write
from workbench.image.tree import GuestTree
from workbench.paths import assets_dir

INSTALL_PATH = "/etc/init.d/os-conf"
UNIT_PATH = "/etc/systemd/system/os-conf.service"
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/os-conf.service"
RC_LEVELS = (2, 3, 4, 5)
SSH_SERVICES = {"systemd": ("sshd.service", "ssh.service", "cloud-init-local.service"),
                "sysvinit": ("ssh", "sshd"), "openrc": ("sshd",)}


@dataclass(frozen=True)
class InitStyle:
    name: str
    script: str
    """The script's form: "lsb" (an LSB init script: sysvinit runs it, systemd through the unit) or "openrc"
    (an openrc-run script); assets/parsers/header-SCRIPT.sh and portal-SCRIPT.sh."""
    register: Callable[[], list[Change]]
    """The writes (besides the script itself) that make the init system start the parser at boot."""
    interpreter: str | None = None
    """What runs the script in the simulation when its #! line names a program the host lacks (a stand-in from
    assets/stubs), or None: the script runs through its own #! line."""


def before(init: str) -> tuple[str, ...]:
    """The services the parser starts before under an init style: every network stack's, and sshd's."""
    from workbench.flavors import services_for

    return services_for(init) + SSH_SERVICES.get(init, ())


def systemd_unit() -> str:
    """The unit that starts the parser early, before any network service (assets/templates)."""
    text = (assets_dir() / "templates" / "os-conf.service").read_text(encoding="utf-8")
    return text.replace("@@BEFORE@@", " ".join(("network-pre.target",) + before("systemd")))


def _systemd() -> list[Change]:
    return [file_write(UNIT_PATH, systemd_unit().encode(), "systemd unit"),
            link_write(WANTS_LINK, UNIT_PATH, "enable for multi-user.target")]


def _sysvinit() -> list[Change]:
    return [link_write(f"/etc/rc{n}.d/S05os-conf", "../init.d/os-conf", f"start in runlevel {n}") for n in RC_LEVELS]


def _openrc() -> list[Change]:
    return [link_write("/etc/runlevels/default/os-conf", INSTALL_PATH, "OpenRC default runlevel")]


STYLES: dict[str, InitStyle] = {s.name: s for s in (
    InitStyle("systemd", "lsb", _systemd),
    InitStyle("sysvinit", "lsb", _sysvinit),
    InitStyle("openrc", "openrc", _openrc, interpreter="openrc-run"),
)}
SCRIPT_FORMS = tuple(dict.fromkeys(s.script for s in STYLES.values()))


def init_style(init: str | None, tree: GuestTree) -> str:
    """The style the parser is registered with, from the detected init system and the image's directories;
    "unknown" when nothing would start it."""
    if init in ("systemd", "openrc"):
        return init
    if init in ("sysvinit", "upstart", "busybox") and any(tree.is_dir(f"/etc/rc{n}.d") for n in RC_LEVELS):
        return "sysvinit"
    if tree.is_dir("/etc/runlevels"):
        return "openrc"
    if tree.is_dir("/etc/systemd/system"):
        return "systemd"
    if any(tree.is_dir(f"/etc/rc{n}.d") for n in RC_LEVELS):
        return "sysvinit"
    return "unknown"


def script_form(style: str) -> str:
    """The script form for an init style (an unknown style gets the LSB script, which nothing starts)."""
    return STYLES[style].script if style in STYLES else "lsb"
