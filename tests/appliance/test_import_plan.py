"""`workbench import-plan` on real images: the boot mode, architecture (from the kernel, or from the guest's own
executables when the kernel does not say), NVMe support and disk size come from what the review found in each, and
the blockers make it exit 1 while the commands still print."""

import json
import shlex

import pytest

pytestmark = pytest.mark.appliance


def plan(run_cli, image, *extra):
    proc = run_cli("import-plan", image, "--format", "json", *extra, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_the_bootable_debian_is_ready_for_a_bios_import(with_bootloader, run_cli):
    code, doc = plan(run_cli, with_bootloader, "--region", "cn-hangzhou", "--bucket", "my-images", "--object",
                     "debian12.qcow2", "--name", "debian-12")
    p = doc["parameters"]
    assert doc["schema"] == "workbench.import/1" and code == 0 and doc["blockers"] == [], doc["blockers"]
    assert (p["Architecture"], p["BootMode"], p["Features.NvmeSupport"]) == ("x86_64", "BIOS", "supported")
    assert (p["DiskDeviceMapping.1.Format"], p["DiskDeviceMapping.1.DiskImageSize"]) == ("QCOW2", 6)
    text = run_cli("import-plan", with_bootloader, "--bucket", "my-images", "--object", "debian 12.qcow2",
                   "--name", "debian-12", "--description", "- it's $(id)", "--tag", "env=-x", "--dry-run",
                   timeout=600)
    cli = next(line for line in text.stdout.splitlines() if line.startswith("aliyun ecs ImportImage"))
    argv = shlex.split(cli)
    assert {"--Description=- it's $(id)", "--BootMode=BIOS", "--Tag.1.Value=-x", "--DryRun=true"} <= set(argv)
    assert text.stdout.count("AliyunECSImageImportDefaultRole") == 1 and "with DryRun=true" in text.stdout
    assert "alicloud_image_import cannot make this import: it has no argument for tags" in text.stdout


def test_uefi_arm64_and_a_size_that_rounds_up(built, run_cli):
    code, doc = plan(run_cli, built("arm64-uefi"))
    p = doc["parameters"]
    assert (p["Architecture"], p["BootMode"], p["DiskDeviceMapping.1.DiskImageSize"]) == ("arm64", "UEFI", 6)
    assert p["Features.NvmeSupport"] == "unsupported"  # no nvme module to be seen in this kernel
    code, doc = plan(run_cli, built("gpt-esp-debian"))
    assert doc["parameters"]["BootMode"] == "UEFI"
    assert code == 1 and any("architecture could not be read" in b for b in doc["blockers"])  # no kernel: not guessed
    # (its only executable is a placeholder without an ELF header: nothing to read the architecture from)


def test_the_sample_is_not_ready_and_says_why(built, run_cli):
    proc = run_cli("import-plan", built("sample"), timeout=600)
    assert proc.returncode == 1
    assert "ImportImage (NOT READY" in proc.stdout and "blocker: boot.initramfs-drivers:" in proc.stdout
    assert "\naliyun ecs ImportImage " in proc.stdout  # the command still prints
    # its kernel is a placeholder, its executables x86_64 ELF: the architecture as libguestfs would read it
    assert "  Architecture = x86_64" in proc.stdout and "from the guest's binaries (/bin/sh" in proc.stdout
