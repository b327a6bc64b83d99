"""The ImportImage request from a review (on built facts): the architecture from the kernel or the guest's binaries,
arm64 booting by UEFI only, the blockers, and the operator's values checked as the platform checks them. What the
clients do with the text is in test_import_clients."""

import dataclasses
import json
import platform

import pytest

from tests.unit.test_boot_checks import ROOT_UUID, context, kernel
from workbench import importplan
from workbench.checks import run_checks
from workbench.errors import UsageError
from workbench.image.kernel import elf_arch
from workbench.image.preflight import Partition
from workbench.image.sniff import FsInfo
from workbench.importrules import Given, parse_tag, validate
from workbench.review import Review
from workbench.sample.centos import ELF_X86_64
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


def no_kernel_arch(**kw):
    k = kernel(**kw)
    k.arch = None
    return k


def test_a_ready_bios_image():
    plan = importplan.build(review(), Given("cn-hangzhou", "my-images", "debian.qcow2", "debian-12", "Debian 12"))
    p = plan.parameters
    assert plan.ready, plan.blockers
    assert (p["Platform"], p["OSType"], p["Architecture"], p["BootMode"]) == ("Customized Linux", "linux", "x86_64",
                                                                               "BIOS")
    assert p["Features.NvmeSupport"] == "supported"  # nvme in the kernel and its initramfs
    assert p["DiskDeviceMapping.1.Format"] == "QCOW2" and p["DiskDeviceMapping.1.OSSBucket"] == "my-images"
    doc = plan.to_json()
    assert doc["schema"] == "workbench.import/1" and json.loads(json.dumps(doc)) == doc
    assert plan.role == "AliyunECSImageImportDefaultRole"


def test_uefi_arm64_sizes_and_nvme():
    arm = kernel(initramfs_modules=("virtio_blk", "virtio_pci", "ext4"))
    arm.arch = "arm64"
    r = review(k=arm, boot_code=None, esp=("/dev/sda1", ["EFI/BOOT/BOOTAA64.EFI"]), size=5 * GiB + GiB // 2)
    plan = importplan.build(r)
    p = plan.parameters
    assert (p["Architecture"], p["BootMode"], p["DiskDeviceMapping.1.DiskImageSize"]) == ("arm64", "UEFI", 6)
    assert p["Features.NvmeSupport"] == "unsupported" and any("NvmeSupport=unsupported" in w for w in plan.warnings)
    both = importplan.build(review(esp=("/dev/sda1", ["EFI/BOOT/BOOTX64.EFI"])))
    assert both.parameters["BootMode"] == "BIOS" and any("UEFI would work too" in w for w in both.warnings)


def test_arm64_boots_by_uefi_only():
    arm = kernel()
    arm.arch = "arm64"
    dual = importplan.build(review(k=arm, esp=("/dev/sda1", ["EFI/BOOT/BOOTAA64.EFI"])))  # BIOS code and an ESP
    assert dual.parameters["BootMode"] == "UEFI" and not any("UEFI would work too" in w for w in dual.warnings)
    bios_only = importplan.build(review(k=arm))
    assert bios_only.parameters["BootMode"] is None
    assert any("arm64 image boots by UEFI only" in b for b in bios_only.blockers)


def test_the_architecture_from_the_guests_binaries_when_the_kernel_does_not_say():
    r = review(k=no_kernel_arch())
    r.guest.boot.binary_arch, r.guest.boot.binary_arch_from = "x86_64", ["/bin/sh", "/sbin/init"]
    plan = importplan.build(r)
    assert plan.parameters["Architecture"] == "x86_64" and plan.ready, plan.blockers
    assert any("from the guest's binaries (/bin/sh, /sbin/init)" in w for w in plan.warnings)
    r.guest.boot.binary_arch = "riscv64"
    assert any("built for riscv64" in b for b in importplan.build(r).blockers)


def test_elf_arch_agrees_with_the_host_that_runs_its_own_shell():
    """The host's kernel executes /bin/sh: its ELF header names the host's machine (the consumer here)."""
    machine = {"x86_64": "x86_64", "aarch64": "arm64", "i686": "i386"}.get(platform.machine())
    if machine is None:
        pytest.skip(f"no ImportImage architecture for this host's machine {platform.machine()}")
    with open("/bin/sh", "rb") as f:
        assert elf_arch(f.read(64)) == machine
    assert elf_arch(ELF_X86_64[:64]) == "x86_64"  # the sample's executables
    assert elf_arch(b"\x7fELF placeholder\n") is None  # too short to say
    x32 = bytearray(ELF_X86_64[:64])
    x32[4] = 1  # a 32-bit class with the x86-64 machine: the x32 ABI, not x86_64
    assert elf_arch(bytes(x32)) is None


def test_blockers_are_listed_and_nothing_is_guessed():
    plan = importplan.build(review(k=no_kernel_arch(), boot_code=None, size=3000 * GiB, fmt="vmdk"))
    assert not plan.ready and plan.parameters["Architecture"] is None and plan.parameters["BootMode"] is None
    text = "\n".join(plan.blockers)
    assert "architecture could not be read from the default kernel's header nor from the guest's binaries" in text
    assert "boot mode could not be determined" in text
    assert "3000 GiB, outside the system disk's range" in text and "not vmdk" in text
    assert "boot.mode:" in text  # the failed boot-readiness check itself


def test_optional_parameters_are_the_apis_own():
    given = Given("cn-hangzhou", "b-1", "k", "img", tags=[parse_tag("env=prod"), parse_tag("empty=")],
                  resource_group="rg-acfm2example", role_name="MyImportRole", dry_run=True)
    p = importplan.build(review(), given).parameters
    assert (p["Tag.1.Key"], p["Tag.1.Value"], p["Tag.2.Key"]) == ("env", "prod", "empty")
    assert "Tag.2.Value" not in p  # an empty value is no value
    assert (p["ResourceGroupId"], p["RoleName"], p["DryRun"]) == ("rg-acfm2example", "MyImportRole", True)
    assert importplan.build(review(), given).role == "MyImportRole"


@pytest.mark.parametrize("args, word", [
    ({"name": "1abc"}, "--name"), ({"name": "http://x.example"}, "--name"), ({"name": "a"}, "--name"),
    ({"name": "a" * 129}, "--name"), ({"name": 'x"; rm -rf /'}, "--name"), ({"name": "aliyun-centos7"}, "aliyun"),
    ({"name": "Aliyun_Linux"}, "aliyun"), ({"name": "acs:img"}, "acs:"), ({"name": "Ωmega"}, "--name"),
    ({"name": "debian 12"}, "--name"), ({"name": "-debian"}, "--name"), ({"name": "deb\u200dian"}, r"U\+200D"),
    ({"description": "https://evil"}, "--description"), ({"description": "two\nlines"}, r"U\+000A"),
    ({"description": "x"}, "--description"), ({"description": "é" * 257}, "--description"),
    ({"description": "🚀" * 129}, "--description"),  # 258 UTF-16 units
    ({"description": "no\u00a0break"}, r"U\+00A0"), ({"description": "del\x7f"}, r"U\+007F"),
    ({"bucket": "My_Bucket"}, "--bucket"), ({"bucket": "-ab"}, "--bucket"), ({"region": "Hangzhou"}, "--region"),
    ({"object": "/abs/key"}, "--object"), ({"object": "a\nb"}, "--object"), ({"object": "a\u2028b"}, "--object"),
    ({"object": "é" * 512}, "--object"),  # 1024 bytes
    ({"resource_group": "default"}, "--resource-group"), ({"role_name": "my role"}, "--role-name"),
    ({"tags": [("k", "v")] * 2}, "twice"), ({"tags": [(f"k{i}", "") for i in range(21)]}, "at most 20")])
def test_the_operators_values_are_checked_as_the_platform_does(args, word):
    with pytest.raises(UsageError, match=word):
        validate(Given(**args))


@pytest.mark.parametrize("name", ["Debian-12.4_x86:64", "调试镜像-1", "中文", "ab", "a" * 128, "Ubuntu.24"])
def test_names_the_platform_takes(name):
    validate(Given(name=name, description="🚀 nightly - $(id) ${HOME} 'q' \"dq\" \\", object="-x=1:2 🚀"))


@pytest.mark.parametrize("text, word", [("novalue", "KEY=VALUE"), ("aliyun:x=1", "aliyun"), ("acs:k=v", "acs:"),
                                        ("k=acs:v", "acs:"), ("k=see http://x", "http://"), ("=v", "1 to 128"),
                                        ("k=" + "v" * 129, "at most 128"), ("k=a\tb", r"U\+0009")])
def test_tags_are_checked_as_the_platform_does(text, word):
    with pytest.raises(UsageError, match=word):
        parse_tag(text)
    assert parse_tag("Owner=-team a=b") == ("Owner", "-team a=b")


def test_an_image_path_that_does_not_print_is_refused():
    with pytest.raises(UsageError, match=r"U\+000A"):
        validate(Given(), "/images/new\nline.qcow2")
