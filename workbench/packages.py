"""The installed packages of the image, from its package database (dpkg, apk or rpm)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workbench.image.tree import GuestTree
from workbench.rpmdb import MAX_PACKAGES, RpmDbError, read_bdb, read_sqlite

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_UPDATES = "/var/lib/dpkg/updates"
APK_DBS = ("/lib/apk/db/installed", "/usr/lib/apk/db/installed")
RPM_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
RPM_FILES = ("rpmdb.sqlite", "rpmdb.sqlite-wal", "Packages", "Packages.db")
PACKAGE_DBS = (DPKG_STATUS, DPKG_UPDATES, *APK_DBS, *(f"{d}/{n}" for d in RPM_DIRS for n in RPM_FILES))
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


C_SPACE = " \t\n\v\f\r"  # c_isspace
# The source package of binaries the advisories name by source, for a stanza without its Source field (dpkg
# then takes the binary's own name; a status file edited to drop Source must not hide openssh or openssl).
KNOWN_SOURCES = {"openssh-server": "openssh", "openssh-client": "openssh", "openssh-sftp-server": "openssh",
                 "ssh": "openssh", "libssl1.0.0": "openssl", "libssl1.0.2": "openssl", "libssl1.1": "openssl",
                 "libssl3": "openssl", "liblzma5": "xz-utils"}
DPKG_FIELDS = ("package", "version", "status", "source", "architecture")


def _dpkg_stanzas(text: str):
    """Each stanza's fields (lower-case names) as dpkg's parser (lib/dpkg/parse.c) splits them: field names
    in any case, ended by a blank or ':'; a value runs on over lines that start with any white space (CR, tab,
    form feed too) and only an empty line ends a stanza. Where dpkg would refuse the file, this reads on."""
    n, i = len(text), 0
    while True:
        while i < n and text[i] in "\n\x1a":
            i += 1
        if i >= n:
            return
        fields: dict[str, str] = {}
        while i < n:
            j = i
            while j < n and text[j] not in C_SPACE + ":\x1a":
                j += 1
            name = text[i:j].lower()
            while j < n and text[j] in C_SPACE and text[j] != "\n":
                j += 1
            if j >= n or text[j] != ":" or not name:  # dpkg refuses the file here; read on from the next line
                nl = text.find("\n", j)
                i = n if nl < 0 else nl + 1
                if i >= n or text[i] == "\n":
                    break
                continue
            j += 1
            while j < n and text[j] in C_SPACE and text[j] != "\n":
                j += 1
            start = j
            while True:  # the value: this line, then continuation lines
                nl = text.find("\n", j)
                if nl < 0 or nl + 1 >= n or text[nl + 1] == "\n" or text[nl + 1] not in C_SPACE:
                    end = n if nl < 0 else nl
                    break
                j = nl + 1
            if name in DPKG_FIELDS:
                fields.setdefault(name, text[start:end].rstrip(C_SPACE)[:512])
            i = end + 1
            if end >= n or (i < n and text[i] == "\n"):
                break
        if fields:
            yield fields


def parse_dpkg_status(text: str, limit: int = MAX_PACKAGES) -> list[Package]:
    """Installed packages (whose files are on disk); at most limit (the caller compares the count to tell
    truncation)."""
    out: list[Package] = []
    for fields in _dpkg_stanzas(text):
        state = (fields.get("status", "").split() + ["", "", ""])[2].lower()
        name = fields.get("package", "").lower()
        if state in FILES_PRESENT and name and fields.get("version"):
            src = fields.get("source", "").split(" ", 1)[0] or KNOWN_SOURCES.get(name)
            out.append(Package(name, fields["version"], "dpkg", src, fields.get("architecture")))
            if len(out) >= limit:
                break
    return out


def dpkg_updates(tree: GuestTree) -> list[str]:
    """dpkg's journal (/var/lib/dpkg/updates/NNNN): entries dpkg applies over the status file when it opens
    its database, in name order."""
    names = [n for n in tree.listdir(DPKG_UPDATES) if n.isascii() and n.isdigit()]
    return [f"{DPKG_UPDATES}/{n}" for n in sorted(names)]


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
        packages: list[Package] = []
        for path in [DPKG_STATUS] + dpkg_updates(tree):
            data = tree.read_bytes(path)
            if data is None:
                return PackageDb("dpkg", DPKG_STATUS, problem=f"{path} could not be read ({_why(tree, path)})")
            packages += parse_dpkg_status(data.decode("utf-8", "replace"), MAX_PACKAGES - len(packages))
        return _counted(PackageDb("dpkg", DPKG_STATUS, packages))
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
