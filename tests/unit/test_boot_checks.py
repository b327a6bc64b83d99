"""Boot readiness on in-memory facts: the bootloader configurations, the checks, and the fixes they offer."""

import pytest

from tests.unit.security_trees import FACTS
from workbench.verdict import verdict_of
from workbench.checks import REGISTRY, Context, all_checks, run_check
from workbench.fixes import build_fixes
from workbench.image import bootloader as bl
from workbench.image.bootinfo import BootFacts, KernelFacts
from workbench.image.fstab import Volume
from workbench.image.initramfs import Initramfs
from workbench.image.osinfo import detect
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestReport, Mount
from workbench.image.tree import GuestTree

ROOT_UUID = "20a0f708-d918-5f5d-97af-dec599fad1ed"
VOLUMES = [Volume("/dev/sda1", "ext4", "b007-0000", "boot", number=1), Volume("/dev/sda2", "ext4", ROOT_UUID, number=2)]

GRUB_CFG = """set default="1>2"
menuentry 'Debian GNU/Linux' --id gnulinux-simple {
    linux /vmlinuz-6.1.0-10-amd64 root=UUID=%s ro quiet
    initrd /initrd.img-6.1.0-10-amd64
}
submenu 'Advanced options' {
    menuentry 'Debian, with Linux 6.1.0-10-amd64' {
        linux /vmlinuz-6.1.0-10-amd64 root=UUID=%s ro
    }
    menuentry 'Debian, with Linux 6.1.0-9-amd64' {
        linux /vmlinuz-6.1.0-9-amd64 root=UUID=%s ro
    }
    menuentry 'Debian, with Linux 6.1.0-9-amd64 (recovery mode)' {
        linux /vmlinuz-6.1.0-9-amd64 root=/dev/sda2 ro single
        initrd /initrd.img-6.1.0-9-amd64
    }
}
""" % (ROOT_UUID, ROOT_UUID, ROOT_UUID)


def test_grub2_default_with_a_submenu_path():
    cfg = bl.parse_grub2(GRUB_CFG, "/boot/grub/grub.cfg", {}, {})
    assert cfg.default_entry.title == "Debian, with Linux 6.1.0-9-amd64 (recovery mode)"
    assert cfg.default_entry.cmdline == "root=/dev/sda2 ro single"


def test_grub2_saved_entry_and_bls_with_kernelopts():
    env = {"saved_entry": "abc-5.14.0-362.el9.x86_64", "kernelopts": "root=UUID=x ro console=ttyS0"}
    bls = {"abc-5.14.0-362.el9.x86_64": "title Rocky 9\nlinux /vmlinuz-5.14.0-362.el9.x86_64\n"
                                          "initrd /initramfs-5.14.0-362.el9.x86_64.img\noptions $kernelopts\n",
           "abc-0-rescue": "title rescue\nlinux /vmlinuz-0-rescue\noptions $kernelopts\n"}
    cfg = bl.parse_grub2('set default="${saved_entry}"\nblscfg\n', "/boot/grub2/grub.cfg", env, bls)
    e = cfg.default_entry
    assert cfg.loader == "grub2-bls" and e.kernel == "/vmlinuz-5.14.0-362.el9.x86_64"
    assert e.cmdline == "root=UUID=x ro console=ttyS0"


def test_extlinux_and_grub_legacy():
    ext = bl.parse_extlinux("DEFAULT b\nLABEL a\n  LINUX /va\nLABEL b\n  KERNEL /vb\n  APPEND initrd=/ib root=/dev/vda1 ro\n",
                            "/boot/extlinux/extlinux.conf")
    assert ext.default_entry.kernel == "/vb" and ext.default_entry.initrd == ["/ib"]
    assert ext.default_entry.cmdline == "root=/dev/vda1 ro"
    leg = bl.parse_grub_legacy("default=1\ntitle A\n kernel /vmlinuz-a ro\ntitle B\n kernel /vmlinuz-b root=LABEL=/ ro\n"
                               " initrd /initrd-b.img\n", "/boot/grub/grub.conf")
    assert leg.default_entry.title == "B" and leg.default_entry.initrd == ["/initrd-b.img"]


def test_paths_resolve_against_a_separate_boot():
    assert bl.resolve("/vmlinuz-1", "/boot/grub/grub.cfg", True)[0] == "/boot/vmlinuz-1"
    assert bl.resolve("(hd0,msdos1)/vmlinuz-1", "/boot/grub/grub.cfg", False) == ["/vmlinuz-1", "/boot/vmlinuz-1"]
    assert bl.resolve("vmlinuz", "/boot/extlinux/extlinux.conf", True)[0] == "/boot/extlinux/vmlinuz"


# -- the checks on built facts --------------------------------------------------------------------------------
def kernel(initramfs_modules=("virtio_blk", "virtio_pci", "ext4", "nvme"), modules=("virtio_blk", "virtio_pci",
           "virtio_net", "ext4", "nvme"), builtin=()):
    ird = Initramfs(files=[f"usr/lib/modules/6.1/kernel/{m}.ko" for m in initramfs_modules], segments=["zstd"])
    return KernelFacts("/boot/vmlinuz-6.1", "6.1", "x86_64", "/boot/initrd.img-6.1", 30 << 20, ird, set(builtin),
                       set(modules))


def context(cmdline=f"root=UUID={ROOT_UUID} ro console=ttyS0,115200", k=None, files=None, boot_code="grub",
            esp=None, fstab=f"UUID={ROOT_UUID} / ext4 defaults 0 1\n", space=None) -> Context:
    tree = GuestTree.from_dict({"/etc/os-release": "ID=debian\n", "/etc/fstab": fstab,
                                "/usr/lib/systemd/systemd-udevd": "", "/usr/lib/systemd/systemd": "",
                                "/etc/systemd/system/": "",
                                "/usr/lib/udev/rules.d/80-net-setup-link.rules": "", **(files or {})})
    bf = BootFacts("grub2", "/boot/grub/grub.cfg", 1, bl.BootEntry("Debian", "/vmlinuz-6.1", ["/initrd.img-6.1"],
                                                                     cmdline), k or kernel(), ["vmlinuz-6.1"])
    bf.esp_device, bf.esp_loaders = (esp or (None, None))
    bf.space = space or {"/": {"blocks": 1000, "bfree": 500, "bavail": 450, "frsize": 4096, "files": 10000,
                               "ffree": 9000, "favail": 9000}}
    facts = ImageFacts(**{**FACTS.__dict__, "boot_code": boot_code})
    report = GuestReport(os=detect(tree), tree=tree, root_device="/dev/sda2", mounts=[Mount("/dev/sda2", "/", "ext4")],
                         boot=bf, volumes=VOLUMES)
    return Context(facts, report)


def run(cid, ctx):
    all_checks()
    return run_check(REGISTRY[cid], ctx)


def test_a_ready_debian_passes_every_boot_check():
    ctx = context(cmdline=f"root=UUID={ROOT_UUID} ro console=ttyS0,115200 net.ifnames=0")
    got = {cid: run(cid, ctx).status for cid in ("boot.mode", "boot.kernel", "boot.kernel-drivers",
                                                 "boot.initramfs-drivers", "boot.nvme", "boot.fstab",
                                                 "boot.serial-console", "net.interface-names", "net.conflicts",
                                                 "guest.agents", "guest.disk-space")}
    assert set(got.values()) == {"pass"}, got
    assert run("boot.mode", ctx).evidence[0] == "boot mode: BIOS"


def test_an_initramfs_without_virtio_fails_and_offers_the_rebuild():
    ctx = context(k=kernel(initramfs_modules=("ahci", "sd_mod", "ext4")))
    r = run("boot.initramfs-drivers", ctx)
    assert r.status == "fail" and "lacks virtio_blk, virtio_pci" in r.detail
    assert r.offers == {"fix.initramfs-drivers": ["6.1\t/boot/initrd.img-6.1"]}
    assert run("boot.nvme", ctx).status == "warn"
    # built in: no module needed in the initramfs
    ctx = context(k=kernel(initramfs_modules=(), builtin=("virtio_blk", "virtio_pci", "ext4")))
    assert run("boot.initramfs-drivers", ctx).status == "pass"


def test_a_kernel_without_virtio_and_one_that_cannot_be_read():
    r = run("boot.kernel-drivers", context(k=kernel(modules=("ahci", "ext4"))))
    assert r.status == "fail" and "virtio_blk, virtio_pci, virtio_net" in r.detail
    unread = kernel(modules=())
    unread.modules = unread.builtin = None
    assert run("boot.kernel-drivers", context(k=unread)).status == "warn"


@pytest.mark.parametrize("root,status", [("/dev/sda2", "fail"), ("/dev/xvda1", "fail"), ("/dev/vda2", "warn"),
                                         (f"UUID={ROOT_UUID}", "pass"), ("UUID=deadbeef", "fail"),
                                         ("LABEL=boot", "pass")])
def test_root_on_the_command_line(root, status):
    r = run("boot.kernel", context(cmdline=f"root={root} ro console=ttyS0"))
    assert r.status == status, r.detail


def test_fstab_by_device_name_fails_and_offers_uuids():
    fstab = ("/dev/sda2 / ext4 defaults 0 1\n/dev/sda1 /boot ext4 defaults 0 2\n"
             "srv:/export /mnt/nfs nfs defaults 0 0\n/dev/cdrom /media/cd auto ro,noauto 0 0\n"
             "LABEL=data /data ext4 nofail 0 2\n")
    ctx = context(fstab=fstab)
    r = run("boot.fstab", ctx)
    assert r.status == "fail" and len(r.evidence) == 3
    assert r.offers["fix.fstab-uuid"] == [f"/dev/sda2\tUUID={ROOT_UUID}", "/dev/sda1\tUUID=b007-0000"]
    fix = next(f for f in build_fixes([r], ctx.tree) if f.id == "fix.fstab-uuid")
    after = fix.changes[0].after
    assert after.startswith(f"UUID={ROOT_UUID} / ext4") and "UUID=b007-0000 /boot" in after
    assert "srv:/export /mnt/nfs" in after  # not the fix's business: the check still names it


def test_uefi_only_without_the_fallback_loader_fails():
    ctx = context(boot_code=None, esp=("/dev/sda1", ["EFI/debian/grubx64.efi", "EFI/debian/shimx64.efi"]))
    r = run("boot.mode", ctx)
    assert r.status == "fail" and "EFI/BOOT/BOOTX64.EFI" in r.detail and r.evidence[0] == "boot mode: UEFI"
    ctx.guest.boot.fallback_loader = "EFI/BOOT/BOOTX64.EFI"
    assert run("boot.mode", ctx).status == "pass"
    assert run("boot.mode", context(boot_code=None)).status == "fail"  # neither: unknown


def test_predictable_names_and_stale_rules_with_the_workbench_parsers():
    """Judged with the parser that will run: Debian's ifupdown parser renames the NIC by its MAC (and keeps the name
    with its udev rule), networkd's binds by MAC, so ens5 or a stale rule leaves no NIC unconfigured (issue 24: a
    false alarm on every image whose live network came up on ens5 as the os.conf says)."""
    r = run("net.interface-names", context())
    assert r.status == "pass" and "ens5" in r.detail and "renames the NIC with the os.conf's MAC" in r.detail
    assert r.offers == {}
    rules = {"/etc/udev/rules.d/70-persistent-net.rules":
             'SUBSYSTEM=="net", ATTR{address}=="52:54:00:aa:bb:cc", NAME="eth0"\n'}
    r = run("net.interface-names", context(cmdline="root=/dev/vda1 net.ifnames=0", files=rules))
    assert r.status == "pass" and any("52:54:00:aa:bb:cc" in e for e in r.evidence)
    ctx = context()
    ctx.flavor = "networkd"
    r = run("net.interface-names", ctx)
    assert r.status == "pass" and "binds its configuration to the os.conf's MAC" in r.detail


def test_a_parser_that_configures_eth0_by_name_fails_on_predictable_names():
    ctx = context()
    ctx.script = "#!/bin/sh\nip addr add 10.0.0.5/24 dev eth0\nip link set eth0 up\n"
    r = run("net.interface-names", ctx)
    assert r.status == "fail" and r.severity == "blocker" and "ens5" in r.detail
    assert "the operator's parser script configures eth0 by name" in r.detail
    assert r.offers == {"fix.interface-names": ["cmdline:/boot/grub/grub.cfg"]}
    assert verdict_of([r]).outcome == "not ready"  # the instance would not answer
    # the same script where the kernel's names stay: it works
    ctx = context(cmdline="root=/dev/vda1 net.ifnames=0")
    ctx.script = "#!/bin/sh\nip addr add 10.0.0.5/24 dev eth0\n"
    assert run("net.interface-names", ctx).status == "pass"
    # a script that reads the os.conf's MACs, and one whose way cannot be told
    ctx = context()
    ctx.script = '#!/bin/sh\nfor d in /sys/class/net/*; do [ "$(cat $d/address)" = "$eth0_mac_addr" ] && x; done\n'
    assert run("net.interface-names", ctx).status == "pass"
    ctx.script = "#!/bin/sh\nexec /usr/local/sbin/configure-network\n"
    r = run("net.interface-names", ctx)
    assert r.status == "warn" and "names no NIC and no MAC" in r.detail and "fix.interface-names" in r.offers


def test_a_flavour_that_binds_by_name_and_keeps_no_name_fails(monkeypatch):
    monkeypatch.setattr("workbench.netnames._persist", lambda flavor: "none")
    r = run("net.interface-names", context())
    assert r.status == "fail" and "configures the NIC by its os.conf name and keeps no name for it" in r.detail


def test_conflicting_configurers():
    files = {"/etc/network/interfaces": "auto eth0\niface eth0 inet dhcp\nauto ens3\niface ens3 inet dhcp\n",
             "/usr/bin/cloud-init": "", "/etc/cloud/cloud.cfg": "datasource_list: [AliYun]\n",
             "/etc/systemd/system/multi-user.target.wants/cloud-init.service": "",
             "/etc/systemd/system/multi-user.target.wants/NetworkManager.service": "",
             "/etc/NetworkManager/NetworkManager.conf": "[ifupdown]\nmanaged=true\n", "/sbin/ifup": ""}
    r = run("net.conflicts", context(files=files))  # NetworkManager enabled: the parser writes its keyfiles
    assert r.status == "fail" and len(r.evidence) == 3, r.evidence
    assert r.severity == "blocker" and r.offers == {"fix.network-conflicts": [
        "cloud-init", "ifupdown:/etc/network/interfaces:eth0"]}
    assert "cloud-init is enabled" in r.evidence[0] and "iface eth0 inet dhcp, while the parser writes networkmanager" \
        in r.evidence[1] and "iface ens3 inet dhcp" in r.evidence[2]
    files["/etc/cloud/cloud.cfg.d/99-net.cfg"] = "network: {config: disabled}\n"
    del files["/etc/systemd/system/multi-user.target.wants/NetworkManager.service"]
    files["/etc/network/interfaces"] = "auto eth0\niface eth0 inet dhcp\n"  # ifupdown: the parser replaces it
    assert run("net.conflicts", context(files=files)).status == "pass"


def test_agents_and_disk_space():
    files = {"/etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service": "",
             "/etc/rc.d/rc3.d/S99waagent": ""}
    r = run("guest.agents", context(files=files))
    assert r.status == "fail" and len(r.evidence) == 2
    fix = next(f for f in build_fixes([r], context(files=files).tree) if f.id == "fix.remove-agents")
    assert {c.path for c in fix.changes} == {"/etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service",
                                            "/etc/rc.d/rc3.d/S99waagent"}
    full = {"/": {"blocks": 1000, "bfree": 20, "bavail": 10, "frsize": 4096, "files": 1000, "ffree": 10, "favail": 10}}
    r = run("guest.disk-space", context(space=full))
    assert r.status == "fail" and "99% full" in r.detail and "10 free inodes" in r.detail


# -- the fixes that edit the kernel command line ----------------------------------------------------------------
def _fix(fix_id, targets, files):
    from workbench.fixes import Fix, View, known_fixes

    fix = Fix(fix_id, "", [], targets)
    known_fixes()[fix_id].build(fix, View(GuestTree.from_dict(files)))
    return fix


def test_interface_names_on_grub2_extlinux_and_bls():
    grub = _fix("fix.interface-names", ["cmdline:/boot/grub/grub.cfg"],
                {"/etc/default/grub": 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="quiet net.ifnames=1"\n',
                 "/usr/sbin/grub-mkconfig": "", "/boot/grub/grub.cfg": "x"})
    assert 'GRUB_CMDLINE_LINUX="quiet net.ifnames=0 biosdevname=0"' in grub.changes[0].after
    assert grub.commands[0].argv == ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]
    assert grub.commands[0].replaces == ["/boot/grub/grub.cfg"]
    ext = _fix("fix.serial-console", ["/boot/extlinux/extlinux.conf"],
               {"/boot/extlinux/extlinux.conf": "LABEL d\n  LINUX /v\n  APPEND root=UUID=x ro console=tty1\n"})
    assert ext.changes[0].after.endswith("APPEND root=UUID=x ro console=tty0 console=ttyS0,115200n8\n")
    assert not ext.commands
    env = "# GRUB Environment Block\nkernelopts=root=UUID=x ro\n" + "#" * 990
    bls = _fix("fix.interface-names", ["cmdline:/boot/grub2/grub.cfg", "delete:/etc/udev/rules.d/70-persistent-net.rules"],
               {"/etc/default/grub": "", "/boot/loader/entries/a.conf": "title a\noptions $kernelopts\n",
                "/boot/loader/entries/b.conf": "title b\noptions root=UUID=x ro\n", "/boot/grub2/grubenv": env,
                "/etc/udev/rules.d/70-persistent-net.rules": "x"})
    after = {c.path: c.after for c in bls.changes}
    assert after["/boot/loader/entries/b.conf"].endswith("options root=UUID=x ro net.ifnames=0 biosdevname=0\n")
    assert "/boot/loader/entries/a.conf" not in after  # it reads $kernelopts, which grubenv carries
    assert "kernelopts=root=UUID=x ro net.ifnames=0 biosdevname=0\n" in after["/boot/grub2/grubenv"]
    assert len(after["/boot/grub2/grubenv"].encode()) == 1024
    assert after["/etc/udev/rules.d/70-persistent-net.rules"] is None and not bls.commands


def test_initramfs_rebuild_by_the_images_own_tool():
    deb = _fix("fix.initramfs-drivers", ["6.1\t/boot/initrd.img-6.1"], {"/usr/sbin/update-initramfs": "",
                                                                        INITRAMFS: "# list\nloop\n"})
    assert deb.commands[0].argv == ["update-initramfs", "-u", "-k", "6.1"]
    assert deb.changes[0].after.endswith("virtio_blk\nvirtio_pci\nvirtio_net\nvirtio_scsi\nnvme\n")
    rhel = _fix("fix.initramfs-drivers", ["5.14\t/boot/initramfs-5.14.img"], {"/usr/bin/dracut": ""})
    assert rhel.commands[0].argv == ["dracut", "--force", "/boot/initramfs-5.14.img", "5.14"]
    assert "virtio_blk" in rhel.changes[0].after
    assert len(deb.changes) == 1  # MODULES=most (the default): the image's policy is left as it is
    dep = _fix("fix.initramfs-drivers", ["6.1\t/boot/initrd.img-6.1"],
               {"/usr/sbin/update-initramfs": "", "/etc/initramfs-tools/initramfs.conf": "MODULES=most\n",
                "/etc/initramfs-tools/conf.d/small": "MODULES=dep\n"})
    override = dep.changes[-1]
    assert override.path == "/etc/initramfs-tools/conf.d/90-workbench-ecs" and override.after.endswith("MODULES=most\n")
    assert any("MODULES=dep" in n for n in dep.notes)
    none = _fix("fix.initramfs-drivers", ["5.14\t/boot/x.img"], {"/etc/x": ""})
    assert not none.commands and not none.changes and "no initramfs tool" in none.notes[0]


INITRAMFS = "/etc/initramfs-tools/modules"
