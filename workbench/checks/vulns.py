"""Installed packages inside remotely exploitable, high-risk advisories (OSV JSON)."""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from workbench.checks import Check, CheckResult, Context, check
from workbench.image.osinfo import OsFacts
from workbench.packages import PACKAGE_DBS, Package, installed_packages
from workbench.paths import assets_dir
from workbench.text import printable
from workbench.versions import COMPARE

MAX_ADVISORY_FILE = 16 << 20
MAX_ADVISORY_FILES = 200_000


@dataclass
class Advisory:
    id: str
    summary: str
    aliases: list[str]
    affected: list[dict]
    references: list[str]
    bundled: bool
    remote_high: bool  # a network attack vector and high or critical severity
    source: str = ""
    reviewed: str = ""  # database_specific.reviewed of the bundled entries


@dataclass
class AdvisorySet:
    advisories: list[Advisory] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_remote: int = 0  # operator advisories left out: no network vector or not high


# -- CVSS v3 base score (the published formula), to keep operator feeds to remote high-risk ones ---------
_W = {"AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}, "AC": {"L": 0.77, "H": 0.44},
      "UI": {"N": 0.85, "R": 0.62}, "C": {"H": 0.56, "L": 0.22, "N": 0}, "I": {"H": 0.56, "L": 0.22, "N": 0},
      "A": {"H": 0.56, "L": 0.22, "N": 0}}


def _roundup(x: float) -> float:
    i = round(x * 100000)
    return i / 100000.0 if i % 10000 == 0 else (math.floor(i / 10000) + 1) / 10.0


def cvss3_base(vector: str) -> tuple[float, str] | None:
    """(score, attack vector) of a CVSS:3.x vector string, or None."""
    parts = dict(p.split(":", 1) for p in vector.split("/")[1:] if ":" in p)
    try:
        scope_changed = parts["S"] == "C"
        pr = {"N": 0.85, "L": 0.68 if scope_changed else 0.62, "H": 0.5 if scope_changed else 0.27}[parts["PR"]]
        iss = 1 - (1 - _W["C"][parts["C"]]) * (1 - _W["I"][parts["I"]]) * (1 - _W["A"][parts["A"]])
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if scope_changed else 6.42 * iss
        expl = 8.22 * _W["AV"][parts["AV"]] * _W["AC"][parts["AC"]] * pr * _W["UI"][parts["UI"]]
    except KeyError:
        return None
    if impact <= 0:
        return 0.0, parts["AV"]
    score = _roundup(min(1.08 * (impact + expl), 10)) if scope_changed else _roundup(min(impact + expl, 10))
    return score, parts["AV"]


def _remote_high(doc: dict) -> bool:
    for sev in doc.get("severity") or []:
        if isinstance(sev, dict) and str(sev.get("type", "")).startswith("CVSS_V3"):
            got = cvss3_base(str(sev.get("score", "")))
            if got:
                return got[1] == "N" and got[0] >= 7.0
    label = str((doc.get("database_specific") or {}).get("severity", "")).lower()
    return label in ("high", "critical", "important")


def _advisory(doc: dict, bundled: bool, source: str) -> Advisory | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not isinstance(doc.get("affected"), list):
        return None
    refs = [r.get("url") for r in doc.get("references") or [] if isinstance(r, dict) and isinstance(r.get("url"), str)]
    specific = doc.get("database_specific") if isinstance(doc.get("database_specific"), dict) else {}
    return Advisory(doc["id"][:100], str(doc.get("summary", ""))[:300],
                    [a for a in doc.get("aliases") or [] if isinstance(a, str)][:20],
                    [a for a in doc["affected"] if isinstance(a, dict)], refs[:10], bundled,
                    bundled or _remote_high(doc), source, str(specific.get("reviewed", ""))[:40])


def load_advisories(extra_dirs: tuple[str, ...] = ()) -> AdvisorySet:
    out = AdvisorySet()
    sources = [(assets_dir() / "advisories", True)] + [(Path(d), False) for d in extra_dirs]
    for directory, bundled in sources:
        if not directory.is_dir():
            out.problems.append(f"advisory directory {directory} does not exist")
            continue
        for n, path in enumerate(sorted(directory.rglob("*.json"))):
            if n >= MAX_ADVISORY_FILES:
                out.problems.append(f"{directory}: more than {MAX_ADVISORY_FILES} files; the rest were not read")
                break
            try:
                if path.stat().st_size > MAX_ADVISORY_FILE:
                    out.problems.append(f"{path}: larger than {MAX_ADVISORY_FILE >> 20} MiB, not read")
                    continue
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                out.problems.append(f"{path}: not OSV JSON ({type(e).__name__})")
                continue
            for item in doc if isinstance(doc, list) else [doc]:
                adv = _advisory(item, bundled, str(path))
                if adv is None:
                    continue
                if adv.remote_high:
                    out.advisories.append(adv)
                else:
                    out.not_remote += 1
    return out


@lru_cache(maxsize=8)
def _cached(extra: tuple[str, ...]) -> AdvisorySet:
    return load_advisories(extra)


# -- which OSV ecosystems describe this image ---------------------------------------------------------
def _major(version: str | None) -> str:
    return (version or "").split(".")[0]


def ecosystem_matches(ecosystem: str, os: OsFacts) -> bool:
    eco = ecosystem.strip()
    name, _, rest = eco.partition(":")
    name = name.lower()
    ver = rest.split(":")[0].strip()
    distro = (os.distro or "").lower()
    if name == "debian":
        return distro == "debian" and (not ver or _major(os.version) == _major(ver))
    if name == "ubuntu":
        return distro == "ubuntu" and (not ver or (os.version or "") == ver.replace(":LTS", ""))
    if name == "alpine":
        return distro == "alpine" and (not ver or ".".join((os.version or "").split(".")[:2]) == ver.lstrip("v"))
    if os.family == "rhel" and distro != "fedora" and name in ("red hat", "rocky linux", "almalinux", "centos", "rhel", "oracle linux",
                                        "alibaba cloud linux", "anolis"):
        if name == "red hat":  # "Red Hat:enterprise_linux:9::baseos"
            m = re.search(r"(\d+)", rest)
            ver = m.group(1) if m else ""
        return not ver or _major(os.version) == _major(ver)
    if name == "fedora":
        return distro == "fedora" and (not ver or _major(os.version) == _major(ver))
    if name.startswith("opensuse") or name == "suse":
        if ver.lower() == "tumbleweed":
            return distro == "opensuse-tumbleweed"
        return os.family == "suse" and distro != "opensuse-tumbleweed" and \
            (not ver or ver.lower().split()[-1].startswith((os.version or "?")[:2]))
    return False


def _in_range(version: str, events: list[dict], cmp) -> bool:
    """OSV ECOSYSTEM range semantics, events taken in version order: introduced opens the range,
    fixed and limit close it (exclusive), last_affected closes it after that version."""
    evs = []
    for ev in events:
        if isinstance(ev, dict):
            for kind in ("introduced", "fixed", "last_affected", "limit"):
                if kind in ev:
                    evs.append((kind, str(ev[kind])))
    order = functools.cmp_to_key(lambda a, b: -1 if a[1] == "0" else 1 if b[1] == "0" else cmp(a[1], b[1]))
    affected = False
    for kind, at in sorted(evs, key=order):
        if kind == "introduced":
            if at == "0" or cmp(version, at) >= 0:
                affected = True
        elif kind == "last_affected":
            if cmp(version, at) > 0:
                affected = False
        elif cmp(version, at) >= 0:
            affected = False
    return affected


def matches(adv: Advisory, os: OsFacts, packages: dict[str, list[Package]]) -> list[tuple[Package, str]]:
    """(installed package, why) for each package of the image inside the advisory."""
    hits = []
    for aff in adv.affected:
        pkg = aff.get("package") or {}
        if not ecosystem_matches(str(pkg.get("ecosystem", "")), os):
            continue
        for p in packages.get(str(pkg.get("name", "")), []):
            cmp = COMPARE[p.manager]
            if p.version in [str(v) for v in aff.get("versions") or []]:
                hits.append((p, f"version {p.version} is listed as affected"))
                continue
            for r in aff.get("ranges") or []:
                if isinstance(r, dict) and r.get("type") == "ECOSYSTEM" and _in_range(p.version, r.get("events") or [], cmp):
                    fixed = next((str(e["fixed"]) for e in r.get("events") or [] if isinstance(e, dict) and "fixed" in e),
                                 None)
                    hits.append((p, f"{p.version} < {fixed} (fixed)" if fixed else f"{p.version} is affected"))
                    break
    return hits


REFERENCE_HINTS = {"debian": "debian.org", "ubuntu": "ubuntu.com", "rhel": "redhat.com", "suse": "suse",
                   "alpine": "alpinelinux", "fedora": "fedora"}


def _reference_for(a: Advisory, os: OsFacts) -> str | None:
    """The advisory of the image's own distribution when there is one, else the first reference."""
    hint = REFERENCE_HINTS.get(os.distro or "") or REFERENCE_HINTS.get(os.family or "")
    return next((r for r in a.references if hint and hint in r), a.references[0] if a.references else None)


@check("vuln.remote", "No remotely exploitable high-risk vulnerabilities", "vulns", "high", needs_guest=True,
       reads=PACKAGE_DBS)
def remote(c: Check, ctx: Context) -> CheckResult:
    db = installed_packages(ctx.tree)
    if db.manager is None or (not db.problem and not db.packages):
        why = db.problem or f"the {db.manager} database lists no installed packages"
        return c.result("skip", f"Skipped: {why}, so installed versions cannot be compared with advisories.",
                        severity="info")
    if db.problem:  # the database is there but was not read: nothing was decided
        return c.result("warn", f"Not reviewed: {printable(db.problem, 300)}; the installed versions could not be "
                                "compared with the advisories.", [f"package database: {printable(db.path)}"],
                        "Check the package database by hand (or make it readable) and review again.", incomplete=True)
    adv = _cached(tuple(ctx.advisories))
    by_name = db.by_name()
    evidence: list[str] = []
    for a in adv.advisories:
        for p, why in matches(a, ctx.os, by_name):
            cve = next((x for x in [a.id] + a.aliases if x.startswith("CVE-")), a.id)
            ref = _reference_for(a, ctx.os)
            ref = f" ({ref})" if ref else ""
            evidence.append(f"{printable(p.name)} {printable(p.version, 80)}: {cve} {printable(a.summary, 160)}; "
                            f"{printable(why, 120)}{ref}")
    info = (f"{len(db.packages)} {db.manager} packages compared with {len(adv.advisories)} remotely exploitable "
            "high-risk advisories")
    tail = [info] + [printable(p) for p in adv.problems[:5]]
    if db.truncated:
        tail.insert(0, f"not read: {printable(db.path)} lists more than {len(db.packages)} packages; only the first "
                       f"{len(db.packages)} were compared")
    if adv.not_remote:
        tail.append(f"{adv.not_remote} operator advisories were left out (not network-exploitable or not high)")
    if evidence:
        return c.result("fail", f"{len(evidence)} installed package(s) have remotely exploitable high-risk "
                                "vulnerabilities; the import rules forbid them.", evidence + tail,
                        "Update the packages inside the image (boot it once, or use virt-customize --update) "
                        "and review it again.")
    if db.truncated:
        return c.result("warn", "Not fully reviewed: the package database is larger than the workbench reads; no "
                                "advisory matched the packages that were read.", tail,
                        "Compare the rest by hand (dpkg -l / rpm -qa inside the image) and review again.", incomplete=True)
    return c.result("pass", "No installed package is inside a known remotely exploitable high-risk advisory.", tail)
