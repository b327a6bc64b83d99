"""What the image will call its NICs on ECS: the kernel's names (eth0, eth1) or udev's predictable ones.

Shared by the interface-name check, the simulation (whose sandbox gets NICs by those names) and the rehearsal
(which compares against a simulation made with the names its own guest will use); parser_binding says whether the
name matters at all to the parser that will run (it does not where the parser binds by MAC or renames by MAC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.flavors import flavor as flavor_record
from workbench.image.bootloader import has_word
from workbench.image.tree import GuestTree
from workbench.osconf import MAC
from workbench.paths import assets_dir

PERSISTENT_RULES = "/etc/udev/rules.d/70-persistent-net.rules"
OS_CONF_RULES = "/etc/udev/rules.d/70-os-conf-net.rules"  # the parser's rule (NET_RULES): the NICs it renamed
_OS_CONF_RULE = re.compile(r'^SUBSYSTEM=="net",.* ATTR\{address\}=="([0-9a-f:]{17})",.* NAME="([A-Za-z0-9_-]{1,15})"$',
                           re.M)
NAMING = ("/usr/lib/udev/rules.d/80-net-setup-link.rules", "/lib/udev/rules.d/80-net-setup-link.rules",
          "/usr/lib/systemd/network/99-default.link", "/lib/systemd/network/99-default.link")
UDEV = ("/usr/lib/systemd/systemd-udevd", "/lib/systemd/systemd-udevd", "/sbin/udevd")
KERNEL_NAMES = ("eth0", "eth1")
# a virtio NIC in PCI slot 5 (6 for the second), as the rehearsal places them, gets these predictable names
SLOT_NAMES = ("ens5", "ens6")


def predictable_names(tree: GuestTree, cmdline: str) -> tuple[bool, list[str]]:
    """Whether udev will give the NIC a predictable name (ens5, enp0s3) on ECS, and why."""
    if not any(tree.present(p) for p in UDEV):
        return False, ["no udev in the image: the kernel's name (eth0) stays"]
    if has_word(cmdline, "net.ifnames=0"):
        return False, ["net.ifnames=0 is on the kernel command line"]
    for rule in ("/etc/udev/rules.d/80-net-setup-link.rules", "/etc/systemd/network/99-default.link"):
        if tree.readlink(rule) == "/dev/null":
            return False, [f"{rule} is masked (a link to /dev/null)"]
    override = tree.read_text("/etc/systemd/network/99-default.link", 65536)
    if override and re.search(r"^\s*NamePolicy\s*=\s*(kernel)?\s*$", override, re.M):
        return False, ["/etc/systemd/network/99-default.link keeps the kernel's names"]
    naming = [p for p in NAMING if tree.present(p)]
    if not naming:
        return False, ["udev has no naming policy installed (80-net-setup-link.rules, 99-default.link)"]
    return True, [f"udev names NICs by {naming[0]}, and the command line has no net.ifnames=0"]


def expected_names(tree: GuestTree, cmdline: str) -> tuple[str, str]:
    """The names the image's first and second NIC will have when it boots with cmdline."""
    return SLOT_NAMES if predictable_names(tree, cmdline)[0] else KERNEL_NAMES


def is_classic(values: dict) -> bool:
    """A classic-network os.conf: the platform writes eth1 keys (eth1 then carries the default route)."""
    return any(k.startswith("eth1_") for k in values)


def os_conf_macs(values: dict) -> list[str]:
    """The MAC of each NIC an os.conf describes (eth0, and eth1 on a classic network), lower-case. The os.conf is
    untrusted: a value that is not a unicast MAC is replaced by a local one (52:54:00:12:34:38, :39), so that it
    never reaches qemu's arguments."""
    macs = []
    for n, iface in enumerate(("eth0", "eth1")[:2 if is_classic(values) else 1]):
        mac = str(values.get(f"{iface}_mac_addr") or "")
        macs.append(mac.lower() if MAC.match(mac) and not int(mac[:2], 16) & 1 else f"52:54:00:12:34:{56 + n:02x}")
    return macs


def nics_at_boot(names: tuple[str, ...], macs: list[str], tree: GuestTree, udev: bool) -> list[tuple[str, str]]:
    """The NICs a boot starts with, as (name, MAC): one per MAC, named as the image names them (names), or as the
    parser's rule from an earlier boot names them where a udev daemon applies it (udev; where none does, the parser
    gives them those names itself, once it runs)."""
    rule = {m.group(1): m.group(2) for m in _OS_CONF_RULE.finditer(tree.read_text(OS_CONF_RULES, 65536) or "")}
    return [(rule.get(mac, name) if udev else name, mac) for name, mac in zip(names, macs)]


@dataclass(frozen=True)
class Binding:
    """How the parser that will run finds ECS's NIC."""
    kind: str  # mac: by its MAC | rename: renamed by its MAC to its os.conf name, kept so | name: by name | unknown
    why: str

    @property
    def any_name(self) -> bool:
        """The NIC is configured whatever udev or the kernel calls it."""
        return self.kind in ("mac", "rename")


# signs that a script finds the NIC by its MAC (reads the os.conf's ethN_mac_addr, matches or renames by address)
MAC_SIGNS = re.compile(r"_mac_addr|macaddress|MACAddress=|HWADDR|mac-address|ATTR\{address\}|/sys/class/net/\S*/address"
                       r"|set-name|ip link set \S+ name ", re.I)
BY_NAME = re.compile(r"\beth[01]\b")


def _persist(flavor: str) -> str:
    """The flavour's NET_PERSIST (assets/parsers/net-NAME.sh): what keeps a renamed NIC's name at later boots."""
    text = (assets_dir() / "parsers" / f"net-{flavor}.sh").read_text()
    m = re.search(r"^NET_PERSIST=(\w+)", text, re.M)
    return m.group(1) if m else "none"


def parser_binding(flavor: str, script: str | None = None) -> Binding:
    """How the parser finds the NIC: the operator's own script (script) as its text shows, else the flavour's as its
    record (bind) and its script (NET_PERSIST) say."""
    if script is not None:
        named = sorted(set(BY_NAME.findall(script)))
        sign = MAC_SIGNS.search(script)
        if sign:
            return Binding("mac", f"the operator's parser script finds the NIC by its MAC (it uses "
                                  f"{sign.group(0).strip()!r})")
        if named:
            return Binding("name", f"the operator's parser script configures {', '.join(named)} by name and never "
                                   "looks at the NIC's MAC")
        return Binding("unknown", "the operator's parser script names no NIC and no MAC: how it finds the NIC is "
                                  "not known")
    record = flavor_record(flavor)
    if record.bind == "mac":
        return Binding("mac", f"the {flavor} parser binds its configuration to the os.conf's MAC, whatever the NIC "
                              "is called")
    persist = _persist(flavor)
    if persist == "udev":
        return Binding("rename", f"the {flavor} parser renames the NIC with the os.conf's MAC to its os.conf name "
                                 "(eth0) before configuring it, and its udev rule (70-os-conf-net.rules) keeps that "
                                 "name at every boot")
    if persist == "netplan":
        return Binding("rename", f"the {flavor} parser matches the NIC by the os.conf's MAC and names it eth0 "
                                 "(netplan's set-name), at this boot and every later one")
    return Binding("name", f"the {flavor} parser configures the NIC by its os.conf name and keeps no name for it")
