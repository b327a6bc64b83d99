"""The rehearsal's network, made like ECS's from the os.conf: each NIC on a qemu user network whose subnet is the
NIC's, whose host address is its gateway and whose DHCP server hands the NIC the instance's own address, as ECS's
DHCP does. An image that also runs DHCP then converges (or not) as it would on ECS.

The os.conf is untrusted: every value is parsed as an IPv4 address of ASCII digits (ipaddress) and the option
string is built from the parsed addresses only, so nothing from the os.conf reaches qemu as text.
Limits of qemu's user network, said in the notes: its DHCP server can only announce a nameserver inside the
subnet (ECS announces the os.conf's, usually outside it), and it has 16 leases from the first: one NIC with one MAC
only ever gets the first, the instance's address (a client that asks for another address of that range by another
MAC could get it, and the live comparison would then show the wrong address).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

MIN_PREFIX, MAX_PREFIX = 8, 29  # room for the instance, its gateway and a nameserver (ECS's vSwitches: /8 to /29)


@dataclass(frozen=True)
class UserNet:
    net: IPv4Network
    host: IPv4Address  # qemu's own address on it: the gateway
    lease: IPv4Address  # the DHCP server's first lease: the instance's address
    dns: IPv4Address  # the nameserver the DHCP server announces (inside the subnet, as qemu requires)

    def options(self) -> str:
        return f"net={self.net},host={self.host},dhcpstart={self.lease},dns={self.dns}"


def _addr(value) -> IPv4Address | None:
    try:
        return IPv4Address(str(value or ""))
    except ValueError:
        return None


def _prefix(mask: IPv4Address | None) -> int | None:
    """The prefix length of a contiguous netmask (255.255.255.0 -> 24); None for anything else."""
    if mask is None:
        return None
    bits = int(mask)
    inverted = ~bits & 0xFFFFFFFF
    return None if inverted & (inverted + 1) else 32 - inverted.bit_length()


def _gateway(values: dict, iface: str) -> IPv4Address | None:
    """The NIC's gateway as the parser takes it: its default route's, else ethN_gateway."""
    for entry in str(values.get(f"{iface}_route") or "").split(";"):
        words = entry.split()
        if len(words) == 2 and words[0] == "0.0.0.0/0":
            return _addr(words[1])
    return _addr(values.get(f"{iface}_gateway"))


def ecs_network(values: dict, iface: str) -> tuple[UserNet | None, list[str]]:
    """The user network for ethN (iface), or None and why not; with notes on where it differs from ECS's."""
    ip, prefix = _addr(values.get(f"{iface}_ip_addr")), _prefix(_addr(values.get(f"{iface}_netmask")))
    if ip is None or prefix is None:
        return None, [f"{iface}: the os.conf has no valid IPv4 address and contiguous netmask for it"]
    if not MIN_PREFIX <= prefix <= MAX_PREFIX:
        return None, [f"{iface}: a /{prefix} subnet leaves no room for a gateway and a DHCP server beside the "
                      f"instance (/{MIN_PREFIX} to /{MAX_PREFIX} can be imitated)"]
    net = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    usable = (net.network_address, net.broadcast_address)
    if ip in usable:
        return None, [f"{iface}: {ip} is the subnet's network or broadcast address"]
    notes = []
    gw = _gateway(values, iface)
    if gw is None or gw not in net or gw in usable or gw == ip:
        host = next(a for a in (net.network_address + 1, net.network_address + 2) if a != ip)
        notes.append(f"{iface}: the os.conf gives no gateway inside {net}; the rehearsal's DHCP server announces "
                     f"{host} as the router")
    else:
        host = gw
    wanted = [a for a in map(_addr, str(values.get("dns_nameserver") or "").split()) if a is not None]
    dns = next((a for a in wanted if a in net and a not in usable and a not in (ip, host)), None)
    if dns is None:
        dns = next(a for a in (net.broadcast_address - 1, net.broadcast_address - 2, net.broadcast_address - 3)
                   if a not in (ip, host))
        if wanted:
            notes.append(f"{iface}: the rehearsal's DHCP server announces the nameserver {dns} (qemu serves one "
                         f"inside the subnet only), where ECS's would announce {wanted[0]}")
    return UserNet(net, host, ip, dns), notes
