"""Whether a service is enabled, the way each init system enables it (systemd wants links and masks, sysvinit
start links, OpenRC runlevels, upstart jobs), read from the pulled tree. Shared by the service, agent and
network checks and by the fixes that disable what they find."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from workbench.image.tree import GuestTree
from workbench.presets import preset_enables, target_wants

# Unit directories in systemd's search order (systemd-analyze unit-paths), as the image holds them; /run is left
# out: a tmpfs hides whatever an image holds there before systemd reads it (and the review does not pull it).
UNIT_DIRS = ("/etc/systemd/system.control", "/etc/systemd/system", "/etc/systemd/system.attached",
             "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
PRESET_DIRS = ("/etc/systemd/system-preset", "/usr/local/lib/systemd/system-preset",
               "/lib/systemd/system-preset", "/usr/lib/systemd/system-preset")
SYSTEMD_DIRS = (*UNIT_DIRS, *PRESET_DIRS, "/etc/machine-id")  # what the systemd readers decide from
RC_DIRS = [f"/etc/rc{n}.d" for n in (2, 3, 4, 5)] + [f"/etc/rc.d/rc{n}.d" for n in (2, 3, 4, 5)]
OPENRC_LEVELS = ("sysinit", "boot", "default", "nonetwork")
MAX_CONF = 1 << 20
MAX_UNIT_FILES = 20_000  # unit files and links looked at per tree; past it the checks warn (see Units.cut)
DEP_DIRS = (".wants", ".requires", ".upholds")


@dataclass(frozen=True)
class Enabled:
    how: str  # human sentence
    target: str  # what fix.disable-service acts on


def _unit_matches(link_name: str, unit: str) -> bool:
    if "@." in unit:
        prefix, suffix = unit.split("@", 1)
        return link_name.startswith(prefix + "@") and link_name.endswith(suffix[1:] if suffix.startswith(".") else suffix)
    return link_name == unit


def distinct_dirs(tree: GuestTree, dirs) -> list[tuple[str, str]]:
    """(path, real path) of each directory that exists, once per real directory (/lib and /usr/lib merged...)."""
    out, seen = [], set()
    for d in dirs:
        real = tree.resolve(d)
        if real is not None and real not in seen and tree.is_dir(real):
            seen.add(real)
            out.append((d, real))
    return out


class Units:
    """The systemd units of a tree, indexed once: unit files by name in search order, aliases, dependency links
    (.wants/.requires/.upholds) and targets' Wants= lines, and, for a first boot, what the presets enable."""

    def __init__(self, tree: GuestTree) -> None:
        self.tree = tree
        self.dirs = distinct_dirs(tree, UNIT_DIRS)
        self.files: dict[str, list[str]] = {}  # name -> paths, in search order
        self.links: list[tuple[str, str, set[str]]] = []  # (dir, link path, unit names it starts)
        self.cut = False
        count = 0
        for base, _real in self.dirs:
            for name in tree.listdir(base):
                path = f"{base}/{name}"
                entries = tree.listdir(path) if name.endswith(DEP_DIRS) and tree.is_dir(path) else []
                count += 1 + len(entries)
                if count > MAX_UNIT_FILES:  # not a silent limit: the checks that read these dirs warn
                    self.cut = True
                    tree.mark_unread(base, f"more than {MAX_UNIT_FILES} unit files and links; the rest was not read")
                    break
                for entry in entries:
                    self.links.append((base, f"{path}/{entry}", {entry, *self._target_names(f"{path}/{entry}")}))
                if entries or name.endswith(DEP_DIRS):
                    continue
                if "." in name and not name.endswith(".d"):
                    self.files.setdefault(name, []).append(path)
        self.aliases: dict[str, set[str]] = {}
        for name, paths in self.files.items():
            for target in self._target_names(paths[0]) - {name}:
                self.aliases.setdefault(target, set()).add(name)

    def _target_names(self, path: str) -> set[str]:
        """Unit names along a symbolic link's chain (a link's target names the unit it is an alias of)."""
        names, at = set(), path
        for _ in range(8):
            target = self.tree.readlink(at)
            if target is None:
                break
            at = posixpath.normpath(posixpath.join(posixpath.dirname(at), target))
            # a mask (Debian ships some in /lib/systemd/system), or a path outside what was pulled: the chain ends
            # there, no alias (and no lookup of a path the tree cannot answer for)
            if at == "/dev/null" or not self.tree.covers(at):
                break
            names.add(posixpath.basename(at))
        return names

    def masked(self, unit: str) -> bool:
        """The unit file systemd would load is a link to /dev/null, or empty."""
        paths = self.files.get(unit)
        if not paths:
            return False
        if self.tree.resolve(paths[0]) == "/dev/null":  # a mask: systemd does not read /dev/null (nor do we)
            return True
        node = self.tree.node(paths[0])
        return node is not None and node.kind == "file" and node.size == 0 and node.data == b""

    def names(self, unit: str) -> set[str]:
        """The unit's name and its aliases."""
        return {unit} | self.aliases.get(unit, set())


def _index(tree: GuestTree) -> Units:
    """The index of this tree, built once (the checks ask about a hundred unit names) and kept with the tree,
    so that it lives and goes with it."""
    size, units = getattr(tree, "_wb_units", (-1, None))
    if units is None or size != len(tree):
        units = Units(tree)
        tree._wb_units = (len(tree), units)
    return units


def masked(tree: GuestTree, unit: str) -> bool:
    """systemctl mask links the unit to /dev/null: then nothing starts it."""
    return _index(tree).masked(unit)


def systemd_enabled(tree: GuestTree, unit: str) -> list[Enabled]:
    """How systemd would start the unit (or an instance of a template): a dependency link in any unit directory
    (under its name, an alias, or pointing at it), a target's Wants=, or a preset at a first boot."""
    units = _index(tree)
    if units.masked(unit):
        return []
    out = []
    names = units.names(unit)
    for base, path, starts in units.links:
        if not any(_unit_matches(n, m) for n in starts for m in names):
            continue
        how = f"{posixpath.basename(path)} is enabled ({path})"
        if base.startswith("/etc"):
            out.append(Enabled(how, f"link:{path}"))
        else:  # vendor-enabled: only masking turns it off
            out.append(Enabled(how + ", enabled by the vendor", f"mask:{unit}"))
    out += [Enabled(how, f"mask:{unit}") for how in target_wants(units, names) + preset_enables(units, unit)]
    return out


def sysv_enabled(tree: GuestTree, script: str) -> list[Enabled]:
    out = []
    for d, real in distinct_dirs(tree, RC_DIRS):
        for name in tree.listdir(d):
            if re.fullmatch(r"S[0-9][0-9]" + re.escape(script), name):
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
