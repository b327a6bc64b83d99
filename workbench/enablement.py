"""Whether a service is enabled, the way each init system enables it (systemd wants links and masks, sysvinit
start links, OpenRC runlevels, upstart jobs), read from the pulled tree. Shared by the service, agent and
network checks and by the fixes that disable what they find."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.image.tree import GuestTree

# /run is a tmpfs at boot: whatever an image holds there is hidden before systemd reads it
SYSTEMD_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
RC_DIRS = [f"/etc/rc{n}.d" for n in (2, 3, 4, 5)] + [f"/etc/rc.d/rc{n}.d" for n in (2, 3, 4, 5)]
OPENRC_LEVELS = ("sysinit", "boot", "default", "nonetwork")
MAX_CONF = 1 << 20


@dataclass(frozen=True)
class Enabled:
    how: str  # human sentence
    target: str  # what fix.disable-service acts on


def _unit_matches(link_name: str, unit: str) -> bool:
    if "@." in unit:
        prefix, suffix = unit.split("@", 1)
        return link_name.startswith(prefix + "@") and link_name.endswith(suffix[1:] if suffix.startswith(".") else suffix)
    return link_name == unit


def masked(tree: GuestTree, unit: str) -> bool:
    """systemctl mask links the unit to /dev/null in /etc (or /run): then nothing starts it."""
    return any(tree.readlink(f"{d}/{unit}") == "/dev/null" for d in ("/etc/systemd/system", "/run/systemd/system"))


def distinct_dirs(tree: GuestTree, dirs) -> list[tuple[str, str]]:
    """(path, real path) of each directory that exists, once per real directory (/lib and /usr/lib merged...)."""
    out, seen = [], set()
    for d in dirs:
        real = tree.resolve(d)
        if real is not None and real not in seen:
            seen.add(real)
            out.append((d, real))
    return out


def systemd_enabled(tree: GuestTree, unit: str) -> list[Enabled]:
    out = []
    if masked(tree, unit):
        return out
    for base, _real in distinct_dirs(tree, SYSTEMD_DIRS):
        for d in tree.listdir(base):
            if not d.endswith((".wants", ".requires")):
                continue
            for name in tree.listdir(f"{base}/{d}"):
                if _unit_matches(name, unit):
                    path = f"{base}/{d}/{name}"
                    how = f"{name} is enabled ({path})"
                    if base.startswith("/etc"):
                        out.append(Enabled(how, f"link:{path}"))
                    else:  # vendor-enabled: only masking turns it off
                        out.append(Enabled(how + ", enabled by the vendor", f"mask:{name}"))
    return out


def sysv_enabled(tree: GuestTree, script: str) -> list[Enabled]:
    out = []
    for d, real in distinct_dirs(tree, RC_DIRS):
        for name in tree.listdir(d):
            if re.fullmatch(r"S\d\d" + re.escape(script), name):
                out.append(Enabled(f"sysvinit start link {real}/{name}", f"link:{real}/{name}"))
    return out


def openrc_enabled(tree: GuestTree, name: str) -> list[Enabled]:
    return [Enabled(f"OpenRC runlevel {lvl} starts {name}", f"link:/etc/runlevels/{lvl}/{name}")
            for lvl in OPENRC_LEVELS if tree.exists(f"/etc/runlevels/{lvl}/{name}")
            or tree.is_link(f"/etc/runlevels/{lvl}/{name}")]


def upstart_enabled(tree: GuestTree, job: str) -> list[Enabled]:
    conf = tree.read_text(f"/etc/init/{job}.conf", MAX_CONF)
    if conf is None or not re.search(r"^\s*start\s+on\b", conf, re.M):
        return []
    override = tree.read_text(f"/etc/init/{job}.override", MAX_CONF) or ""
    if re.search(r"^\s*manual\s*$", conf + "\n" + override, re.M):
        return []
    return [Enabled(f"upstart job /etc/init/{job}.conf starts on boot", f"upstart:{job}")]


def enabled_anywhere(tree: GuestTree, spec: dict) -> list[Enabled]:
    out = []
    for unit in spec.get("systemd", []):
        out += systemd_enabled(tree, unit)
    for script in spec.get("sysv", []):
        out += sysv_enabled(tree, script)
    for name in spec.get("openrc", []):
        out += openrc_enabled(tree, name)
    for job in spec.get("upstart", []):
        out += upstart_enabled(tree, job)
    return out
