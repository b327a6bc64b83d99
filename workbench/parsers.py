"""The project's first-boot parser: one POSIX sh script per network stack, and which one an image needs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench import __version__
from workbench.image.osinfo import OsFacts
from workbench.image.preflight import ImageFacts
from workbench.osconf import MAX_LINES
from workbench.paths import assets_dir

FLAVORS = {
    "sysconfig": "RHEL/CentOS network-scripts (ifcfg and route files)",
    "ifupdown": "Debian/Ubuntu/Alpine ifupdown (/etc/network/interfaces.d)",
    "netplan": "Ubuntu netplan (/etc/netplan)",
    "networkd": "systemd-networkd (/etc/systemd/network)",
    "networkmanager": "NetworkManager keyfiles (/etc/NetworkManager/system-connections)",
    "wicked": "SUSE wicked (/etc/sysconfig/network)",
    "netifrc": "OpenRC netifrc (/etc/conf.d/net)",
}
FAMILY_DEFAULT = {"rhel": "sysconfig", "debian": "ifupdown", "suse": "wicked", "alpine": "ifupdown",
                  "gentoo": "netifrc", "arch": "networkd"}
INSTALL_PATH = "/etc/init.d/os-conf"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{0,64}$")


@dataclass(frozen=True)
class ParserChoice:
    flavor: str
    reason: str


def choose_flavor(os: OsFacts | None) -> ParserChoice:
    if os is not None and os.network in FLAVORS:
        return ParserChoice(os.network, f"the image configures its network with {os.network}")
    if os is not None and os.family in FAMILY_DEFAULT:
        flavor = FAMILY_DEFAULT[os.family]
        return ParserChoice(flavor, f"no network configuration found; {flavor} is the {os.family} default")
    return ParserChoice("sysconfig", "the image's network stack is unknown; sysconfig is the documented default")


def first_partition_ids(facts: ImageFacts) -> tuple[str, str]:
    """The UUID and label the parser looks the first partition up by (only safe characters pass)."""
    p = facts.first_partition
    if p is None:
        return "", ""
    uuid = p.fs.uuid or ""
    label = p.fs.label or ""
    return (uuid if _SAFE_ID.match(uuid) else "", label if _SAFE_ID.match(label) else "")


def build_script(flavor: str, first_uuid: str = "", first_label: str = "", init: str = "lsb") -> str:
    """The exact text injected as /etc/init.d/os-conf (and run by the simulation).

    init: "lsb" (an LSB init script, which sysvinit and systemd run) or "openrc" (an openrc-run
    script with the same functions, for OpenRC images).
    """
    if flavor not in FLAVORS:
        raise ValueError(f"unknown parser flavour {flavor!r} (known: {', '.join(FLAVORS)})")
    if init not in ("lsb", "openrc"):
        raise ValueError(f"unknown init style {init!r}")
    if not _SAFE_ID.match(first_uuid) or not _SAFE_ID.match(first_label):
        raise ValueError("the first partition's UUID or label has characters the parser cannot carry")
    d = assets_dir() / "parsers"
    template = (d / "os-conf.sh.in").read_text(encoding="utf-8")
    network = (d / f"net-{flavor}.sh").read_text(encoding="utf-8").rstrip("\n")
    header = (d / f"header-{init}.sh").read_text(encoding="utf-8")
    portal = (d / f"portal-{init}.sh").read_text(encoding="utf-8")
    return (template.replace("@@HEADER@@", header).replace("@@PORTAL@@", portal)
            .replace("@@NETWORK@@", network).replace("@@FLAVOR@@", flavor)
            .replace("@@VERSION@@", __version__).replace("@@FIRST_UUID@@", first_uuid)
            .replace("@@FIRST_LABEL@@", first_label).replace("@@MAX_LINES@@", str(MAX_LINES)))
