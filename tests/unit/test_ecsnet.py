"""The rehearsal's network made like ECS's from the os.conf (untrusted): qemu's user network per NIC, with the
NIC's subnet, its gateway as qemu's address and the instance's address as the DHCP server's lease."""

import socket
import subprocess
import sys

import pytest

from tests.unit.sim_helpers import CLASSIC, VPC
from workbench.osconf import parse_text
from workbench.rehearse.ecsnet import ecs_network
from workbench.rehearse.vm import isolation, network_notes, nic_args


def values(conf):
    return parse_text(conf)[0]


def test_each_nic_gets_its_subnet_its_gateway_and_its_own_address_by_dhcp():
    args = nic_args(values(CLASSIC), isolated=True)
    assert args[1] == ("user,id=n0,restrict=off,ipv6=off,net=10.171.254.0/24,host=10.171.254.1,"
                       "dhcpstart=10.171.254.123,dns=10.171.254.254")
    # eth1 carries the default route: its gateway comes from eth1_route's 0.0.0.0/0
    assert args[5].endswith("net=42.120.74.0/24,host=42.120.74.1,dhcpstart=42.120.74.105,dns=42.120.74.254")
    notes = network_notes(values(VPC))
    assert notes[0] == ("eth0 on a network like ECS's: 10.171.254.0/24, gateway 10.171.254.1, DHCP hands out "
                        "10.171.254.123 (the os.conf's address)")
    assert "announces the nameserver 10.171.254.254" in notes[1] and "ECS's would announce 7.7.7.7" in notes[1]


def test_a_nameserver_inside_the_subnet_is_announced_and_collisions_are_avoided():
    conf = values("eth0_ip_addr=192.168.0.254\neth0_netmask=255.255.255.0\neth0_gateway=192.168.0.1\n"
                  "dns_nameserver=192.168.0.2\n")
    net, notes = ecs_network(conf, "eth0")
    assert (str(net.host), str(net.lease), str(net.dns)) == ("192.168.0.1", "192.168.0.254", "192.168.0.2")
    assert notes == []
    # no gateway in the subnet and no nameserver: qemu still needs distinct addresses for itself and its DNS
    net, notes = ecs_network(values("eth0_ip_addr=10.0.0.1\neth0_netmask=255.255.255.248\n"
                                    "eth0_gateway=172.16.0.1\n"), "eth0")
    assert (str(net.host), str(net.lease), str(net.dns)) == ("10.0.0.2", "10.0.0.1", "10.0.0.6")
    assert "no gateway inside 10.0.0.0/29" in notes[0]


@pytest.mark.parametrize("conf, why", [
    ("eth0_ip_addr=10.0.0.5,hostfwd=tcp::2222-:22\neth0_netmask=255.255.255.0\n", "no valid IPv4 address"),
    ("eth0_ip_addr=10.0.0.\u0665\neth0_netmask=255.255.255.0\n", "no valid IPv4 address"),  # an Arabic-Indic 5
    ("eth0_ip_addr=010.0.0.5\neth0_netmask=255.255.255.0\n", "no valid IPv4 address"),
    ("eth0_ip_addr=10.0.0.5\neth0_netmask=0.0.0.255\n", "contiguous netmask"),  # a host mask, not a netmask
    ("eth0_ip_addr=10.0.0.5\neth0_netmask=255.0.255.0\n", "contiguous netmask"),
    ("eth0_ip_addr=10.0.0.5\neth0_netmask=255.255.255.252\n", "a /30 subnet"),
    ("eth0_ip_addr=10.0.0.0\neth0_netmask=255.255.255.0\n", "network or broadcast"),
    ("eth0_ip_addr=10.0.0.5\n", "contiguous netmask"),
])
def test_values_that_cannot_make_a_network_never_reach_qemu(conf, why):
    net, notes = ecs_network(values(conf), "eth0")
    assert net is None and why in notes[0]
    assert nic_args(values(conf), isolated=True)[1] == "user,id=n0,restrict=off,ipv6=off"  # qemu's default network
    assert "qemu's default user network" in network_notes(values(conf))[0]


def test_a_gateway_with_more_options_is_not_taken():
    conf = values("eth0_ip_addr=10.0.0.5\neth0_netmask=255.255.255.0\neth0_gateway=10.0.0.1,smb=/\n"
                  'dns_nameserver="10.0.0.9,tftp=/ 10.0.0.8"\n')
    net, notes = ecs_network(conf, "eth0")
    assert str(net.host) == "10.0.0.1" and str(net.dns) == "10.0.0.8" and "no gateway" in notes[0]
    assert "," not in net.options().replace(",host=", "").replace(",dhcpstart=", "").replace(",dns=", "")


@pytest.mark.boot  # it starts qemu-system-x86_64 (-machine none) to ask it
def test_qemu_accepts_the_network_it_is_given():
    """qemu's own checks (host, DHCP start and DNS inside the subnet, all different) pass for what nic_args makes:
    qemu starts, answers its monitor and quits (a refused option ends it at once with the reason)."""
    for conf in (VPC, CLASSIC, "eth0_ip_addr=10.0.0.6\neth0_netmask=255.255.255.248\neth0_gateway=10.0.0.1\n"):
        args = nic_args(values(conf))
        for netdev in (a for i, a in enumerate(args) if i and args[i - 1] == "-netdev"):
            proc = subprocess.run(["qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none",
                                   "-netdev", netdev, "-qmp", "stdio"], capture_output=True, text=True, timeout=60,
                                  input='{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n')
            assert '"return": {}' in proc.stdout and "belong" not in proc.stderr, (netdev, proc.stderr)


def test_unrestricted_only_inside_a_network_namespace_that_reaches_nothing():
    """qemu's DHCP server announces the router and nameserver only on an unrestricted network: that network runs
    in a namespace of its own, where this host's services (slirp maps the gateway to the loopback) and the world
    are out of reach."""
    assert "restrict=off" in nic_args(values(VPC), isolated=True)[1]
    assert "restrict=on" in nic_args(values(VPC), isolated=False)[1]
    assert network_notes(values(VPC), isolated=False)[-1].startswith("bubblewrap is missing")
    jail = isolation()
    if jail is None:
        pytest.skip("bubblewrap is not installed (the bootstrap installs it)")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        probe = ("import socket,sys\nfor a in (('127.0.0.1', %d), ('1.1.1.1', 53)):\n"
                 "    try: socket.create_connection(a, timeout=3); print('reached', a)\n"
                 "    except OSError as e: print('no', a, e.errno)\n") % port
        here = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
        inside = subprocess.run([*jail, sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert f"reached ('127.0.0.1', {port})" in here.stdout  # the listener is there, seen from the host
    assert inside.stdout.count("no (") == 2, inside.stdout + inside.stderr
