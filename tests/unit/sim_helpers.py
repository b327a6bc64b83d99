"""Guest trees per network stack, the os.conf examples, and readers for the files parsers write."""

import re

import yaml

from workbench.image.tree import GuestTree
from workbench.parsers import ParserScript, parser_text
from workbench.simulate import simulate

UUID = "1b2c3d4e-0000-4000-8000-00000000b007"
LABEL = "boot"

VPC = ('hostname=iZ23r29djmjZ\npassword=cXdlcjEyMzQK\neth0_ip_addr=10.171.254.123\neth0_mac_addr=00:8c:fa:5e:14:23\n'
       'eth0_netmask=255.255.255.0\neth0_gateway=10.171.254.1\neth0_route="0.0.0.0/0 10.171.254.1"\n'
       'dns_nameserver="7.7.7.7 8.8.8.8"\n')
CLASSIC = ('hostname=iZ23r29djmjZ\npassword=cXdlcjEyMzQK\neth0_ip_addr=10.171.254.123\neth0_mac_addr=00:8c:fa:5e:14:23\n'
           'eth0_netmask=255.255.255.0\neth0_gateway=10.171.254.1\n'
           'eth0_route="10.0.0.0/8 10.171.254.1;172.16.0.0/12 10.171.254.1"\n'
           'eth1_ip_addr=42.120.74.105\neth1_mac_addr=00:8c:fa:5e:14:24\neth1_netmask=255.255.255.0\n'
           'eth1_gateway=42.120.74.1\neth1_route="0.0.0.0/0 42.120.74.1"\ndns_nameserver="7.7.7.7 8.8.8.8"\n')
MULTI = ('hostname=web-1.example.com\neth0_ip_addr=192.168.10.20\neth0_netmask=255.255.254.0\n'
         'eth0_gateway=192.168.10.1\n'
         'eth0_route="10.0.0.0/8 192.168.10.1;172.16.0.0/12 192.168.10.1;100.64.0.0/10 192.168.10.1;'
         '0.0.0.0/0 192.168.10.1;10.0.0.0/8 192.168.10.1"\ndns_nameserver="100.100.2.136 100.100.2.138"\n')

BASE = {
    "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "/etc/shadow": "root:*:19000:0:99999:7:::\n",
    "/etc/hostname": "localhost\n",
    "/etc/hosts": "127.0.0.1 localhost\n",
    "/etc/resolv.conf": "search example.internal\nnameserver 192.168.122.1\n",
    "/etc/ssh/sshd_config": "Port 22\n",
    "/etc/init.d/": "",
}
STACKS = {
    "sysconfig": {"/etc/sysconfig/network": "NETWORKING=yes\nHOSTNAME=localhost\n",
                  "/etc/sysconfig/network-scripts/ifcfg-eth0": "DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n"},
    "ifupdown": {"/etc/network/interfaces": "auto lo\niface lo inet loopback\n\nallow-hotplug eth0\n"
                                            "iface eth0 inet dhcp\n    hostname old\n\nauto eth9\niface eth9 inet manual\n",
                 "/etc/network/interfaces.d/": ""},
    "netplan": {"/etc/netplan/50-cloud-init.yaml": "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n"},
    "networkd": {"/etc/systemd/network/99-default.network": "[Match]\nName=*\n[Network]\nDHCP=yes\n"},
    "networkmanager": {"/etc/NetworkManager/system-connections/": ""},
    "wicked": {"/etc/sysconfig/network/ifcfg-eth0": "BOOTPROTO='dhcp'\n", "/etc/sysconfig/network/config":
               'NETCONFIG_DNS_STATIC_SERVERS=""\n', "/etc/HOSTNAME": "linux\n"},
    "netifrc": {"/etc/conf.d/net": 'config_eth0="dhcp"\n', "/etc/conf.d/hostname": 'hostname="localhost"\n',
                "/etc/init.d/net.lo": "#!/sbin/openrc-run\n", "/etc/runlevels/default/": ""},
}


def tree_for(flavor: str, extra: dict | None = None, links: dict | None = None) -> GuestTree:
    return GuestTree.from_dict({**BASE, **STACKS[flavor], **(extra or {})}, links)


def run(flavor, conf=VPC, script=None, busybox=False, tree=None, first="/boot", init="systemd", **kw):
    """The flavour's parser (or script, named as the flavour) started as the init style starts it."""
    text = script if script is not None else parser_text(flavor, init, UUID, LABEL)
    return simulate(tree or tree_for(flavor), conf, ParserScript(flavor, text, init, UUID, LABEL), first,
                    busybox=busybox, **kw)


def after(cs, path):
    ch = cs.change(path)
    assert ch is not None, f"{path} was not changed: {[c.path for c in cs.changes]}"
    return ch.after


def env(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            out[k] = v.strip("'\"")
    return out


def ini(text):
    """Sections in order with their (key, value) lists; repeated sections and keys kept."""
    out, current = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = re.match(r"^\[(.+)\]$", line)
        if m:
            current = (m.group(1), [])
            out.append(current)
        elif current is not None and "=" in line:
            k, _, v = line.partition("=")
            current[1].append((k, v))
    return out


def section(sections, name):
    return dict(next(kv for n, kv in sections if n == name))


def netplan(text):
    return yaml.safe_load(text)["network"]["ethernets"]


def stanzas(text):
    """ifupdown: {iface: {"method": ..., "options": [(key, value)]}} for active (uncommented) stanzas."""
    out, cur = {}, None
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        words = s.split()
        if words[0] == "iface":
            cur = out[words[1]] = {"method": words[3], "options": []}
        elif words[0] in ("auto", "allow-hotplug", "source", "mapping"):
            cur = None
        elif cur is not None:
            cur["options"].append((words[0], " ".join(words[1:])))
    return out


def shell_assignments(text):
    """netifrc's conf.d/net: name="value" with values spanning lines."""
    return {m.group(1): m.group(2) for m in re.finditer(r'^(\w+)="(.*?)"', text, re.M | re.S)}


