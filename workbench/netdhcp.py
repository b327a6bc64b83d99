"""The image's own DHCP configurations, stack by stack, and whether each would win against the parser's.

What decides is each stack's own rule, not the mere presence of a DHCP stanza:
- systemd-networkd applies, per NIC, the first .network file (by file name, across its directories) whose [Match]
  fits: the networkd parser's 10-os-conf-ethN.network wins over files that sort after it; netplan's rendered
  10-netplan-ID.network files compete the same way.
- netplan merges definitions with the same ID (the later file wins, and the parser's 90-os-conf.yaml says dhcp4:
  false); a definition with another ID that matches the NIC (by a name glob, its own ID as name) becomes a
  .network of its own, which wins when it sorts first.
- ifupdown knows stanzas by interface name only: the ifupdown parser comments out the stanzas of the NIC's names
  in /etc/network/interfaces, not those in interfaces.d; another flavour's image that runs ifupdown gets both.
- cloud-init with its network configuration on writes its own (DHCP) configuration at every boot.

A finding is "lost" (the os.conf's configuration would lose: the check fails as a blocker, fix.network-conflicts
offered), "elsewhere" (for an interface ECS's NIC will not be), or "harmless" (the parser's configuration wins:
said, not failed). The NIC is matched by every name it may have while the stacks start: eth0/eth1 (the parser's
names) and the name udev gives it (ens5...), which networkd also matches as an alternative name after a rename.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from workbench.image.tree import GuestTree
from workbench.text import printable

NETWORKD_DIR = "/etc/systemd/network"
PARSER_NETWORKD = "10-os-conf-eth0.network"  # assets/parsers/net-networkd.sh
PARSER_NETPLAN = "90-os-conf.yaml"  # assets/parsers/net-netplan.sh, whose IDs are eth0 and eth1
PARSER_IDS = ("eth0", "eth1")
IFUPDOWN_MAIN = "/etc/network/interfaces"
IFUPDOWN_OWN = "/etc/network/interfaces.d/os-conf"
MAX_FILES = 200
TRUE = ("yes", "true", "on", "1", "ipv4", "both")


@dataclass(frozen=True)
class Finding:
    text: str
    level: str  # lost | elsewhere | harmless
    target: str | None = None  # what fix.network-conflicts neutralises: "networkd:PATH", "netplan:PATH", "ifupdown:PATH:IFACE"


def _applies(patterns: list[str], names: set[str]) -> bool:
    return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)


def networkd_files(tree: GuestTree) -> list[tuple[str, list[str] | None, bool]]:
    """(file name, its [Match] Name= patterns or None when it matches by something else or nothing, whether it
    asks for DHCP) for the image's .network files in /etc/systemd/network (the parser's own excluded)."""
    out = []
    for n in tree.listdir(NETWORKD_DIR)[:MAX_FILES]:
        if not n.endswith(".network") or n.startswith("10-os-conf"):
            continue
        text = tree.read_text(f"{NETWORKD_DIR}/{n}", 65536) or ""
        names = [w for m in re.finditer(r"^\s*Name\s*=\s*(.*)$", text, re.M) for w in m.group(1).split()]
        other = re.search(r"^\s*(MACAddress|PermanentMACAddress|Path|Driver|Type)\s*=\s*\S", text, re.M)
        dhcp = re.search(r"^\s*DHCP\s*=\s*(\S+)", text, re.M | re.I)
        out.append((n, names or (None if other else ["*"]), bool(dhcp and dhcp.group(1).lower() in TRUE)))
    return out


def netplan_definitions(text: str) -> list[dict]:
    """The definitions under network.ethernets of a netplan file (block style, as netplan's files are written): each
    {"id", "dhcp4", "name" (match.name), "mac" (match.macaddress)}. A small reader: nothing is evaluated."""
    out: list[dict] = []
    eth_indent = id_indent = None
    cur = None
    for raw in text.splitlines()[:5000]:
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, _, value = line.strip().partition(":")
        key, value = key.strip().strip("\"'"), value.strip().strip("\"'")
        if eth_indent is not None and indent <= eth_indent:
            eth_indent = cur = None
        if eth_indent is None:
            if key == "ethernets":
                eth_indent, id_indent = indent, None
            continue
        id_indent = indent if id_indent is None else id_indent
        if indent == id_indent:
            cur = {"id": key, "dhcp4": False, "name": None, "mac": None}
            out.append(cur)
        elif cur is not None and key == "dhcp4":
            cur["dhcp4"] = value.lower() in TRUE
        elif cur is not None and key in ("name", "macaddress"):
            cur["name" if key == "name" else "mac"] = value
    return out


def ifupdown_stanzas(tree: GuestTree) -> list[tuple[str, str, str]]:
    """(file, interface, method) for each `iface NAME inet dhcp|static` of the image (the parser's file excluded)."""
    files = [IFUPDOWN_MAIN] + [f"/etc/network/interfaces.d/{n}" for n in tree.listdir("/etc/network/interfaces.d")
                               if f"/etc/network/interfaces.d/{n}" != IFUPDOWN_OWN]
    out = []
    for path in files[:MAX_FILES]:
        for m in re.finditer(r"^\s*iface\s+(\S+)\s+inet\s+(dhcp|static)\b", tree.read_text(path, 1 << 20) or "", re.M):
            out.append((path, m.group(1), m.group(2)))
    return out


def networkd_findings(tree: GuestTree, flavor: str, names: set[str], runs: bool) -> list[Finding]:
    """The image's DHCP .network files. runs: systemd-networkd will run (enabled, or the parser's stack needs it)."""
    first = {"networkd": PARSER_NETWORKD, "netplan": "10-netplan-eth0.network"}.get(flavor)
    out = []
    for n, patterns, dhcp in networkd_files(tree):
        if not dhcp or not runs:
            continue
        path = f"{NETWORKD_DIR}/{n}"
        what = f"{path}: DHCP for {printable(' '.join(patterns or ['another match']), 80)}"
        if patterns is None or not _applies(patterns, names):
            out.append(Finding(f"{what}, not a name ECS's NIC will have", "elsewhere"))
        elif first is not None and n > first:
            out.append(Finding(f"{what}: sorts after the parser's {first}, and networkd applies the first file that "
                               "matches a NIC: the parser's wins", "harmless"))
        elif first is not None:
            out.append(Finding(f"{what}: sorts before the parser's {first}, and networkd applies the first file that "
                               "matches: DHCP, not the os.conf's address", "lost", f"networkd:{path}"))
        else:
            out.append(Finding(f"{what}: networkd runs and configures the NIC with DHCP beside the {flavor} "
                               "configuration the parser writes", "lost", f"networkd:{path}"))
    return out


def netplan_findings(tree: GuestTree, flavor: str, names: set[str], runs: bool) -> list[Finding]:
    """The image's netplan definitions with DHCP. runs: netplan's generator will run."""
    out = []
    for n in tree.listdir("/etc/netplan")[:MAX_FILES]:
        if not n.endswith((".yaml", ".yml")) or n == PARSER_NETPLAN or not runs:
            continue
        path = f"/etc/netplan/{n}"
        for d in netplan_definitions(tree.read_text(path, 1 << 20) or ""):
            if not d["dhcp4"]:
                continue
            what = f"{path}: {printable(d['id'], 40)} dhcp4: true"
            patterns = [d["name"]] if d["name"] else ([] if d["mac"] else [d["id"]])
            if not _applies(patterns, names):
                out.append(Finding(f"{what}, for {'another MAC' if d['mac'] else 'a name'} ECS's NIC will not have",
                                   "elsewhere"))
            elif flavor != "netplan":
                out.append(Finding(f"{what}: netplan configures the NIC with DHCP beside the {flavor} configuration "
                                   "the parser writes", "lost", f"netplan:{path}"))
            elif d["id"] in PARSER_IDS:
                out.append(Finding(f"{what}: the same definition as the parser's, whose {PARSER_NETPLAN} is read "
                                   "last and turns DHCP off", "harmless"))
            elif d["id"] < PARSER_IDS[-1]:
                out.append(Finding(f"{what}: its networkd file (10-netplan-{printable(d['id'], 40)}.network) sorts "
                                   "before the parser's and matches the NIC: DHCP, not the os.conf's address "
                                   "(routes and DNS lost too)", "lost", f"netplan:{path}"))
            else:
                out.append(Finding(f"{what}: its networkd file sorts after the parser's, which wins", "harmless"))
    return out


def ifupdown_findings(tree: GuestTree, flavor: str, names: set[str], runs: bool) -> list[Finding]:
    """The image's ifupdown stanzas. runs: ifupdown is installed (or it is the parser's stack)."""
    out = []
    for path, iface, method in ifupdown_stanzas(tree):
        if not runs or iface == "lo":
            continue
        what = f"{path}: iface {printable(iface, 40)} inet {method}"
        if iface not in names:
            if method == "dhcp":
                out.append(Finding(f"{what}, not a name ECS's NIC will have", "elsewhere"))
        elif flavor == "ifupdown" and path == IFUPDOWN_MAIN:
            out.append(Finding(f"{what}: the parser comments it out when it writes its own stanza", "harmless"))
        elif flavor == "ifupdown":
            out.append(Finding(f"{what}: the parser comments out only {IFUPDOWN_MAIN}'s stanzas, so ifupdown also "
                               f"runs this one for the NIC", "lost", f"ifupdown:{path}:{iface}"))
        else:
            out.append(Finding(f"{what}, while the parser writes {flavor}: ifupdown configures the NIC too", "lost",
                               f"ifupdown:{path}:{iface}"))
    return out
