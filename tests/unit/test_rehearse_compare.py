"""The comparison of a real boot with the simulation, the choice of boot, the direct boot's bounds (pure), and the
overlay's NBD server."""

import json
import os
import socket
import subprocess

import pytest

from workbench import crypt
from workbench.image.tree import GuestTree
from workbench.image.preflight import preflight
from workbench.rehearse import RehearsalError, compare, tree_changes
from workbench.rehearse.boot import (bios_boot_code, choose_boot, choose_firmware, direct_boot, firmware_args,
                                     image_cmdline, ovmf)
from workbench.rehearse.boot import grub_cmdline as _grub_cmdline
from workbench.rehearse.vm import nbd_export as _nbd_export
from workbench.rehearse.vm import disk_args, nic_args
from workbench.changes import Change

H1 = crypt.sha512_crypt("qwer1234", "saltone")
H2 = crypt.sha512_crypt("qwer1234", "salttwo")


def test_tree_changes_only_in_the_parsers_domain():
    before = GuestTree.from_dict({"/etc/hostname": "old\n", "/etc/machine-id": "", "/etc/ssh/ssh_host_rsa_key": "k"})
    after = GuestTree.from_dict({"/etc/hostname": "new\n", "/etc/machine-id": "abc\n", "/var/log/os-conf.log": "x",
                                 "/etc/network/interfaces.d/os-conf": "auto eth0\n"})
    got = {(c.path, c.action) for c in tree_changes(before, after)}
    assert got == {("/etc/hostname", "modify"), ("/var/log/os-conf.log", "create"),
                   ("/etc/network/interfaces.d/os-conf", "create"), ("/etc/ssh/ssh_host_rsa_key", "delete")}


def test_matching_boot():
    real = [Change("/etc/hostname", "modify", "a\n", "h\n"), Change("/etc/shadow", "modify", "", f"root:{H1}:20000:0:::::\n"),
            Change("/var/log/os-conf.log", "create", None, "2026 done"),
            Change("/etc/ssh/ssh_host_ed25519_key", "create", None, "REAL KEY")]
    sim = [Change("/etc/hostname", "modify", "a\n", "h\n"), Change("/etc/shadow", "modify", "", f"root:{H2}:20000:0:::::\n"),
           Change("/var/log/os-conf.log", "create", None, "2025 done"),
           Change("/etc/ssh/ssh_host_ed25519_key", "create", None, "(simulated)"), Change("/var/lib/os-conf", "create", None, None, "dir")]
    assert compare(real, sim, "qwer1234") == []


def test_each_kind_of_difference_is_named():
    real = [Change("/etc/hostname", "modify", "a\n", "wrong\n"), Change("/etc/shadow", "modify", "", f"root:{H1}:1:0:::::\n"),
            Change("/etc/network/interfaces", "modify", "x", "y")]
    sim = [Change("/etc/hostname", "modify", "a\n", "h\n"), Change("/etc/shadow", "modify", "", f"root:{H2}:2:0:::::\n"),
           Change("/etc/netplan/90-os-conf.yaml", "create", None, "n")]
    got = compare(real, sim, "not-the-password")
    assert "/etc/hostname: the content written at boot differs from the simulation's" in got
    assert "/etc/shadow: the password hash of root differs" in got
    assert "/etc/network/interfaces: the boot modified it, the simulation did not" in got
    assert "/etc/netplan/90-os-conf.yaml: the simulation created it, the boot did not" in got
    ageing = compare([Change("/etc/shadow", "modify", "", f"root:{H1}:1:0:99999::::\n")],
                     [Change("/etc/shadow", "modify", "", f"root:{H2}:2:0:90::::\n")], "qwer1234")
    assert ageing == ["/etc/shadow: the ageing fields of root differ"]  # the day of the change itself may differ


def test_grub_cmdline_keeps_safe_words_only():
    tree = GuestTree.from_dict({"/etc/default/grub": 'GRUB_CMDLINE_LINUX="quiet net.ifnames=0 console=tty0 $(evil)"\n'
                                                     'GRUB_CMDLINE_LINUX_DEFAULT="splash"\n'})
    assert _grub_cmdline(tree) == "quiet net.ifnames=0 splash"


def _raw_disk(path, code: bytes):
    entry = bytes([0x80, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + (8192).to_bytes(4, "little")
    sector = code.ljust(440, b"\0") + bytes(6) + entry + bytes(48) + b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(sector)
        f.truncate(8 << 20)
    return preflight(str(path))


def test_bios_boot_code_is_read_from_the_first_sector(tmp_path):
    assert bios_boot_code(_raw_disk(tmp_path / "code.raw", b"\xfa\x31\xc0\x8e\xd8"))
    assert not bios_boot_code(_raw_disk(tmp_path / "blank.raw", b""))  # what sfdisk leaves: a table, no code
    facts = _raw_disk(tmp_path / "nosig.raw", b"\xfa\x31\xc0")
    with open(facts.path, "r+b") as f:  # code, but no boot signature: the BIOS would not run it
        f.seek(510)
        f.write(b"\0\0")
    assert not bios_boot_code(facts)


def test_choice_of_boot():
    assert choose_boot("auto", True, "/boot/grub/grub.cfg")[0] == "bootloader"
    mode, why = choose_boot("auto", True, None)
    assert mode == "kernel" and "console=ttyS0" in why
    mode, why = choose_boot("auto", False, None)
    assert mode == "kernel" and "no BIOS boot code" in why
    assert choose_boot("kernel", True, "/boot/extlinux.conf")[0] == "kernel"
    with pytest.raises(RehearsalError, match="no BIOS boot code"):
        choose_boot("bootloader", False, None)
    with pytest.raises(RehearsalError, match="console=ttyS0"):
        choose_boot("bootloader", True, None)


def _entry(cmdline, kernel="/boot/vmlinuz-6.1.0-10-amd64", initrd="/boot/initrd.img-6.1.0-10-amd64"):
    from workbench.image.bootinfo import BootFacts, KernelFacts
    from workbench.image.bootloader import BootEntry

    return BootFacts(loader="extlinux", config_path="/boot/extlinux.conf",
                     default=BootEntry("debian", kernel, [initrd], cmdline),
                     kernel=KernelFacts(kernel, "6.1.0-10-amd64", "x86_64", initrd))


def test_direct_boot_uses_the_default_entry_and_its_own_command_line(tmp_path):
    g = _Boot({"/boot/vmlinuz-6.1.0-9-amd64": 8 << 20, "/boot/initrd.img-6.1.0-9-amd64": 30 << 20,
               "/boot/vmlinuz-6.1.0-10-amd64": 8 << 20, "/boot/initrd.img-6.1.0-10-amd64": 30 << 20})
    bf = _entry("root=UUID=abcd ro quiet console=tty0 console=ttyS0,115200")
    bf.kernel.path, bf.kernel.initrd = "/boot/vmlinuz-6.1.0-9-amd64", "/boot/initrd.img-6.1.0-9-amd64"
    kernel, args, notes = direct_boot(g, str(tmp_path), "/dev/sda2", bf)
    assert kernel == "/boot/vmlinuz-6.1.0-9-amd64"  # the default entry's, not the newest
    assert args[-1] == "root=UUID=abcd ro quiet console=tty0 console=ttyS0,115200"  # as is: no net.ifnames=0, no panic=
    assert notes == ["the kernel command line of the default entry in /boot/extlinux.conf"]
    # grub variables and odd characters are not passed on; a console on ttyS0 is added when there is none
    cmdline, notes = image_cmdline(_entry('root=/dev/vda1 ro $vt_handoff quiet "x'), "0f0e")
    assert cmdline == "root=/dev/vda1 ro quiet console=ttyS0,115200"
    assert "2 word(s)" in notes[1] and "console=ttyS0,115200 added" in notes[2]


def test_choice_of_firmware_and_disk_bus(tmp_path):
    assert choose_firmware("auto", "UEFI")[0] == "uefi" and choose_firmware("auto", "both")[0] == "bios"
    assert choose_firmware("auto", None) == ("bios", "the image's boot mode is unknown; BIOS tried")
    assert choose_firmware("uefi", "BIOS") == ("uefi", "as asked")
    assert firmware_args("bios", str(tmp_path)) == []
    if ovmf() is None:
        with pytest.raises(RehearsalError, match="apt install ovmf"):
            firmware_args("uefi", str(tmp_path))
    else:
        args = firmware_args("uefi", str(tmp_path))
        assert args[1].startswith("if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/")
        assert args[3] == f"if=pflash,format=raw,unit=1,file={tmp_path}/OVMF_VARS.fd"  # a private copy is written
        assert (tmp_path / "OVMF_VARS.fd").stat().st_size > 0
    assert disk_args("file=x.qcow2", "nvme")[-1] == "nvme,drive=disk0,serial=wbrehearsal,addr=0x4"
    assert disk_args("file=x.qcow2", "virtio") == ["-drive", "file=x.qcow2,if=none,id=disk0", "-device",
                                                   "virtio-blk-pci,drive=disk0,addr=0x4"]
    mode, why = choose_boot("auto", False, None, "uefi")
    assert mode == "kernel" and "no fallback loader" in why


def test_nic_arguments_take_only_unicast_macs_from_the_os_conf():
    args = nic_args({"eth0_mac_addr": "00:8c:fa:5e:14:23", "eth1_mac_addr": "00:8c:fa:5e:14:24"})
    assert "virtio-net-pci,netdev=n0,mac=00:8c:fa:5e:14:23,addr=0x5" in args  # slot 5: ens5 by udev's names
    assert "netdev=n1,mac=00:8c:fa:5e:14:24,addr=0x6" in args[-1]
    assert args.count("-netdev") == 2 and all("restrict=on" in a for a in args if a.startswith("user,"))
    hostile = nic_args({"eth0_mac_addr": "00:11:22:33:44:55,romfile=/etc/shadow"})
    assert hostile[-1] == "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:38,addr=0x5" and len(hostile) == 4
    assert nic_args({"eth0_mac_addr": "01:00:5e:00:00:01"})[-1].endswith("mac=52:54:00:12:34:38,addr=0x5")  # multicast
    assert len(nic_args({})) == 4  # eth0 only when the os.conf has no eth1


def test_the_overlay_is_served_to_two_machines_at_once(tmp_path):
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(overlay), "6G"], check=True)
    with _nbd_export(str(tmp_path), str(overlay)) as sock:
        with socket.socket(socket.AF_UNIX) as first:  # the appliance, holding its connection while the guest boots
            first.connect(sock)
            info = subprocess.run(["qemu-img", "info", "--output=json", f"nbd+unix:///?socket={sock}"],
                                  capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["virtual-size"] == 6 << 30  # the qcow2's guest view, not the file
    assert not os.path.exists(sock)  # the server is gone with the rehearsal
    (tmp_path / "broken.qcow2").write_bytes(b"QFI\xfb" + b"\0" * 60)
    with pytest.raises(RehearsalError, match="could not be served"):
        with _nbd_export(str(tmp_path), str(tmp_path / "broken.qcow2")):
            pass


class _Boot:
    """The few session calls a direct boot makes, over an in-memory /boot."""

    def __init__(self, sizes: dict[str, int]):
        self.sizes, self.downloaded = sizes, []

    def glob(self, pattern):
        return [p for p in self.sizes if p.startswith("/boot/vmlinuz-")]

    def is_file(self, path):
        return path in self.sizes

    def filesize(self, path):
        return self.sizes[path]

    def download(self, path, dest):
        self.downloaded.append(path)

    def fs_uuid(self, device):
        return "0f0e"


def test_direct_boot_takes_the_newest_kernel_and_bounds_what_it_reads(tmp_path):
    g = _Boot({"/boot/vmlinuz-6.1.0-9-amd64": 8 << 20, "/boot/initrd.img-6.1.0-9-amd64": 30 << 20,
               "/boot/vmlinuz-6.1.0-10-amd64": 8 << 20, "/boot/initrd.img-6.1.0-10-amd64": 30 << 20})
    kernel, args, notes = direct_boot(g, str(tmp_path), "/dev/sda2", None, "quiet")
    assert kernel == "/boot/vmlinuz-6.1.0-10-amd64" and g.downloaded == [kernel, "/boot/initrd.img-6.1.0-10-amd64"]
    # no bootloader entry: a made-up command line, said so; nothing added but the serial console
    assert args[-1] == "root=UUID=0f0e ro quiet console=ttyS0,115200"
    assert any("made-up" in n for n in notes) and any("console=ttyS0,115200 added" in n for n in notes)
    huge = _Boot({"/boot/vmlinuz-6.1.0-10-amd64": 8 << 20, "/boot/initrd.img-6.1.0-10-amd64": 40 << 30})
    with pytest.raises(RehearsalError, match="initrd.img-6.1.0-10-amd64 is 40960 MiB.*it was not read"):
        direct_boot(huge, str(tmp_path), "/dev/sda2")
    assert huge.downloaded == []


def test_resolv_conf_is_compared_as_the_resolver_reads_it():
    """NetworkManager rewrites /etc/resolv.conf at run time with its own header around the same lines (issue 24): no
    difference to the instance. Another nameserver, a lost search domain or different options still are."""
    sim = [Change("/etc/resolv.conf", "modify", "nameserver 1.1.1.1\n", "search example.internal\nnameserver 7.7.7.7\n"
                                                                         "nameserver 8.8.8.8\n")]
    nm = "# Generated by NetworkManager\nsearch   example.internal\nnameserver 7.7.7.7\nnameserver 8.8.8.8\n"
    assert compare([Change("/etc/resolv.conf", "modify", "nameserver 1.1.1.1\n", nm)], sim, None) == []
    for after in ("# Generated by NetworkManager\nsearch example.internal\nnameserver 8.8.8.8\nnameserver 7.7.7.7\n",
                  "# Generated by NetworkManager\nnameserver 7.7.7.7\nnameserver 8.8.8.8\n",
                  nm + "options rotate\n", "-> /run/NetworkManager/resolv.conf"):
        got = compare([Change("/etc/resolv.conf", "modify", "nameserver 1.1.1.1\n", after)], sim, None)
        assert len(got) == 1 and got[0].startswith("/etc/resolv.conf: "), (after, got)
