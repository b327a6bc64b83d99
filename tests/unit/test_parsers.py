"""The project's parser, every flavour, run for real in the bubblewrap sandbox (and under busybox).

Golden checks read the files the parser wrote with a parser of their format (YAML, INI,
ifcfg, interfaces stanzas), not by string equality only.
"""

import ipaddress
import shutil

import pytest

from tests.unit import sim_helpers as h
from workbench import crypt
from workbench.parsers import FLAVORS, build_script

SHELLS = [False] + ([True] if shutil.which("busybox") else [])
MAC_BOUND = ("sysconfig", "netplan", "networkd", "networkmanager")  # the configuration names the MAC
RENAMED = ("ifupdown", "netifrc", "wicked", "sysconfig", "netplan")  # the NIC is given its os.conf name
RULES = "/etc/udev/rules.d/70-os-conf-net.rules"


def routes_of(cs, flavor, iface):
    """(destination, gateway) routes of iface as written for flavor, default route as 0.0.0.0/0."""
    if flavor == "sysconfig":
        out = []
        ifcfg = h.env(h.after(cs, f"/etc/sysconfig/network-scripts/ifcfg-{iface}"))
        if "GATEWAY" in ifcfg:
            out.append(("0.0.0.0/0", ifcfg["GATEWAY"]))
        ch = cs.change(f"/etc/sysconfig/network-scripts/route-{iface}")
        for line in (ch.after if ch and ch.after else "").splitlines():
            dst, _, gw, _, _ = line.split()
            out.append((dst, gw))
        return out
    if flavor == "ifupdown":
        st = h.stanzas(h.after(cs, "/etc/network/interfaces.d/os-conf"))[iface]
        out = [("0.0.0.0/0", v) for k, v in st["options"] if k == "gateway"]
        out += [(v.split()[3], v.split()[5]) for k, v in st["options"] if k == "up"]
        return out
    if flavor == "netplan":
        eth = h.netplan(h.after(cs, "/etc/netplan/90-os-conf.yaml"))[iface]
        return [("0.0.0.0/0" if r["to"] == "default" else r["to"], r["via"]) for r in eth.get("routes", [])]
    if flavor == "networkd":
        secs = h.ini(h.after(cs, f"/etc/systemd/network/10-os-conf-{iface}.network"))
        net = h.section(secs, "Network")
        out = [("0.0.0.0/0", net["Gateway"])] if "Gateway" in net else []
        out += [(dict(kv)["Destination"], dict(kv)["Gateway"]) for n, kv in secs if n == "Route"]
        return out
    if flavor == "networkmanager":
        ipv4 = h.section(h.ini(h.after(cs, f"/etc/NetworkManager/system-connections/os-conf-{iface}.nmconnection")),
                         "ipv4")
        addr = ipv4["address1"].split(",")
        out = [("0.0.0.0/0", addr[1])] if len(addr) > 1 else []
        out += [tuple(v.split(",")) for k, v in sorted(ipv4.items()) if k.startswith("route")]
        return out
    if flavor == "wicked":
        text = h.after(cs, f"/etc/sysconfig/network/ifroute-{iface}")
        return [("0.0.0.0/0" if w[0] == "default" else w[0], w[1]) for w in (ln.split() for ln in text.splitlines())]
    if flavor == "netifrc":
        val = h.shell_assignments(h.after(cs, "/etc/conf.d/net")).get(f"routes_{iface}", "")
        return [("0.0.0.0/0" if ln.split()[0] == "default" else ln.split()[0], ln.split()[2])
                for ln in val.splitlines() if ln.strip()]
    raise AssertionError(flavor)


def address_of(cs, flavor, iface):
    if flavor == "sysconfig":
        e = h.env(h.after(cs, f"/etc/sysconfig/network-scripts/ifcfg-{iface}"))
        return f"{e['IPADDR']}/{e['PREFIX']}", e.get("HWADDR")
    if flavor == "ifupdown":
        opts = dict(h.stanzas(h.after(cs, "/etc/network/interfaces.d/os-conf"))[iface]["options"])
        assert "/" not in opts["address"]  # busybox's ifup takes address and netmask apart, ifupdown both ways
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{opts['netmask']}").prefixlen
        return f"{opts['address']}/{prefix}", opts.get("hwaddress", " ").split()[-1] if "hwaddress" in opts else None
    if flavor == "netplan":
        eth = h.netplan(h.after(cs, "/etc/netplan/90-os-conf.yaml"))[iface]
        assert eth["dhcp4"] is False
        return eth["addresses"][0], eth.get("match", {}).get("macaddress")
    if flavor == "networkd":
        secs = h.ini(h.after(cs, f"/etc/systemd/network/10-os-conf-{iface}.network"))
        return h.section(secs, "Network")["Address"], h.section(secs, "Match").get("MACAddress")
    if flavor == "networkmanager":
        secs = h.ini(h.after(cs, f"/etc/NetworkManager/system-connections/os-conf-{iface}.nmconnection"))
        return h.section(secs, "ipv4")["address1"].split(",")[0], h.section(secs, "ethernet").get("mac-address")
    if flavor == "wicked":
        e = h.env(h.after(cs, f"/etc/sysconfig/network/ifcfg-{iface}"))
        return e["IPADDR"], e.get("LLADDR")
    if flavor == "netifrc":
        return h.shell_assignments(h.after(cs, "/etc/conf.d/net"))[f"config_{iface}"], None
    raise AssertionError(flavor)


@pytest.mark.parametrize("busybox", SHELLS, ids=lambda b: "busybox" if b else "sh")
@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_vpc(flavor, busybox):
    cs = h.run(flavor, h.VPC, busybox=busybox)
    assert cs.exit_code == 0, cs.log
    assert address_of(cs, flavor, "eth0")[0] == "10.171.254.123/24"
    # bound to the MAC where the stack can match one; never written as a MAC to set (hwaddress, LLADDR)
    assert address_of(cs, flavor, "eth0")[1] == ("00:8c:fa:5e:14:23" if flavor in MAC_BOUND else None)
    assert cs.change(RULES) is None  # the NIC already has its os.conf name: nothing to rename
    assert routes_of(cs, flavor, "eth0") == [("0.0.0.0/0", "10.171.254.1")]  # the VPC default route arrives
    assert h.after(cs, "/etc/hostname") == "iZ23r29djmjZ\n"
    assert cs.change("/boot/aliyun_custom_image/os.conf").action == "delete"
    assert ["hostname", "iZ23r29djmjZ"] in cs.commands and ["chpasswd"] in cs.commands
    shadow = h.after(cs, "/etc/shadow").split(":")
    assert shadow[1].startswith("$6$") and crypt.verify("qwer1234", shadow[1])  # the decoded password, newline gone
    resolv = h.after(cs, "/etc/resolv.conf")
    assert resolv == "search example.internal\nnameserver 7.7.7.7\nnameserver 8.8.8.8\n"


@pytest.mark.parametrize("busybox", SHELLS, ids=lambda b: "busybox" if b else "sh")
@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_classic(flavor, busybox):
    cs = h.run(flavor, h.CLASSIC, busybox=busybox)
    assert cs.exit_code == 0, cs.log
    assert address_of(cs, flavor, "eth0")[0] == "10.171.254.123/24"
    assert address_of(cs, flavor, "eth1")[0] == "42.120.74.105/24"
    # intranet routes on eth0, no default there; the internet default route on eth1
    assert sorted(routes_of(cs, flavor, "eth0")) == [("10.0.0.0/8", "10.171.254.1"), ("172.16.0.0/12", "10.171.254.1")]
    assert routes_of(cs, flavor, "eth1") == [("0.0.0.0/0", "42.120.74.1")]


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_many_routes_all_arrive_once(flavor):
    cs = h.run(flavor, h.MULTI)
    assert cs.exit_code == 0, cs.log
    got = routes_of(cs, flavor, "eth0")
    assert sorted(got) == sorted([("0.0.0.0/0", "192.168.10.1"), ("10.0.0.0/8", "192.168.10.1"),
                                  ("172.16.0.0/12", "192.168.10.1"), ("100.64.0.0/10", "192.168.10.1")])
    assert address_of(cs, flavor, "eth0")[0] == "192.168.10.20/23"
    assert h.after(cs, "/etc/hostname") == "web-1.example.com\n"
    assert "127.0.1.1\tweb-1.example.com web-1 # os-conf" in h.after(cs, "/etc/hosts")
    assert cs.change("/etc/shadow") is None  # no password in this os.conf


def test_gateway_key_is_used_when_no_default_route_is_listed():
    conf = h.VPC.replace('eth0_route="0.0.0.0/0 10.171.254.1"', 'eth0_route="10.0.0.0/8 10.171.254.1"')
    cs = h.run("networkd", conf)
    assert ("0.0.0.0/0", "10.171.254.1") in routes_of(cs, "networkd", "eth0")


def test_flavour_specifics():
    sysconfig = h.run("sysconfig")
    net = h.env(h.after(sysconfig, "/etc/sysconfig/network"))
    assert net["GATEWAY"] == "10.171.254.1" and net["HOSTNAME"] == "iZ23r29djmjZ"
    ifupdown = h.run("ifupdown")
    main = h.stanzas(h.after(ifupdown, "/etc/network/interfaces"))
    assert "eth0" not in main and "eth9" in main  # the image's dhcp stanza is commented out, others kept
    # sourced by name: busybox's ifup expands no glob (ifupdown reads it either way)
    assert "source /etc/network/interfaces.d/os-conf" in h.after(ifupdown, "/etc/network/interfaces").splitlines()
    netplan = h.run("netplan")
    assert netplan.change("/etc/netplan/50-cloud-init.yaml") is None
    nm = h.run("networkmanager")
    path = "/etc/NetworkManager/system-connections/os-conf-eth0.nmconnection"
    assert h.section(h.ini(h.after(nm, path)), "ipv4")["dns"] == "7.7.7.7;8.8.8.8;"
    wicked = h.run("wicked")
    assert h.env(h.after(wicked, "/etc/sysconfig/network/config"))["NETCONFIG_DNS_STATIC_SERVERS"] == "7.7.7.7 8.8.8.8"
    assert h.after(wicked, "/etc/HOSTNAME") == "iZ23r29djmjZ\n"
    netifrc = h.run("netifrc")
    assert netifrc.change("/etc/init.d/net.eth0").after == "-> net.lo"
    assert netifrc.change("/etc/runlevels/default/net.eth0").after == "-> /etc/init.d/net.eth0"
    assert h.after(netifrc, "/etc/conf.d/hostname") == 'hostname="iZ23r29djmjZ"\n'


def test_resolv_conf_linked_to_the_resolved_stub():
    tree = h.tree_for("netplan", links={"/etc/resolv.conf": "../run/systemd/resolve/stub-resolv.conf"})
    cs = h.run("netplan", tree=tree)
    assert cs.change("/etc/resolv.conf") is None  # the link stays
    assert h.after(cs, "/etc/systemd/resolved.conf.d/90-os-conf.conf") == "# written by os-conf\n[Resolve]\nDNS=7.7.7.7 8.8.8.8\n"
    assert ["systemctl", "try-restart", "systemd-resolved.service"] in cs.commands


def test_missing_host_keys_are_regenerated():
    cs = h.run("sysconfig")
    assert h.after(cs, "/etc/ssh/ssh_host_ed25519_key").startswith("(simulated: ssh-keygen -A")
    assert ["ssh-keygen", "-A"] in cs.commands
    present = h.tree_for("sysconfig", {"/etc/ssh/ssh_host_rsa_key": "key"})
    assert ["ssh-keygen", "-A"] not in h.run("sysconfig", tree=present).commands


def test_first_partition_as_root_and_unmounted():
    root = h.run("sysconfig", first="/")
    assert root.change("/aliyun_custom_image/os.conf").action == "delete"
    unmounted = h.run("sysconfig", first=None)
    assert unmounted.change("[first partition]/aliyun_custom_image/os.conf").action == "delete"
    assert ["mount", "/dev/wb-first", "/run/os-conf/first"] in unmounted.commands


def test_no_os_conf_changes_nothing_but_the_log():
    cs = h.run("sysconfig", conf=None, tree=h.tree_for("sysconfig", {"/etc/ssh/ssh_host_rsa_key": "k"}))
    assert cs.exit_code == 0 and "nothing to do" in cs.log
    assert {c.path for c in cs.changes} <= {"/var/log/os-conf.log", "/var/lib/os-conf"}


def test_first_partition_not_found():
    script = build_script("sysconfig", "00000000-0000-0000-0000-000000000000", "")
    cs = h.run("sysconfig", script=script)
    assert cs.exit_code == 0 and "was not found" in cs.log
    assert cs.change("/boot/aliyun_custom_image/os.conf") is None


def test_a_failed_step_keeps_os_conf():
    cs = h.run("sysconfig", h.VPC.replace("eth0_netmask=255.255.255.0", "eth0_netmask=255.0.255.0"))
    assert cs.exit_code == 1
    assert "not a contiguous IPv4 mask" in cs.log and "os.conf kept" in cs.log
    assert cs.change("/boot/aliyun_custom_image/os.conf") is None


def test_stop_and_status():
    assert h.run("sysconfig", action="stop").changes == []
    status = h.run("sysconfig", action="status")
    assert status.exit_code == 0 and "waiting to be applied" in status.log


HOSTILE = [
    "hostname=$(touch /etc/pwned-subst)",
    "hostname=`touch /etc/pwned-backtick`",
    "hostname=x;touch /etc/pwned-semicolon",
    'eth0_route="0.0.0.0/0 10.171.254.1;$(touch /etc/pwned-route)"',
    "dns_nameserver=7.7.7.7 && touch /etc/pwned-and",
    "password=$(touch${IFS}/etc/pwned-ifs)",
    "eth0_ip_addr=10.0.0.1|touch /etc/pwned-pipe",
    "hostname=a\ntouch /etc/pwned-newline",
    'hostname="quoted" ; touch /etc/pwned-quoted',
    "eth0_mac_addr=" + "A" * 5000,
    "hostname=caf\xe9-\udcff",
]


@pytest.mark.parametrize("busybox", SHELLS, ids=lambda b: "busybox" if b else "sh")
@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_hostile_os_conf_executes_nothing(flavor, busybox):
    conf = "\n".join(HOSTILE).encode("utf-8", "surrogateescape").decode("utf-8", "replace") + "\n"
    cs = h.run(flavor, conf, busybox=busybox)
    assert not [c.path for c in cs.changes if "pwned" in c.path]
    assert not any("touch" in " ".join(argv) for argv in cs.commands)
    assert cs.exit_code == 1 and "rejected" in cs.log  # refused, and os.conf kept for a fixed one
    assert cs.change("/boot/aliyun_custom_image/os.conf") is None


def test_defective_parser_loses_routes(tmp_path):
    """A parser with the sample's defects, simulated: the ChangeSet shows the routes it loses."""
    from pathlib import Path

    script = (Path(__file__).parents[1] / "fixtures" / "parsers" / "defective.sh").read_text()
    conf = h.MULTI.replace('eth0_route="0.0.0.0/0 192.168.10.1"', "")
    cs = h.run("sysconfig", conf, script=script)
    routes = h.after(cs, "/etc/sysconfig/network-scripts/route-eth0").splitlines()
    assert routes == ["10.0.0.0/8 via 10.0.0.0/8 dev eth0"]  # one route left, and with a wrong gateway
    assert not any(r.startswith("0.0.0.0/0") for r in routes)  # a VPC with no default route at all
    ours = h.run("sysconfig", conf)
    assert len(routes_of(ours, "sysconfig", "eth0")) == 4


def test_unknown_shebang_is_reported_not_hidden():
    cs = h.run("sysconfig", script="#!/nonexistent/interpreter\necho hi\n")
    assert cs.exit_code not in (0, None)
    assert cs.changes == [] or all("pwned" not in c.path for c in cs.changes)


def test_script_that_hangs_is_stopped(monkeypatch):
    from workbench import simulate as sim

    monkeypatch.setattr(sim, "TIMEOUT", 2)
    cs = h.run("sysconfig", script="#!/bin/sh\nsleep 30\n")
    assert cs.exit_code is None and "did not finish" in cs.log


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_scripts_are_posix_sh_by_shellcheck(flavor, tmp_path):
    import subprocess

    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (the bootstrap installs it)")
    path = tmp_path / "os-conf"
    path.write_text(build_script(flavor, h.UUID, h.LABEL))
    proc = subprocess.run(["shellcheck", "-s", "sh", "-S", "warning", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# -- NICs found by MAC, whatever the image calls them -----------------------------------------------------------
def renames(cs):
    return [argv[4:] for argv in cs.commands if argv[:3] == ["ip", "link", "set"] and "name" in argv]


@pytest.mark.parametrize("busybox", SHELLS, ids=lambda b: "busybox" if b else "sh")
@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_predictable_names_vpc(flavor, busybox):
    """udev called the NIC ens5: every flavour configures the NIC with the os.conf MAC."""
    tree = h.tree_for(flavor, {"/etc/network/interfaces": "auto lo\niface lo inet loopback\n\nallow-hotplug ens5\n"
                                                          "iface ens5 inet dhcp\n"} if flavor == "ifupdown" else None)
    cs = h.run(flavor, h.VPC, busybox=busybox, tree=tree, nic_names=("ens5", "ens6"))
    assert cs.exit_code == 0, cs.log
    assert address_of(cs, flavor, "eth0")[0] == "10.171.254.123/24"
    assert "eth0: the NIC with MAC 00:8c:fa:5e:14:23 is ens5" in cs.log
    if flavor in RENAMED:
        assert renames(cs) == [["ens5", "name", "oc-eth0"], ["oc-eth0", "name", "eth0"]], cs.commands
        assert ["ip", "link", "set", "dev", "ens5", "down"] in cs.commands
    else:  # the configuration matches the MAC: the NIC keeps udev's name
        assert renames(cs) == []
    rule = cs.change(RULES)
    if flavor in RENAMED and flavor != "netplan":  # netplan's set-name keeps the name at later boots
        assert rule.action == "create"
        assert ('SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="00:8c:fa:5e:14:23", ATTR{type}=="1", NAME="eth0"'
                in rule.after.splitlines())
    else:
        assert rule is None
    if flavor == "ifupdown":  # the image's stanza for the old name goes too (nothing else may configure it)
        assert "ens5" not in h.stanzas(h.after(cs, "/etc/network/interfaces"))
    if flavor == "networkmanager":
        conn = h.ini(h.after(cs, "/etc/NetworkManager/system-connections/os-conf-eth0.nmconnection"))
        assert "interface-name" not in h.section(conn, "connection")  # a name would not match ens5
    if flavor == "netplan":
        eth = h.netplan(h.after(cs, "/etc/netplan/90-os-conf.yaml"))["eth0"]
        assert eth["set-name"] == "eth0" and eth["match"]["macaddress"] == "00:8c:fa:5e:14:23"
        assert ["netplan", "generate"] in cs.commands


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_predictable_names_classic(flavor):
    cs = h.run(flavor, h.CLASSIC, nic_names=("ens5", "ens6"))
    assert cs.exit_code == 0, cs.log
    assert address_of(cs, flavor, "eth1")[0] == "42.120.74.105/24"
    assert routes_of(cs, flavor, "eth1") == [("0.0.0.0/0", "42.120.74.1")]
    if flavor in RENAMED:
        assert sorted(map(tuple, renames(cs))) == [("ens5", "name", "oc-eth0"), ("ens6", "name", "oc-eth1"),
                                                   ("oc-eth0", "name", "eth0"), ("oc-eth1", "name", "eth1")]


def test_two_nics_named_the_other_way_round_swap():
    """The kernel named them in the other order: two steps through temporary names let them swap."""
    cs = h.run("ifupdown", h.CLASSIC, nics=[("eth0", "00:8c:fa:5e:14:24"), ("eth1", "00:8c:fa:5e:14:23")])
    assert cs.exit_code == 0, cs.log
    assert renames(cs)[:2] == [["eth1", "name", "oc-eth0"], ["eth0", "name", "oc-eth1"]]
    assert renames(cs)[2:] == [["oc-eth0", "name", "eth0"], ["oc-eth1", "name", "eth1"]]


def test_a_name_held_by_a_nic_not_in_os_conf_is_not_taken():
    cs = h.run("ifupdown", h.VPC, nics=[("eth0", "52:54:00:99:99:99"), ("ens6", "00:8c:fa:5e:14:23")])
    assert cs.exit_code == 1 and "another interface, not in os.conf, has that name" in cs.log
    assert renames(cs)[-1] == ["oc-eth0", "name", "ens6"]  # put back
    assert cs.change("/etc/network/interfaces.d/os-conf") is None
    assert cs.change("/boot/aliyun_custom_image/os.conf") is None  # kept for the next boot


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_a_mac_no_nic_has_configures_the_others_and_keeps_os_conf(flavor):
    cs = h.run(flavor, h.CLASSIC, nics=[("ens5", "00:8c:fa:5e:14:23")])  # eth1's NIC is missing
    assert cs.exit_code == 1
    assert "eth1: no network interface has the MAC address 00:8c:fa:5e:14:24; nothing configured for eth1" in cs.log
    assert address_of(cs, flavor, "eth0")[0] == "10.171.254.123/24"  # the other NIC still gets its address
    assert cs.change("/boot/aliyun_custom_image/os.conf") is None and "os.conf kept" in cs.log


def test_without_a_mac_the_nic_is_found_by_name_and_it_is_logged():
    cs = h.run("ifupdown", h.MULTI, nic_names=("ens5", "ens6"))  # MULTI has no eth0_mac_addr
    assert cs.exit_code == 0, cs.log
    assert "eth0: os.conf gives no eth0_mac_addr; configuring the interface named eth0" in cs.log
    assert renames(cs) == [] and cs.change(RULES) is None
    assert "eth0" in h.stanzas(h.after(cs, "/etc/network/interfaces.d/os-conf"))


def test_mac_case_does_not_matter():
    cs = h.run("ifupdown", h.VPC.replace("00:8c:fa:5e:14:23", "00:8C:FA:5E:14:23"), nic_names=("ens5", "ens6"))
    assert cs.exit_code == 0, cs.log
    assert 'ATTR{address}=="00:8c:fa:5e:14:23"' in cs.change(RULES).after


def test_the_names_the_simulation_gives_the_nics():
    from workbench.image.tree import GuestTree
    from workbench.netnames import expected_names

    udev = {"/usr/lib/systemd/systemd-udevd": "", "/usr/lib/udev/rules.d/80-net-setup-link.rules": ""}
    assert expected_names(GuestTree.from_dict(udev), "root=/dev/vda1 ro quiet") == ("ens5", "ens6")
    assert expected_names(GuestTree.from_dict(udev), "root=/dev/vda1 net.ifnames=0") == ("eth0", "eth1")
    assert expected_names(GuestTree.from_dict({"/etc/hostname": "x\n"}), "") == ("eth0", "eth1")  # no udev


def test_at_a_later_boot_udev_names_the_nics_by_the_parser_s_rule_where_it_runs():
    from workbench.image.tree import GuestTree
    from workbench.netnames import nics_at_boot

    rule = ('# written by os-conf\nSUBSYSTEM=="net", ACTION=="add", ATTR{address}=="00:8c:fa:5e:14:24", '
            'ATTR{type}=="1", NAME="eth1"\n')
    tree = GuestTree.from_dict({RULES: rule})
    macs = ["00:8c:fa:5e:14:23", "00:8c:fa:5e:14:24"]
    assert nics_at_boot(("ens5", "ens6"), macs, tree, udev=True) == [("ens5", macs[0]), ("eth1", macs[1])]
    assert nics_at_boot(("ens5", "ens6"), macs, tree, udev=False) == [("ens5", macs[0]), ("ens6", macs[1])]
    assert nics_at_boot(("ens5", "ens6"), macs[:1], GuestTree.from_dict({}), udev=True) == [("ens5", macs[0])]
