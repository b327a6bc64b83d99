"""fstab mapping and OS detection from pulled files (pure)."""

from workbench.image.fstab import Volume, mount_plan, parse_fstab, resolve_spec
from workbench.image.osinfo import detect, parse_env_file
from workbench.image.tree import GuestTree

VOLS = [
    Volume("/dev/sda1", "ext4", uuid="1111-aaaa", label="boot", partuuid="0000abcd-01", number=1),
    Volume("/dev/sda2", "vfat", uuid="ABCD-1234", number=2, partlabel="EFI"),
    Volume("/dev/centos/root", "xfs", uuid="root-uuid"),
    Volume("/dev/my-vg/lv-data", "ext4"),
]


def test_specs_resolve():
    assert resolve_spec("UUID=1111-AAAA", VOLS).device == "/dev/sda1"
    assert resolve_spec('LABEL="boot"', VOLS).device == "/dev/sda1"
    assert resolve_spec("PARTUUID=0000abcd-01", VOLS).device == "/dev/sda1"
    assert resolve_spec("PARTLABEL=EFI", VOLS).device == "/dev/sda2"
    assert resolve_spec("/dev/disk/by-uuid/ABCD-1234", VOLS).device == "/dev/sda2"
    assert resolve_spec("/dev/vda2", VOLS).device == "/dev/sda2"
    assert resolve_spec("/dev/xvda1", VOLS).device == "/dev/sda1"
    assert resolve_spec("/dev/nvme0n1p2", VOLS).device == "/dev/sda2"
    assert resolve_spec("/dev/mapper/centos-root", VOLS).device == "/dev/centos/root"
    assert resolve_spec("/dev/mapper/my--vg-lv--data", VOLS).device == "/dev/my-vg/lv-data"
    assert resolve_spec("UUID=nope", VOLS) is None and resolve_spec("tmpfs", VOLS) is None


def test_mount_plan_orders_and_skips():
    fstab = parse_fstab("""# comment
UUID=root-uuid / xfs defaults 0 0
UUID=ABCD-1234 /boot/efi vfat umask=0077 0 1
LABEL=boot /boot ext4 defaults 0 2
/dev/mapper/centos-swap swap swap defaults 0 0
tmpfs /tmp tmpfs defaults 0 0
/srv/x /mnt/bind none bind 0 0
UUID=gone /data ext4 defaults 0 2
UUID=gone2 /opt ext4 nofail 0 2
server:/export /nfs nfs defaults 0 0
/dev/sda1 /with\\040space ext4 defaults 0 0
""")
    plan, notes = mount_plan(fstab, VOLS)
    assert [(v.device, e.mountpoint) for v, e in plan] == [
        ("/dev/sda1", "/boot"), ("/dev/sda1", "/with space"), ("/dev/sda2", "/boot/efi")]
    assert notes == ["fstab: UUID=gone for /data matches no partition or volume in this image"]


def test_env_file_is_parsed_not_evaluated():
    env = parse_env_file('ID="centos"\nX=$(reboot)\nexport Y=1\n# c\nbad line\nK-ey=1\nZ=\'q\'\n')
    assert env == {"ID": "centos", "X": "$(reboot)", "Y": "1", "Z": "q"}


def _tree(files, links=None):
    return GuestTree.from_dict(files, links)


def test_detect_centos7_sysconfig_systemd():
    t = _tree({"/etc/os-release": 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7"\n',
               "/etc/centos-release": "CentOS Linux release 7.9.2009 (Core)\n",
               "/usr/lib/systemd/systemd": "", "/etc/systemd/system/": "",
               "/etc/sysconfig/network-scripts/ifcfg-eth0": "DEVICE=eth0\n"},
              {"/sbin": "usr/sbin", "/usr/sbin/init": "../lib/systemd/systemd"})
    o = detect(t)
    assert (o.distro, o.version, o.family, o.init, o.network) == ("centos", "7.9", "rhel", "systemd", "sysconfig")


def test_detect_ubuntu_netplan():
    t = _tree({"/usr/lib/os-release": "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n",
               "/etc/netplan/50-cloud-init.yaml": "network: {}\n", "/lib/systemd/systemd": "",
               "/etc/network/interfaces": "auto lo\n"},
              {"/etc/os-release": "../usr/lib/os-release", "/sbin/init": "/lib/systemd/systemd"})
    o = detect(t)
    assert (o.distro, o.version, o.family, o.init, o.network) == ("ubuntu", "22.04", "debian", "systemd", "netplan")


def test_detect_debian_ifupdown_and_networkd():
    deb = _tree({"/etc/os-release": "ID=debian\nVERSION_ID=\"12\"\n", "/etc/network/interfaces": "auto eth0\n"})
    assert detect(deb).network == "ifupdown" and detect(deb).family == "debian"
    nd = _tree({"/etc/os-release": "ID=arch\n", "/etc/systemd/network/20-wired.network": "[Match]\n",
                "/etc/systemd/system/multi-user.target.wants/": ""},
               {"/etc/systemd/system/multi-user.target.wants/systemd-networkd.service": "/x"})
    assert detect(nd).network == "networkd"


def test_detect_rhel9_networkmanager_suse_wicked_alpine_openrc():
    nm = _tree({"/etc/os-release": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
                "/etc/NetworkManager/system-connections/eth0.nmconnection": "[connection]\n"})
    assert detect(nm).network == "networkmanager" and detect(nm).family == "rhel"
    suse = _tree({"/etc/os-release": 'ID="sles"\nID_LIKE="suse"\nVERSION_ID="15.5"\n',
                  "/etc/sysconfig/network/ifcfg-eth0": "BOOTPROTO=dhcp\n"})
    assert detect(suse).network == "wicked" and detect(suse).family == "suse"
    alp = _tree({"/etc/os-release": "ID=alpine\nVERSION_ID=3.20.0\n", "/etc/network/interfaces": "auto eth0\n",
                 "/etc/runlevels/default/": "", "/etc/inittab": "::sysinit:/sbin/openrc sysinit\n"},
                {"/sbin/init": "/bin/busybox", "/bin/busybox": "busybox"})
    o = detect(alp)
    assert o.family == "alpine" and o.network == "ifupdown"
    gentoo = _tree({"/etc/gentoo-release": "Gentoo Base System release 2.14\n", "/etc/conf.d/net": "config_eth0=dhcp\n",
                    "/etc/runlevels/default/": "", "/sbin/openrc": ""})
    o = detect(gentoo)
    assert (o.distro, o.init, o.network) == ("gentoo", "openrc", "netifrc")


def test_detect_old_release_files_and_nothing():
    t = _tree({"/etc/redhat-release": "CentOS release 6.10 (Final)\n", "/etc/inittab": "id:3:initdefault:\n"})
    o = detect(t)
    assert (o.distro, o.version, o.family, o.init) == ("centos", "6.10", "rhel", "sysvinit")
    empty = detect(_tree({}))
    assert empty.distro is None and empty.network is None and empty.init is None
