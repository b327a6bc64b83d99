"""The parser's network flavours: one record per network stack, read by everything that needs to know one.

A record says what the flavour is (its name, its description for the CLI and the TUI), how an image that uses
the stack is recognised and which flavour wins when an image has several (the order of FLAVORS), which families
default to it, what must be pulled from the image to recognise it, the commands its script calls that the
simulation stands in for, the network daemons it can live beside, and the services of its stack per init system
(the parser starts before all of them). The script itself is assets/parsers/net-NAME.sh; its NET_BIND line must
say what `bind` says (a test compares them).

Adding a flavour: a record here, assets/parsers/net-NAME.sh, and its golden cases in tests/unit/test_parsers.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from workbench.image.tree import GuestTree


@dataclass(frozen=True)
class Seen:
    """What detection looks at besides the tree: the family, the init system, the enabled systemd units."""
    family: str | None
    init: str | None
    enabled: frozenset[str]


@dataclass(frozen=True)
class Flavor:
    name: str
    description: str
    detect: Callable[[GuestTree, Seen], str | None]
    """Evidence (one line) that the image configures its network with this stack, or None."""
    bind: str
    """mac: the configuration matches the NIC by its MAC; name: the NIC is renamed to its os.conf name first."""
    defaults_for: tuple[str, ...] = ()
    """Families whose images get this flavour when no network configuration is found."""
    daemon: str | None = None
    """The stack's own daemon, as net.conflicts names it (networkmanager, networkd), if it has one."""
    coexists: tuple[str, ...] = ()
    """Daemons that may run beside this flavour's configuration without fighting it."""
    probes: tuple[str, ...] = ()
    """Paths whose presence detection (or the parser) looks at: probed, not read."""
    stubs: tuple[str, ...] = ()
    """Commands the script calls whose effects reach outside the files: recording stand-ins in the simulation."""
    services: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Init style -> the stack's services, which the parser is ordered before."""


def _listed(tree: GuestTree, directory: str, test: Callable[[str], bool]) -> str | None:
    names = [n for n in tree.listdir(directory) if test(n)]
    return f"{directory}/{names[0]}" if names else None


def _netplan(tree: GuestTree, seen: Seen) -> str | None:
    return _listed(tree, "/etc/netplan", lambda n: n.endswith((".yaml", ".yml")))


def _sysconfig(tree: GuestTree, seen: Seen) -> str | None:
    return _listed(tree, "/etc/sysconfig/network-scripts", lambda n: n.startswith("ifcfg-") and n != "ifcfg-lo")


def _wicked(tree: GuestTree, seen: Seen) -> str | None:
    found = _listed(tree, "/etc/sysconfig/network", lambda n: n.startswith("ifcfg-") and n != "ifcfg-lo")
    if found:
        return found
    if seen.family == "suse" and ("wicked.service" in seen.enabled or tree.exists("/usr/sbin/wicked")):
        return "/etc/sysconfig/network/"
    return None


def _networkmanager(tree: GuestTree, seen: Seen) -> str | None:
    if tree.listdir("/etc/NetworkManager/system-connections"):
        return "/etc/NetworkManager/system-connections"
    return "NetworkManager.service is enabled" if "NetworkManager.service" in seen.enabled else None


def _networkd(tree: GuestTree, seen: Seen) -> str | None:
    found = _listed(tree, "/etc/systemd/network", lambda n: n.endswith(".network"))
    return found if found and ("systemd-networkd.service" in seen.enabled or not seen.enabled) else None


def _netifrc(tree: GuestTree, seen: Seen) -> str | None:
    if tree.is_file("/etc/conf.d/net") and (seen.init == "openrc" or tree.exists("/etc/init.d/net.lo")):
        return "/etc/conf.d/net"
    return None


def _ifupdown(tree: GuestTree, seen: Seen) -> str | None:
    if tree.read_text("/etc/network/interfaces", 65536) is not None or tree.listdir("/etc/network/interfaces.d"):
        return "/etc/network/interfaces"
    return None


# In preference order: the first whose detection finds the image's stack is the one the parser writes for
# (netplan renders to networkd or NetworkManager; RHEL 8 ships NetworkManager reading ifcfg files, which the
# sysconfig writer serves).
_RECORDS = (
    Flavor("netplan", "Ubuntu netplan (/etc/netplan)", _netplan, "name", coexists=("networkmanager", "networkd"),
           probes=("/usr/sbin/netplan",), stubs=("netplan",),
           services={"systemd": ("systemd-networkd.service", "NetworkManager.service")}),
    Flavor("sysconfig", "RHEL/CentOS network-scripts (ifcfg and route files)", _sysconfig, "name",
           defaults_for=("rhel",), coexists=("networkmanager",), probes=("/sbin/ifup", "/usr/sbin/ifup"),
           stubs=("ifup", "ifdown", "nmcli"),
           services={"systemd": ("network.service", "NetworkManager.service"), "sysvinit": ("network",)}),
    Flavor("wicked", "SUSE wicked (/etc/sysconfig/network)", _wicked, "name", defaults_for=("suse",),
           probes=("/usr/sbin/wicked",), stubs=("wicked",),
           services={"systemd": ("wicked.service",), "sysvinit": ("network",)}),
    Flavor("networkmanager", "NetworkManager keyfiles (/etc/NetworkManager/system-connections)", _networkmanager,
           "mac", daemon="networkmanager", coexists=("networkmanager",), probes=("/usr/sbin/NetworkManager",),
           stubs=("nmcli",), services={"systemd": ("NetworkManager.service",), "sysvinit": ("NetworkManager",),
                                       "openrc": ("NetworkManager",)}),
    Flavor("networkd", "systemd-networkd (/etc/systemd/network)", _networkd, "mac", defaults_for=("arch",),
           daemon="networkd", coexists=("networkd",), probes=("/usr/lib/systemd/systemd-networkd",
                                                              "/lib/systemd/systemd-networkd"),
           stubs=("networkctl",), services={"systemd": ("systemd-networkd.service",)}),
    Flavor("netifrc", "OpenRC netifrc (/etc/conf.d/net)", _netifrc, "name", defaults_for=("gentoo",),
           probes=("/etc/init.d/net.lo",), stubs=("rc-service",), services={"openrc": ("net", "net.lo")}),
    Flavor("ifupdown", "Debian/Ubuntu/Alpine ifupdown (/etc/network/interfaces.d)", _ifupdown, "name",
           defaults_for=("debian", "alpine"), probes=("/sbin/ifup", "/usr/sbin/ifup"), stubs=("ifup", "ifdown"),
           services={"systemd": ("networking.service",), "sysvinit": ("networking",),
                     "openrc": ("networking",)}),
)
FLAVORS: dict[str, Flavor] = {f.name: f for f in _RECORDS}
FALLBACK = "sysconfig"  # the documented default when nothing is known


def flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise ValueError(f"unknown parser flavour {name!r} (known: {', '.join(FLAVORS)})") from None


def descriptions() -> dict[str, str]:
    return {f.name: f.description for f in _RECORDS}


def detect_network(tree: GuestTree, seen: Seen) -> tuple[str | None, list[str]]:
    """The network stack the parser must write for (the first found in preference order), with the evidence."""
    found = [(f.name, why) for f in _RECORDS if (why := f.detect(tree, seen))]
    return (found[0][0] if found else None), [f"{name}: {why}" for name, why in found]


def family_default(family: str | None) -> str | None:
    return next((f.name for f in _RECORDS if family and family in f.defaults_for), None)


def all_probes() -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for f in _RECORDS for p in f.probes))


def all_stubs() -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for f in _RECORDS for s in f.stubs))


def services_for(init: str) -> tuple[str, ...]:
    """Every stack's services under an init style: the parser is ordered before all of them."""
    return tuple(dict.fromkeys(s for f in _RECORDS for s in f.services.get(init, ())))
