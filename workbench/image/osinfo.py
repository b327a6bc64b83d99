"""What Linux is in the image, from pulled files only (no inspect_os, no guest binaries run)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from workbench.flavors import Seen, detect_network
from workbench.image.tree import GuestTree

RHEL_IDS = {"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "alinux", "anolis",
            "openeuler", "kylin", "euleros", "circle", "scientific", "virtuozzo"}
DEBIAN_IDS = {"debian", "ubuntu", "linuxmint", "raspbian", "kali", "devuan", "uos", "deepin"}
SUSE_IDS = {"sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "sled", "sle-micro"}


@dataclass
class OsFacts:
    distro: str | None = None
    version: str | None = None
    family: str | None = None
    init: str | None = None
    network: str | None = None
    first_partition_mountpoint: str | None = None
    pretty_name: str | None = None
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"distro": self.distro, "version": self.version, "family": self.family,
                "init": self.init, "network": self.network,
                "first_partition_mountpoint": self.first_partition_mountpoint,
                "pretty_name": self.pretty_name}


def parse_env_file(text: str, max_lines: int = 500) -> dict[str, str]:
    """KEY=value lines with optional quotes (os-release, sysconfig). Never evaluated."""
    out: dict[str, str] = {}
    for line in text.splitlines()[:max_lines]:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[7:].strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key] = value[:512]
    return out


def _family(distro: str | None, like: str) -> str | None:
    ids = {distro or ""} | set(like.split())
    if ids & RHEL_IDS:
        return "rhel"
    if ids & DEBIAN_IDS:
        return "debian"
    if ids & SUSE_IDS or any(i.startswith("opensuse") for i in ids):
        return "suse"
    for fam in ("alpine", "arch", "gentoo"):
        if fam in ids:
            return fam
    return None


def detect_release(tree: GuestTree) -> tuple[str | None, str | None, str | None, str | None]:
    """(distro, version, family, pretty_name)."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = tree.read_text(path, 65536)
        if text:
            rel = parse_env_file(text)
            distro = rel.get("ID", "").lower() or None
            version = rel.get("VERSION_ID") or None
            if distro == "centos" and version and "." not in version:
                full = _release_version(tree.read_text("/etc/centos-release", 4096) or "")
                version = full or version
            return distro, version, _family(distro, rel.get("ID_LIKE", "").lower()), rel.get("PRETTY_NAME")
    for path, distro in (("/etc/centos-release", "centos"), ("/etc/redhat-release", "rhel"),
                         ("/etc/SuSE-release", "sles"), ("/etc/alpine-release", "alpine"),
                         ("/etc/debian_version", "debian"), ("/etc/gentoo-release", "gentoo")):
        text = tree.read_text(path, 4096)
        if text is not None:
            first = text.strip().splitlines()[0] if text.strip() else ""
            if path == "/etc/redhat-release" and first.lower().startswith("centos"):
                distro = "centos"
            version = _release_version(first) if "release" in first.lower() else first.strip() or None
            return distro, version, _family(distro, ""), first or None
    return None, None, None, None


def _release_version(line: str) -> str | None:
    m = re.search(r"release\s+([0-9][0-9.]*)", line)
    if not m:
        return None
    parts = m.group(1).strip(".").split(".")
    return ".".join(parts[:2])


def _enabled_units(tree: GuestTree) -> set[str]:
    names = set()
    for base in ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"):
        for d in tree.listdir(base):
            if d.endswith((".wants", ".requires")):
                names.update(tree.listdir(f"{base}/{d}"))
    return names


# the init system by the name of the program /sbin/init leads to (a link, as every one of them installs it)
INIT_PROGRAMS = (("systemd", "systemd"), ("openrc", "openrc"), ("runit", "runit"), ("busybox", "busybox"),
                 ("upstart", "upstart"), ("s6-", "s6"), ("dinit", "dinit"), ("shepherd", "shepherd"))


def init_program(tree: GuestTree) -> str | None:
    """Where /sbin/init (or /usr/sbin/init) leads when it is a link: the program's path, whether or not it was
    pulled (only its name is read)."""
    for init in ("/sbin/init", "/usr/sbin/init"):
        target = tree.resolve(init)
        if target and target != tree.resolve(init, follow_last=False):
            return target
    return None


def detect_init(tree: GuestTree) -> str | None:
    """The init system: from /sbin/init's link first (Debian's runit-init and busybox images keep the
    /etc/systemd/system that deb-systemd-helper makes, so a directory alone says nothing), then the init systems'
    own files. None when nothing says."""
    distro = parse_env_file(tree.read_text("/etc/os-release", 65536) or "").get("ID", "").lower()
    if tree.exists("/etc/NIXOS") or distro == "nixos":
        return "nixos"  # systemd, but its /etc is generated from the system's configuration
    program = init_program(tree)
    name = posixpath.basename(program) if program else ""
    for part, init in INIT_PROGRAMS:
        if part in name:
            return init
    if tree.is_dir("/etc/runlevels") or tree.exists("/sbin/openrc"):
        return "openrc"
    if tree.is_dir("/etc/s6-linux-init") or tree.is_dir("/etc/s6-rc"):
        return "s6"
    if tree.is_dir("/etc/systemd/system") and (tree.exists("/usr/lib/systemd/systemd")
                                               or tree.exists("/lib/systemd/systemd")):
        return "systemd"
    if tree.exists("/sbin/initctl") and any(n.endswith(".conf") for n in tree.listdir("/etc/init")):
        return "upstart"
    if tree.exists("/etc/inittab"):
        return "sysvinit"
    return None


def detect(tree: GuestTree) -> OsFacts:
    distro, version, family, pretty = detect_release(tree)
    init = detect_init(tree)
    network, evidence = detect_network(tree, Seen(family, init, frozenset(_enabled_units(tree))))
    return OsFacts(distro=distro, version=version, family=family, init=init, network=network,
                   pretty_name=pretty, evidence=evidence)
