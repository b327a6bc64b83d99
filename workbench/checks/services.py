"""Risky network services enabled in the image, as each init system and super-server enables them."""

from __future__ import annotations

import json
import re
from functools import lru_cache

from workbench.checks import Check, CheckResult, Context, check
from workbench.enablement import RC_DIRS, SYSTEMD_DIRS, Enabled, enabled_anywhere
from workbench.image.tree import GuestTree
from workbench.paths import assets_dir
from workbench.text import printable

SERVICE_FILES = (*SYSTEMD_DIRS, *RC_DIRS, "/etc/init.d", "/etc/rc.d/init.d", "/etc/runlevels", "/etc/init",
                 "/etc/xinetd.conf", "/etc/xinetd.d", "/etc/inetd.conf", "/etc/inetd.d")
MAX_CONF = 1 << 20


@lru_cache(maxsize=1)
def risky_services() -> dict:
    return json.loads((assets_dir() / "risky-services.json").read_text(encoding="utf-8"))


MAX_FILES = 1000  # xinetd.d and inetd.d files read; past it the check warns


def _conf_files(tree: GuestTree, main: str, d: str) -> list[str]:
    """main and the files of d, at most MAX_FILES (the rest is marked not read, so the check warns)."""
    names = tree.listdir(d)
    if len(names) > MAX_FILES:
        tree.mark_unread(d, f"more than {MAX_FILES} files; the rest was not read")
    return [main] + [f"{d}/{n}" for n in names[:MAX_FILES]]


def xinetd_services(tree: GuestTree) -> list[tuple[str, str, bool]]:
    """(service, file, enabled) for every service block in xinetd's configuration."""
    out = []
    for path in _conf_files(tree, "/etc/xinetd.conf", "/etc/xinetd.d"):
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
    for path in _conf_files(tree, "/etc/inetd.conf", "/etc/inetd.d"):
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
