"""Risky network services enabled in the image, as each init system and super-server enables them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from workbench.checks import Check, CheckResult, Context, check
from workbench.image.tree import GuestTree
from workbench.paths import assets_dir
from workbench.text import printable

SYSTEMD_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
RC_DIRS = [f"/etc/rc{n}.d" for n in (2, 3, 4, 5)] + [f"/etc/rc.d/rc{n}.d" for n in (2, 3, 4, 5)]
SERVICE_FILES = (*SYSTEMD_DIRS, *RC_DIRS, "/etc/init.d", "/etc/rc.d/init.d", "/etc/runlevels", "/etc/init",
                 "/etc/xinetd.conf", "/etc/xinetd.d", "/etc/inetd.conf", "/etc/inetd.d")
OPENRC_LEVELS = ("sysinit", "boot", "default", "nonetwork")
MAX_CONF = 1 << 20


@lru_cache(maxsize=1)
def risky_services() -> dict:
    return json.loads((assets_dir() / "risky-services.json").read_text(encoding="utf-8"))


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


def systemd_enabled(tree: GuestTree, unit: str) -> list[Enabled]:
    out = []
    if masked(tree, unit):
        return out
    seen = set()
    for base in SYSTEMD_DIRS:
        real = tree.resolve(base)
        if real is None or real in seen:
            continue
        seen.add(real)
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
    out, seen = [], set()
    for d in RC_DIRS:
        real = tree.resolve(d)
        if real is None or real in seen:
            continue
        seen.add(real)
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


def xinetd_services(tree: GuestTree) -> list[tuple[str, str, bool]]:
    """(service, file, enabled) for every service block in xinetd's configuration."""
    out = []
    files = ["/etc/xinetd.conf"] + [f"/etc/xinetd.d/{n}" for n in tree.listdir("/etc/xinetd.d")]
    for path in files[:1000]:
        text = tree.read_text(path, MAX_CONF)
        if not text:
            continue
        for m in re.finditer(r"^\s*service\s+(\S+)\s*\n?\s*\{(.*?)\}", text, re.M | re.S):
            body = m.group(2)
            d = re.search(r"^\s*disable\s*=\s*(\S+)", body, re.M)
            out.append((m.group(1), path, not (d and d.group(1).lower() == "yes")))
    return out


def inetd_services(tree: GuestTree) -> list[tuple[str, str]]:
    out = []
    files = ["/etc/inetd.conf"] + [f"/etc/inetd.d/{n}" for n in tree.listdir("/etc/inetd.d")]
    for path in files[:1000]:
        text = tree.read_text(path, MAX_CONF)
        for line in (text or "").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append((line.split()[0].split(":")[-1], path))
    return out


def _condition(tree: GuestTree, when: dict | None) -> str | None | bool:
    """True when there is no condition; the matching line when it holds; None when it does not."""
    if not when:
        return True
    text = tree.read_text(when["path"], MAX_CONF)
    if text is None:
        return None
    m = re.search(when["pattern"], text, re.M)
    return f"{when['path']}: {m.group(0).strip()}" if m else None


@check("service.risky", "No risky network services enabled", "services", "high", needs_guest=True,
       reads=SERVICE_FILES)
def risky(c: Check, ctx: Context) -> CheckResult:
    tree = ctx.tree
    data = risky_services()
    supers = {name: enabled_anywhere(tree, spec) for name, spec in data["super_servers"].items()}
    xinetd = xinetd_services(tree)
    inetd = inetd_services(tree)
    evidence: list[str] = []
    targets: list[str] = []
    names: list[str] = []
    worst = None
    for svc in data["services"]:
        found: list[Enabled] = list(enabled_anywhere(tree, svc))
        for name, path, on in xinetd:
            if on and name in svc.get("xinetd", []):
                via = supers["xinetd"]
                runs = f"xinetd is enabled: {via[0].how}" if via else "xinetd itself is not enabled"
                found.append(Enabled(f"xinetd service {name} in {path} (disable is not yes; {runs})",
                                     f"xinetd:{path}:{name}"))
        for name, path in inetd:
            if name in svc.get("inetd", []):
                via = supers["inetd"]
                runs = "inetd is enabled" if via else "no inetd is enabled"
                found.append(Enabled(f"inetd line for {name} in {path} ({runs})", f"inetd:{path}:{name}"))
        if not found:
            continue
        cond = _condition(tree, svc.get("when"))
        if cond is None:
            continue
        for e in found:
            line = f"{svc['name']}: {printable(e.how, 400)}"
            if isinstance(cond, str):
                line += f"; {printable(cond, 200)}"
            evidence.append(line + f" — {svc['reason']}")
            targets.append(e.target)
        names.append(svc["name"])
        if worst is None or svc["severity"] == "high":
            worst = svc["severity"]
    if evidence:
        return c.result("fail", f"{len(names)} risky service(s) would listen on every instance made from this "
                                f"image: {', '.join(names)}.", evidence,
                        "Disable them (fix.disable-service removes the start links, sets disable = yes for "
                        "xinetd services and comments out inetd lines), or uninstall the packages.",
                        severity=worst, offers={"fix.disable-service": targets})
    return c.result("pass", "No risky network service is enabled.")
