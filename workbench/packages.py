"""The installed packages of the image, from its package database (dpkg, apk or rpm)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workbench.image.tree import GuestTree
from workbench.rpmdb import MAX_PACKAGES, RpmDbError, read_bdb, read_sqlite

DPKG_STATUS = "/var/lib/dpkg/status"
APK_DBS = ("/lib/apk/db/installed", "/usr/lib/apk/db/installed")
RPM_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
RPM_FILES = ("rpmdb.sqlite", "rpmdb.sqlite-wal", "Packages", "Packages.db")
PACKAGE_DBS = (DPKG_STATUS, *APK_DBS, *(f"{d}/{n}" for d in RPM_DIRS for n in RPM_FILES))
# dpkg states in which the package's files are on disk (config-files and not-installed are not)
FILES_PRESENT = {"installed", "half-configured", "unpacked", "half-installed", "triggers-awaited",
                 "triggers-pending"}


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    manager: str  # dpkg | rpm | apk
    source: str | None = None
    arch: str | None = None


@dataclass
class PackageDb:
    manager: str | None
    path: str | None = None
    packages: list[Package] = field(default_factory=list)
    problem: str | None = None  # why the database (which exists) could not be read, if it could not
    truncated: bool = False  # more than MAX_PACKAGES entries: the rest was not read

    def by_name(self) -> dict[str, list[Package]]:
        out: dict[str, list[Package]] = {}
        for p in self.packages:
            out.setdefault(p.name, []).append(p)
            if p.source and p.source != p.name:
                out.setdefault(p.source, []).append(p)
        return out


def parse_dpkg_status(text: str) -> list[Package]:
    """Installed packages; at most MAX_PACKAGES (the caller compares the count to tell truncation)."""
    out: list[Package] = []
    fields: dict[str, str] = {}

    def flush():
        state = (fields.get("Status", "").split() + ["", "", ""])[2]
        if state in FILES_PRESENT and fields.get("Package") and fields.get("Version"):
            src = fields.get("Source", "").split(" ", 1)[0] or None
            out.append(Package(fields["Package"], fields["Version"], "dpkg", src, fields.get("Architecture")))

    for line in text.splitlines():
        if not line.strip():
            if fields:
                flush()
                fields = {}
                if len(out) >= MAX_PACKAGES:
                    break
            continue
        if line[0] in " \t":
            continue  # continuation lines (descriptions, conffiles): not needed
        key, sep, value = line.partition(":")
        if sep and key in ("Package", "Version", "Status", "Source", "Architecture"):
            fields[key] = value.strip()[:512]
    if fields:
        flush()
    return out


def parse_apk_installed(text: str) -> list[Package]:
    out, fields = [], {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if fields.get("P") and fields.get("V"):
                out.append(Package(fields["P"], fields["V"], "apk", fields.get("o"), fields.get("A")))
                if len(out) >= MAX_PACKAGES:
                    break
            fields = {}
            continue
        if len(line) > 2 and line[1] == ":" and line[0] in "PVoA":
            fields[line[0]] = line[2:].strip()[:512]
    return out


_SRPM = re.compile(r"^(?P<name>.+)-[^-]+-[^-]+\.src\.rpm$")


def _rpm_packages(headers) -> list[Package]:
    out = []
    for h in headers:
        if h.name == "gpg-pubkey":
            continue
        m = _SRPM.match(h.sourcerpm or "")
        out.append(Package(h.name, h.evr, "rpm", m.group("name") if m else None, h.arch))
    return out


def _why(tree: GuestTree, path: str) -> str:
    real = tree.resolve(path) or path
    return tree.unread.get(real) or "its content was not read"


def _counted(db: PackageDb) -> PackageDb:
    db.truncated = len(db.packages) >= MAX_PACKAGES
    return db


def installed_packages(tree: GuestTree) -> PackageDb:
    """The first database found, dpkg then apk then rpm. A database that exists but cannot be read, or is
    truncated, says so (problem, truncated): the caller must not take it as "nothing installed"."""
    if tree.exists(DPKG_STATUS):
        text = tree.read_text(DPKG_STATUS)
        if text is None:
            return PackageDb("dpkg", DPKG_STATUS, problem=f"{DPKG_STATUS} could not be read ({_why(tree, DPKG_STATUS)})")
        return _counted(PackageDb("dpkg", DPKG_STATUS, parse_dpkg_status(text)))
    for path in APK_DBS:
        if tree.exists(path):
            text = tree.read_text(path)
            if text is None:
                return PackageDb("apk", path, problem=f"{path} could not be read ({_why(tree, path)})")
            return _counted(PackageDb("apk", path, parse_apk_installed(text)))
    for d in RPM_DIRS:
        for name, reader in (("rpmdb.sqlite", "sqlite"), ("Packages", "bdb"), ("Packages.db", "ndb")):
            path = f"{d}/{name}"
            if not tree.exists(path):
                continue
            data = tree.read_bytes(path)
            if data is None:
                return PackageDb("rpm", path, problem=f"{path} could not be read ({_why(tree, path)})")
            try:
                if reader == "sqlite":
                    headers = read_sqlite(data, tree.read_bytes(path + "-wal"))
                elif reader == "bdb":
                    headers = read_bdb(data)
                else:
                    return PackageDb("rpm", path, problem="the rpm ndb format (SUSE 15.3 and later) is not "
                                                          "supported yet")
            except RpmDbError as e:
                return PackageDb("rpm", path, problem=f"{path}: {e}")
            return _counted(PackageDb("rpm", path, _rpm_packages(headers)))
    return PackageDb(None, problem="no package database was found (dpkg, apk or rpm)")
