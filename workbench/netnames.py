"""What the image will call its NICs on ECS: the kernel's names (eth0, eth1) or udev's predictable ones.

Shared by the interface-name check, the simulation (whose sandbox gets NICs by those names) and the rehearsal
(which compares against a simulation made with the names its own guest will use).
"""

from __future__ import annotations

import re

from workbench.image.bootloader import has_word
from workbench.image.tree import GuestTree
from workbench.osconf import MAC

PERSISTENT_RULES = "/etc/udev/rules.d/70-persistent-net.rules"
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
