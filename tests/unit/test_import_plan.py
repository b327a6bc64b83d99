"""The ImportImage request from a review (on built facts), the operator's values checked as the platform checks
them, and the commands with every value quoted."""

import dataclasses
import json
import shlex

import pytest

from tests.unit.test_boot_checks import ROOT_UUID, context, kernel
from workbench import importplan
from workbench.checks import run_checks
from workbench.errors import UsageError
from workbench.image.preflight import Partition
from workbench.image.sniff import FsInfo
from workbench.review import Review
from workbench.units import GiB


def review(**kw):
    size = kw.pop("size", None)
    fmt = kw.pop("fmt", None)
    ctx = context(cmdline=f"root=UUID={ROOT_UUID} ro console=ttyS0,115200 net.ifnames=0", **kw)
    boot = Partition(1, 1 << 20, 1 << 30, "83", "Linux", FsInfo("ext4", "boot", "b007-0000", 1 << 30, 1 << 29,
                                                               clean=True), bootable=True)
    facts = dataclasses.replace(ctx.facts, partitions=[boot], partition_table="dos", whole_disk=None,
                                virtual_size=size or 8 * GiB, format=fmt or ctx.facts.format)
    r = Review(facts, ctx.guest)
    r.results = run_checks(r.context())
    return r


def test_a_ready_bios_image():
    plan = importplan.build(review(), "cn-hangzhou", "my-images", "debian.qcow2", "debian-12", "Debian 12")
    p = plan.parameters
    assert plan.ready, plan.blockers
    assert (p["Platform"], p["OSType"], p["Architecture"], p["BootMode"]) == ("Customized Linux", "linux", "x86_64",
                                                                               "BIOS")
    assert p["Features.NvmeSupport"] == "supported"  # nvme in the kernel and its initramfs
    assert p["DiskDeviceMapping.1.Format"] == "QCOW2" and p["DiskDeviceMapping.1.OSSBucket"] == "my-images"
    doc = plan.to_json()
    assert doc["schema"] == "workbench.import/1" and json.loads(json.dumps(doc)) == doc


def test_uefi_arm64_sizes_and_nvme():
    arm = kernel(initramfs_modules=("virtio_blk", "virtio_pci", "ext4"))
    arm.arch = "arm64"
    r = review(k=arm, boot_code=None, esp=("/dev/sda1", ["EFI/BOOT/BOOTAA64.EFI"]), size=5 * GiB + GiB // 2)
    r.guest.boot.fallback_loader = "EFI/BOOT/BOOTAA64.EFI"
    plan = importplan.build(r)
    p = plan.parameters
    assert (p["Architecture"], p["BootMode"], p["DiskDeviceMapping.1.DiskImageSize"]) == ("arm64", "UEFI", 6)
    assert p["Features.NvmeSupport"] == "unsupported" and any("NvmeSupport=unsupported" in w for w in plan.warnings)
    both = importplan.build(review(esp=("/dev/sda1", ["EFI/BOOT/BOOTX64.EFI"])))
    assert both.parameters["BootMode"] == "BIOS" and any("UEFI would work too" in w for w in both.warnings)


def test_blockers_are_listed_and_nothing_is_guessed():
    unknown = kernel()
    unknown.arch = None
    plan = importplan.build(review(k=unknown, boot_code=None, size=3000 * GiB, fmt="vmdk"))
    assert not plan.ready and plan.parameters["Architecture"] is None and plan.parameters["BootMode"] is None
    text = "\n".join(plan.blockers)
    assert "architecture could not be read" in text and "boot mode could not be determined" in text
    assert "3000 GiB, outside the system disk's range" in text and "not vmdk" in text
    assert "boot.mode:" in text  # the failed boot-readiness check itself


@pytest.mark.parametrize("args, word", [
    ({"name": "1abc"}, "--name"), ({"name": "http://x.example"}, "--name"), ({"name": "a"}, "--name"),
    ({"name": "a" * 129}, "--name"), ({"name": 'x"; rm -rf /'}, "--name"),
    ({"description": "https://evil"}, "--description"), ({"description": "two\nlines"}, "--description"),
    ({"bucket": "My_Bucket"}, "--bucket"), ({"bucket": "-ab"}, "--bucket"), ({"region": "Hangzhou"}, "--region"),
    ({"obj": "/abs/key"}, "--object"), ({"obj": "a\nb"}, "--object")])
def test_the_operators_values_are_checked_as_the_platform_does(args, word):
    with pytest.raises(UsageError, match=word):
        importplan.validate(args.get("region"), args.get("bucket"), args.get("obj"), args.get("name"),
                            args.get("description"))


def test_hostile_values_come_out_quoted():
    desc = "it's $(touch /tmp/pwned) `id` ${HOME} %{x}"
    plan = importplan.build(review(), "cn-hangzhou", "my-images", "a b/$(x).qcow2", "Debian_12", desc)
    cmds = importplan.commands(plan, "/images/my disk.qcow2")
    argv = shlex.split(cmds["aliyun"])
    assert argv[argv.index("--Description") + 1] == desc  # one argument, exactly the text
    assert argv[argv.index("--DiskDeviceMapping.1.OSSObject") + 1] == "a b/$(x).qcow2"
    assert shlex.split(cmds["ossutil"]) == ["ossutil", "cp", "/images/my disk.qcow2", "oss://my-images/a b/$(x).qcow2"]
    tf = cmds["terraform"]
    assert 'description  = "it\'s $(touch /tmp/pwned) `id` $${HOME} %%{x}"' in tf  # no HCL interpolation
    assert "disk_image_size = " in tf and 'boot_mode    = "BIOS"' in tf
