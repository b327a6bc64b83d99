"""Will it answer on ECS? The NIC must be the one the configuration names, and nothing else may configure it
at first boot against the parser."""

from __future__ import annotations

import re

from workbench.checks import Check, CheckResult, Context, check
from workbench.enablement import enabled_anywhere
from workbench.image.tree import GuestTree
from workbench import netdhcp
from workbench.netdhcp import Finding
from workbench.netnames import PERSISTENT_RULES, expected_names, parser_binding, predictable_names
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


def _sysconfig_dhcp(tree: GuestTree) -> list[str]:
    """ifcfg files with DHCP for interfaces other than those the parser writes."""
    out = []
    for d in ("/etc/sysconfig/network-scripts", "/etc/sysconfig/network"):
        for n in tree.listdir(d)[:500]:
            if n.startswith("ifcfg-") and n[6:] not in OURS:
                text = tree.read_text(f"{d}/{n}", 65536) or ""
                if re.search(r"^\s*BOOTPROTO\s*=\s*['\"]?dhcp", text, re.M | re.I):
                    out.append(f"{d}/{n}: BOOTPROTO=dhcp")
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


def _nic_names(ctx: Context) -> set[str]:
    """Every name ECS's NIC may have while the network stacks start: the parser's (eth0, eth1) and udev's."""
    bf = getattr(ctx.guest, "boot", None)
    return set(OURS - {"lo"}) | set(expected_names(ctx.tree, bf.cmdline if bf is not None else ""))


def _stack_findings(ctx: Context, flavor: str) -> list[Finding]:
    """The image's DHCP configurations, judged by each stack's own rule (netdhcp.py)."""
    tree, names = ctx.tree, _nic_names(ctx)
    networkd = bool(enabled_anywhere(tree, {"systemd": ["systemd-networkd.service"]})) or flavor in ("networkd",
                                                                                                     "netplan")
    netplan = flavor == "netplan" or tree.present("/usr/sbin/netplan")
    ifupdown = flavor == "ifupdown" or tree.present("/sbin/ifup") or tree.present("/usr/sbin/ifup")
    return (netdhcp.networkd_findings(tree, flavor, names, networkd)
            + netdhcp.netplan_findings(tree, flavor, names, netplan)
            + netdhcp.ifupdown_findings(tree, flavor, names, ifupdown))


def _daemons(ctx: Context, flavor: str) -> list[str]:
    """Other configurers that act on every NIC: NetworkManager beside another stack's files, dhcpcd; ifcfg DHCP."""
    tree, found = ctx.tree, []
    beside = FLAVORS[flavor].coexists  # the daemons its configuration lives with (flavors.py)
    nm = enabled_anywhere(tree, {"systemd": ["NetworkManager.service"], "sysv": ["NetworkManager"],
                                 "openrc": ["NetworkManager"]})
    if nm and "networkmanager" not in beside:
        # NetworkManager's ifupdown plugin leaves the interfaces file's NICs alone unless managed=true
        conf = (tree.read_text("/etc/NetworkManager/NetworkManager.conf", 65536) or "").lower()
        if flavor != "ifupdown" or re.search(r"^\s*managed\s*=\s*true", conf, re.M):
            found.append(f"NetworkManager is enabled ({nm[0].how}) beside the {flavor} configuration the parser writes")
    dhcpcd = enabled_anywhere(tree, {"systemd": ["dhcpcd.service"], "sysv": ["dhcpcd"], "openrc": ["dhcpcd"]})
    if dhcpcd:
        found.append(f"dhcpcd runs for every interface ({dhcpcd[0].how})")
    return found + _sysconfig_dhcp(tree)


@check("net.conflicts", "Nothing else configures the NIC at first boot", "network", "high", needs_guest=True,
       reads=NET_FILES)
def conflicts(c: Check, ctx: Context) -> CheckResult:
    """Judged per stack with the parser that will run: a blocker where the os.conf's configuration would lose (the
    image's DHCP wins, or cloud-init rewrites the network), a failure for daemons that act on every NIC, a warning for
    DHCP on interfaces ECS's NIC will not be, and a pass that names what the parser's configuration wins over."""
    flavor = chosen_flavor(ctx)
    findings = _stack_findings(ctx, flavor)
    cloud = _cloud_init_network(ctx.tree)
    if cloud:
        findings.insert(0, Finding(f"{cloud}: it writes its own DHCP configuration for the NIC at every boot", "lost",
                                   "cloud-init"))
    lost = [f for f in findings if f.level == "lost"]
    fights = _daemons(ctx, flavor)
    evidence = [printable(f.text, 300) for f in lost] + [printable(f, 300) for f in fights] + \
               [printable(f.text, 300) for f in findings if f.level != "lost"]
    targets = list(dict.fromkeys(f.target for f in lost if f.target))
    fix = ("Let the parser's configuration win (fix.network-conflicts: the conflicting DHCP stanza commented out, "
           "the file moved aside, cloud-init's network disabled); disable a second network service by hand.")
    if lost:
        return c.result("fail", f"{len(lost)} other network configuration(s) would win over the parser's at first "
                                "boot: the NIC would not get the os.conf's address, routes and DNS.", evidence, fix,
                        severity="blocker", offers={"fix.network-conflicts": targets})
    if fights:
        return c.result("fail", f"{len(fights)} other network configurer(s) will act on ECS's NIC at first boot and "
                                "fight the parser's static address.", evidence,
                        "Disable them before import (the second network service, dhcpcd, the ifcfg DHCP files).")
    if any(f.level == "elsewhere" for f in findings):
        return c.result("warn", f"Only the {flavor} configuration the parser writes will configure ECS's NIC; the "
                                "image also asks for DHCP on interfaces ECS's NIC will not be.", evidence,
                        severity="low")
    return c.result("pass", f"Only the {flavor} configuration the parser writes will configure the NIC"
                            + ("; where the image has its own, the parser's wins." if findings else "."), evidence)
