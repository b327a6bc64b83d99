"""Two more ways systemd starts a unit that no .wants link shows: a target's Wants= (in its unit file or a
drop-in), and, at a first boot (/etc/machine-id missing, empty or 'uninitialized'), the presets, which PID 1
applies to every unit with an [Install] section (preset-all, enable only; no rule matching means enable).
Read from the tree by workbench/enablement.py's Units index."""

from __future__ import annotations

import fnmatch
import re

MAX_CONF = 1 << 20
DEP_KEYS = ("Wants", "Requires", "Requisite", "BindsTo", "Upholds")
INSTALL_KEYS = ("WantedBy", "RequiredBy", "UpheldBy")


def ini(text: str) -> dict[str, list[tuple[str, str]]]:
    """systemd's unit file syntax, leniently: [Section] then Key=Value lines (# and ; comments, backslash
    continuations); values of a key accumulate."""
    out: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for line in re.sub(r"\\\n", " ", text.replace("\r\n", "\n")).split("\n"):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if sep:
            out.setdefault(section, []).append((key.strip(), value.strip()))
    return out


def _matches(name: str, unit: str) -> bool:
    if "@." in unit:
        prefix, suffix = unit.split("@", 1)
        return name.startswith(prefix + "@") and name.endswith(suffix[1:] if suffix.startswith(".") else suffix)
    return name == unit


def _wanted_by_targets(units) -> dict[str, list[str]]:
    """unit name -> how targets want it, from every *.target file and target drop-in in the unit dirs."""
    tree, out = units.tree, {}
    files = [p for name, paths in units.files.items() if name.endswith(".target") for p in paths]
    for base, _real in units.dirs:
        for d in tree.listdir(base):
            if d.endswith(".target.d") or d == "target.d":
                files += [f"{base}/{d}/{n}" for n in tree.listdir(f"{base}/{d}") if n.endswith(".conf")]
    for path in files:
        for key, value in ini(tree.read_text(path, MAX_CONF) or "").get("Unit", []):
            if key in DEP_KEYS:
                for dep in value.split():
                    out.setdefault(dep, []).append(f"{path} has {key}={dep}")
    return out


def target_wants(units, names: set[str]) -> list[str]:
    if getattr(units, "_wants", None) is None:
        units._wants = _wanted_by_targets(units)
    return [how for dep, hows in units._wants.items() if any(_matches(dep, n) for n in names) for how in hows]


def first_boot(tree) -> str | None:
    """Why the instance's first boot will be a first boot for systemd (it then applies the presets), or None."""
    node = tree.node("/etc/machine-id")
    if node is None:
        return "/etc/machine-id is missing"
    data = tree.read_bytes("/etc/machine-id")
    if data is not None and data.strip() in (b"", b"uninitialized"):
        return f"/etc/machine-id is {'empty' if not data.strip() else 'uninitialized'}"
    return None


def _rules(units) -> list[tuple[str, str, str]]:
    """(verb, pattern, file) of every preset rule, files by name across the preset dirs (an earlier dir's file
    replaces a later one of the same name), in name order."""
    from workbench.enablement import PRESET_DIRS

    tree, chosen = units.tree, {}
    for d in PRESET_DIRS:
        for name in tree.listdir(d):
            if name.endswith(".preset"):
                chosen.setdefault(name, f"{d}/{name}")
    rules = []
    for name in sorted(chosen):
        for line in (tree.read_text(chosen[name], MAX_CONF) or "").split("\n"):
            words = line.split()
            if len(words) >= 2 and words[0] in ("enable", "disable", "ignore") and not line.lstrip().startswith(("#", ";")):
                rules.append((words[0], words[1], chosen[name]))
    return rules


def _install(units, unit: str) -> dict[str, list[str]]:
    """The unit's [Install] section (of the unit file systemd loads), read once per index."""
    memo = units.__dict__.setdefault("_installs", {})
    if unit not in memo:
        paths = units.files.get(unit)
        out: dict[str, list[str]] = {}
        if paths and not units.masked(unit):
            for key, value in ini(units.tree.read_text(paths[0], MAX_CONF) or "").get("Install", []):
                out.setdefault(key, []).extend(value.split())
        memo[unit] = out
    return memo[unit]


def _policy(units, unit: str) -> tuple[str, str]:
    for verb, pattern, path in units._rules:
        if fnmatch.fnmatchcase(unit, pattern):
            return verb, f"{path}: {verb} {pattern}"
    return "enable", "no preset rule matches it, and systemd's default is enable"


def preset_enables(units, unit: str) -> list[str]:
    """How the first-boot presets would enable the unit (itself, or through another's Also=)."""
    why = first_boot(units.tree)
    if why is None:
        return []
    if getattr(units, "_rules", None) is None:
        units._rules = _rules(units)
    if not any(_install(units, unit).get(k) for k in INSTALL_KEYS) or ("@." in unit and
                                                                       not _install(units, unit).get("DefaultInstance")):
        return []
    verb, rule = _policy(units, unit)
    if verb == "enable":
        return [f"at the first boot ({why}) systemd applies the presets: {rule}"]
    for other in units.files:
        if unit in _install(units, other).get("Also", []) and _policy(units, other)[0] == "enable":
            return [f"at the first boot ({why}) the presets enable {other}, whose [Install] Also= names it"]
    return []
