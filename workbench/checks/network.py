"""Will it answer on ECS? The NIC must be the one the configuration names, and nothing else may configure it
at first boot against the parser."""

from __future__ import annotations

import re

from workbench.checks import Check, CheckResult, Context, check
from workbench.enablement import enabled_anywhere
from workbench.image.tree import GuestTree
from workbench.netnames import PERSISTENT_RULES, parser_binding, predictable_names
from workbench.flavors import FLAVORS
from workbench.parsers import choose_flavor
from workbench.text import printable

OURS = {"eth0", "eth1", "lo"}  # what the parser configures (and the loopback)
NET_FILES = ("/etc/udev", "/etc/systemd/network", "/etc/network", "/etc/netplan", "/etc/sysconfig",
             "/etc/NetworkManager", "/etc/cloud")


def stale_bindings(tree: GuestTree) -> list[str]:
    """Persistent-net rules that give eth0 or eth1 to a MAC address ECS's NIC will not have."""
    text = tree.read_text(PERSISTENT_RULES, 1 << 20) or ""
    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        name = re.search(r'NAME\s*=\s*"([^"]+)"', line)
        mac = re.search(r'ATTR\{address\}\s*==\s*"([^"]+)"', line)
        if name and mac and name.group(1) in OURS:
            out.append(f"{PERSISTENT_RULES}: {printable(name.group(1))} is bound to {printable(mac.group(1))}")
    return out


def chosen_flavor(ctx: Context) -> str:
    """The flavour of the parser that will run: the operator's choice, or the one the image's stack needs."""
    return ctx.flavor or choose_flavor(ctx.os).flavor


@check("net.interface-names", "The NIC will be called eth0 on ECS", "network", "high", needs_guest=True,
       reads=("/etc/udev", "/etc/systemd/network"))
def interface_names(c: Check, ctx: Context) -> CheckResult:
    """Judged with the parser that will run: a name other than eth0 matters only to a parser that configures eth0 by
    name; the workbench's parsers bind by MAC or rename the NIC by its MAC first."""
    bf = getattr(ctx.guest, "boot", None)
    cmdline = bf.cmdline if bf is not None else ""
    active, why = predictable_names(ctx.tree, cmdline)
    stale = stale_bindings(ctx.tree)
    if bf is None or bf.default is None:
        why.append("no default boot entry was found: the command line is unknown")
    binding = parser_binding(chosen_flavor(ctx), ctx.script)
    problems = []
    if active:
        problems.append("udev will name the NIC by its slot (ens5 or similar), not eth0")
    if stale:
        problems.append("a persistent-net rule binds eth0 to another machine's MAC, so ECS's NIC becomes eth1")
    if problems and binding.any_name:
        return c.result("pass", "The NIC may not be called eth0 on ECS (" + "; ".join(problems) + "), but the parser "
                                "that will run does not depend on its name: " + binding.why + ".",
                        why + stale + [binding.why])
    if problems:
        targets = ([f"cmdline:{bf.config_path}"] if active and bf is not None and bf.config_path else []) + \
                  ([f"delete:{PERSISTENT_RULES}"] if stale else [])
        if binding.kind == "unknown":
            return c.result("warn", "The NIC will not be eth0 on ECS: " + "; ".join(problems) + ", and "
                                    + binding.why + ": if it configures eth0 by name, it configures nothing.",
                            why + stale + [binding.why], "Make sure the script finds the NIC by the os.conf's MAC, or "
                            "keep the kernel's names (fix.interface-names).", offers={"fix.interface-names": targets})
        return c.result("fail", "The NIC will not be eth0 on ECS: " + "; ".join(problems) + ", and "
                                + binding.why + ": that configuration configures nothing, and the instance does "
                                "not answer.", why + stale + [binding.why],
                        "Put net.ifnames=0 biosdevname=0 on the kernel command line and remove stale "
                        "persistent-net rules (fix.interface-names), or use a parser that binds by MAC.",
                        offers={"fix.interface-names": targets}, severity="blocker")
    if bf is None or bf.default is None:
        if binding.any_name:
            return c.result("pass", "The kernel command line is unknown, but the parser that will run does not "
                                    "depend on the NIC's name: " + binding.why + ".", why + [binding.why])
        return c.result("warn", "Not fully reviewed: the kernel command line is unknown.", why, incomplete=True)
    return c.result("pass", "The NIC will keep the kernel's name, eth0.", why)


def _dhcp_elsewhere(tree: GuestTree) -> list[str]:
    """DHCP configured for interfaces other than those the parser writes: it would fight the parser's address."""
    out = []
    files = ["/etc/network/interfaces"] + [f"/etc/network/interfaces.d/{n}" for n in
                                           tree.listdir("/etc/network/interfaces.d") if n != "os-conf"]
    for path in files[:200]:
        for m in re.finditer(r"^\s*iface\s+(\S+)\s+inet6?\s+dhcp", tree.read_text(path, 1 << 20) or "", re.M):
            if m.group(1) not in OURS:
                out.append(f"{path}: iface {printable(m.group(1))} inet dhcp")
    for d in ("/etc/sysconfig/network-scripts", "/etc/sysconfig/network"):
        for n in tree.listdir(d)[:500]:
            if n.startswith("ifcfg-") and n[6:] not in OURS:
                text = tree.read_text(f"{d}/{n}", 65536) or ""
                if re.search(r"^\s*BOOTPROTO\s*=\s*['\"]?dhcp", text, re.M | re.I):
                    out.append(f"{d}/{n}: BOOTPROTO=dhcp")
    for n in tree.listdir("/etc/netplan")[:200]:
        text = tree.read_text(f"/etc/netplan/{n}", 1 << 20) or ""
        for m in re.finditer(r"^\s{2,}(\S+):\s*\n(?:\s{3,}.*\n)*?\s{3,}dhcp4:\s*(true|yes)", text + "\n", re.M):
            if m.group(1) not in OURS and "90-os-conf" not in n:
                out.append(f"/etc/netplan/{n}: {printable(m.group(1))} dhcp4: true")
    for n in tree.listdir("/etc/systemd/network")[:200]:
        if not n.endswith(".network") or n.startswith("10-os-conf"):
            continue
        text = tree.read_text(f"/etc/systemd/network/{n}", 65536) or ""
        name = re.search(r"^\s*Name\s*=\s*(.+)$", text, re.M)
        if re.search(r"^\s*DHCP\s*=\s*(yes|true|ipv4|both)", text, re.M | re.I) and (
                name is None or set(name.group(1).split()) - OURS):
            out.append(f"/etc/systemd/network/{n}: DHCP for {printable(name.group(1) if name else 'every interface')}")
    return out


def _cloud_init_network(tree: GuestTree) -> str | None:
    if not (tree.present("/usr/bin/cloud-init") or tree.exists("/etc/cloud/cloud.cfg")):
        return None
    on = enabled_anywhere(tree, {"systemd": ["cloud-init-local.service", "cloud-init.service"],
                                 "sysv": ["cloud-init-local", "cloud-init"], "openrc": ["cloud-init-local"]})
    if not on or tree.exists("/etc/cloud/cloud-init.disabled"):
        return None
    files = ["/etc/cloud/cloud.cfg"] + [f"/etc/cloud/cloud.cfg.d/{n}" for n in tree.listdir("/etc/cloud/cloud.cfg.d")]
    for path in files[:200]:
        text = tree.read_text(path, 1 << 20) or ""
        if re.search(r"^network:\s*\{\s*config:\s*disabled\s*\}|^network:\s*\n\s+config:\s*disabled", text, re.M):
            return None
    return f"cloud-init is enabled ({on[0].how}) with its network configuration on"


@check("net.conflicts", "Nothing else configures the NIC at first boot", "network", "high", needs_guest=True,
       reads=NET_FILES)
def conflicts(c: Check, ctx: Context) -> CheckResult:
    tree = ctx.tree
    flavor = choose_flavor(ctx.os).flavor
    beside = FLAVORS[flavor].coexists  # the daemons its configuration lives with (flavors.py)
    found = []
    cloud = _cloud_init_network(tree)
    if cloud:
        found.append(cloud)
    nm = enabled_anywhere(tree, {"systemd": ["NetworkManager.service"], "sysv": ["NetworkManager"],
                                 "openrc": ["NetworkManager"]})
    networkd = enabled_anywhere(tree, {"systemd": ["systemd-networkd.service"]})
    if nm and "networkmanager" not in beside:
        # NetworkManager's ifupdown plugin leaves the interfaces file's NICs alone unless managed=true
        conf = (tree.read_text("/etc/NetworkManager/NetworkManager.conf", 65536) or "").lower()
        if flavor != "ifupdown" or re.search(r"^\s*managed\s*=\s*true", conf, re.M):
            found.append(f"NetworkManager is enabled ({nm[0].how}) beside the {flavor} configuration the parser writes")
    if networkd and "networkd" not in beside:
        found.append(f"systemd-networkd is enabled ({networkd[0].how}) beside the {flavor} configuration")
    if flavor != "ifupdown":  # ifupdown's own stanzas for the NICs the parser configures with another stack
        for path in ["/etc/network/interfaces"] + [f"/etc/network/interfaces.d/{n}" for n in
                                                   tree.listdir("/etc/network/interfaces.d")][:200]:
            for m in re.finditer(r"^\s*iface\s+(eth[01])\s+inet6?\s+(dhcp|static)", tree.read_text(path, 1 << 20)
                                 or "", re.M):
                found.append(f"{path}: iface {m.group(1)} inet {m.group(2)}, while the parser writes {flavor}")
    dhcpcd = enabled_anywhere(tree, {"systemd": ["dhcpcd.service"], "sysv": ["dhcpcd"], "openrc": ["dhcpcd"]})
    if dhcpcd:
        found.append(f"dhcpcd runs for every interface ({dhcpcd[0].how})")
    found += _dhcp_elsewhere(tree)
    if found:
        return c.result("fail", f"{len(found)} other network configurer(s) will act on ECS's NIC at first boot "
                                "and fight the parser's static address.", [printable(f, 300) for f in found],
                        "Disable them before import (cloud-init: network: {config: disabled} in "
                        "/etc/cloud/cloud.cfg.d/; remove the DHCP stanzas; disable the second network service).")
    return c.result("pass", f"Only the {flavor} configuration the parser writes will configure the NIC.")

