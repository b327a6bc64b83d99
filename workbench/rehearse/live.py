"""The live network of a rehearsal's guest, and whether it is what the os.conf asked for.

A probe that exists only in the throwaway overlay (assets/probe/) writes, after the network is up, one "WB-PROBE"
line per fact to a channel of its own (a virtio-serial port, never the console), each line carrying a token made
for this rehearsal alone. Console output therefore can neither crowd the report out nor stand in for it. The
guest is still the image: every line is untrusted, parsed strictly and bounded, and a report past a bound, or
begun twice, is refused as a whole (never half-read). compare_network() then checks the os.conf's intent: each NIC
found by its MAC, up, with its address; the default route via the right gateway on the right NIC; every
ethN_route; the nameservers; the host name; sshd listening on port 22.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field

from workbench.netnames import is_classic
from workbench.text import printable

MARK = "WB-PROBE"
CHANNEL = "org.workbench.probe"  # the virtio-serial port's name (/sys/class/virtio-ports/*/name)
MAX_LINES = 400
MAX_BYTES = 64 << 10  # of the channel: a report is a few hundred bytes
TOKEN = re.compile(r"[0-9a-f]{32}")
SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")  # ASCII digits only (float() takes "nan" and other scripts' digits)
KINDS = re.compile(r"(begin|end|if|route|dns|hostname|sshd|power|took)\b ?(.*)$")
# what the probe may name as acting on the ACPI power button ("none": nothing does; anything else: not known)
POWER_HANDLERS = ("systemd-logind", "elogind", "elogind-daemon", "acpid", "none")


@dataclass
class LiveInterface:
    name: str
    mac: str
    state: str
    addresses: list[str] = field(default_factory=list)  # CIDR


@dataclass
class LiveNetwork:
    interfaces: list[LiveInterface] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    nameservers: list[str] = field(default_factory=list)
    hostname: str | None = None
    sshd_listening: bool | None = None
    complete: bool = False  # the probe's end line was seen
    took: float | None = None  # seconds the probe ran in the guest
    waited: int | None = None  # of which seconds it waited for sshd and a default route
    power: str | None = None  # what acts on the ACPI power button (POWER_HANDLERS; None: not reported or unknown)
    refused: str | None = None  # why the report as a whole is not trusted (then complete is False)

    def to_json(self) -> dict:
        return {"interfaces": [asdict(i) for i in self.interfaces], "routes": self.routes,
                "nameservers": self.nameservers, "hostname": self.hostname, "sshd_listening": self.sshd_listening}

    def by_mac(self, mac: str) -> LiveInterface | None:
        return next((i for i in self.interfaces if i.mac.lower() == mac.lower()), None)

    def by_name(self, name: str) -> LiveInterface | None:
        return next((i for i in self.interfaces if i.name == name), None)


def _cidr(text: str) -> str | None:
    try:
        return str(ipaddress.IPv4Interface(text))
    except ValueError:
        return None


def parse_probe(data: bytes, token: str) -> LiveNetwork | None:
    """The probe's report from what its channel carried (None when no line of it was seen). Only lines that start
    with the mark and this rehearsal's token count; a channel past MAX_BYTES, a report past MAX_LINES or a second
    report is refused as a whole (fail closed: live.refused says why)."""
    if not TOKEN.fullmatch(token or ""):
        return None
    if len(data) > MAX_BYTES:
        return LiveNetwork(refused=f"the probe's channel carried more than {MAX_BYTES >> 10} KiB, more than a "
                                  "report can be; none of it was read")
    prefix = f"{MARK} {token} "
    live: LiveNetwork | None = None
    seen = 0
    for raw in data.decode("utf-8", "replace").split("\n"):
        if not raw.startswith(prefix):
            continue
        m = KINDS.match(raw[len(prefix):].rstrip("\r"))
        if not m:
            continue
        seen += 1
        if seen > MAX_LINES:
            return LiveNetwork(refused=f"the probe's report has more than {MAX_LINES} lines")
        kind, rest = m.group(1), m.group(2).strip()
        if kind == "begin":
            if live is not None:
                return LiveNetwork(refused="the probe's report began twice (the probe runs once)")
            live = LiveNetwork()
        elif live is not None and not live.complete:
            _fact(live, kind, rest)
    return live


def _fact(live: LiveNetwork, kind: str, rest: str) -> None:
    words = rest.split()
    if kind == "if" and len(words) >= 3:
        live.interfaces.append(LiveInterface(printable(words[0], 32), words[1].lower()[:17], printable(words[2], 16),
                                             [c for c in map(_cidr, words[3:16]) if c]))
    elif kind == "route":
        live.routes.append(printable(" ".join(words), 200))
    elif kind == "dns":
        live.nameservers = [w for w in words[:16] if _cidr(w)]
    elif kind == "hostname":
        live.hostname = printable(words[0], 253) if words else ""
    elif kind == "sshd":
        live.sshd_listening = rest == "yes"
    elif kind == "power":
        live.power = rest if rest in POWER_HANDLERS else None
    elif kind == "took" and len(words) == 3 and all(SECONDS.fullmatch(w) for w in words):
        live.took = max(0.0, min(3600.0, float(words[1]) - float(words[0])))
        live.waited = max(0, min(3600, int(float(words[2]))))
    elif kind == "end":
        live.complete = True


def _route(table: list[str], dst: str, via: str, dev: str) -> bool:
    """Whether the table has dst via `via` on dev (ip's own form: "default via X dev Y ...", "10.0.0.0/8 via X dev Y")."""
    for r in table:
        words = r.split()
        if not words:
            continue
        d = words[0]
        if d != "default" and dst != "default":
            try:
                same = ipaddress.IPv4Network(d, strict=False) == ipaddress.IPv4Network(dst, strict=False)
            except ValueError:
                same = False
        else:
            same = d == dst
        fields = dict(zip(words[1::2], words[2::2])) if len(words) > 2 else {}
        if same and fields.get("via") == via and fields.get("dev") == dev:
            return True
    return False


def _prefix(mask: str) -> int | None:
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    except ValueError:
        return None


@dataclass
class NetworkRow:
    """One item of the os.conf's network intent beside what the live guest shows."""
    item: str  # "eth0 (MAC ...)", "default route", "route 10.0.0.0/8", "nameservers", "host name", "sshd"
    intent: str
    seen: str
    problem: str | None = None  # None: the live guest shows it

    def to_json(self) -> dict:
        return asdict(self)


def network_rows(values: dict, live: LiveNetwork) -> list[NetworkRow]:
    """The os.conf's intent, item by item, beside the live network the probe reported."""
    rows: list[NetworkRow] = []
    classic = is_classic(values)
    nics = ("eth0", "eth1") if classic else ("eth0",)
    default_nic = "eth1" if classic else "eth0"
    table = "; ".join(live.routes) or "no routes"
    for n in nics:
        ip = values.get(f"{n}_ip_addr")
        if not ip:
            continue
        mac = str(values.get(f"{n}_mac_addr") or "")
        iface = live.by_mac(mac) if mac else live.by_name(n)
        label = f"{n} (MAC {mac})" if mac else n
        prefix = _prefix(str(values.get(f"{n}_netmask") or ""))
        want = f"{ip}/{prefix}" if prefix is not None else str(ip)
        if iface is None:
            names = ", ".join(f"{i.name} {i.mac}" for i in live.interfaces) or "none"
            rows.append(NetworkRow(label, f"up with {want}", "no such interface",
                                   f"{label}: no interface has {'that MAC' if mac else 'that name'} "
                                   f"(the guest has: {names})"))
            continue
        where = f"{label}, called {iface.name} in the guest"
        seen = f"{iface.name}: {iface.state}, " + (", ".join(iface.addresses) or "no IPv4 address")
        problems = []
        if iface.state not in ("up", "unknown"):
            problems.append(f"it is {iface.state}, not up")
        if want not in iface.addresses:
            problems.append(f"it does not have {want} (it has {', '.join(iface.addresses) or 'no IPv4 address'})")
        rows.append(NetworkRow(label, f"up with {want}", seen, f"{where}: " + "; ".join(problems) if problems else None))
        routes = [e.split() for e in str(values.get(f"{n}_route") or "").split(";") if len(e.split()) == 2]
        gateway = next((gw for dst, gw in routes if dst == "0.0.0.0/0"), None) or values.get(f"{n}_gateway")
        if n == default_nic and gateway:
            ok = _route(live.routes, "default", str(gateway), iface.name)
            defaults = "; ".join(r for r in live.routes if r.startswith("default")) or "no default route"
            on = iface.name if iface.name == n else f"{iface.name} ({n})"
            rows.append(NetworkRow("default route", f"via {gateway} on {on}", defaults,
                                   None if ok else f"the default route does not go via {gateway} on {iface.name} "
                                                   f"({n}); the table has: {table}"))
        for dst, gw in routes:
            if dst == "0.0.0.0/0":
                continue
            ok = _route(live.routes, dst, gw, iface.name)
            rows.append(NetworkRow(f"{n}_route {dst}", f"via {gw} on {iface.name}", "in the table" if ok else table,
                                   None if ok else f"{n}_route {dst} via {gw} is not in the routing table on "
                                                   f"{iface.name}"))
    want_ns = str(values.get("dns_nameserver") or "").split()
    if want_ns:
        got = ", ".join(live.nameservers) or "none"
        missing = [ns for ns in want_ns if ns not in live.nameservers]
        rows.append(NetworkRow("nameservers", ", ".join(want_ns), got,
                               f"the nameservers are {got}, not {', '.join(want_ns)}" if missing else None))
    host = values.get("hostname")
    if host:
        rows.append(NetworkRow("host name", str(host), live.hostname or "unset",
                               None if live.hostname == host else f"the host name is {live.hostname or 'unset'}, "
                                                                  f"not {host}"))
    rows.append(NetworkRow("sshd", "listening on port 22", "listening" if live.sshd_listening else "not listening",
                           None if live.sshd_listening else "nothing listens on port 22 (sshd): the instance could "
                                                            "not be reached by SSH"))
    return rows


def compare_network(values: dict, live: LiveNetwork | None, why_unobserved: str = "") -> list[str]:
    """What of the os.conf's network intent the live guest does not show (empty: it all matches)."""
    if live is None or not live.complete:
        why = why_unobserved or ("the probe reported nothing on its channel" if live is None
                                 else live.refused or "the probe's report was cut off")
        return [f"the live network was not observed: {why}"]
    return [r.problem for r in network_rows(values, live) if r.problem]
