"""Host-side preflight on real images built by the fixture builder."""

import shutil

import pytest

from tests.conftest import gpt_raw_copy
from workbench.errors import ImageError
from workbench.image.parttable import BIOS_BOOT_GUID, ESP_GUID
from workbench.image.preflight import preflight
from workbench.units import GiB, MiB


@pytest.mark.parametrize("name,fmt", [("sample", "qcow2"), ("sample-raw", "raw"), ("sample-vhd", "vpc"),
                                      ("sample-vmdk", "vmdk")])
def test_every_format_reads_the_same_disk(built, name, fmt):
    f = preflight(str(built(name)))
    assert f.format == fmt
    assert f.virtual_size == 8 * GiB
    assert f.partition_table == "mbr" and f.disk_id == "0x000b1e55"
    assert [(p.number, p.start, p.filesystem, p.fs.label) for p in f.partitions] == [
        (1, MiB, "ext4", "boot"), (2, MiB + GiB, "ext4", None)]
    assert f.partitions[0].bootable and not f.partitions[1].bootable
    assert f.partitions[0].fs.uuid == "9b2c3a4e-7f1d-4c6b-8a2e-5d0f1e2a3b4c"
    assert f.partitions[0].partuuid == "000b1e55-01"
    assert f.partitions[0].fs.clean is True
    assert 900 * MiB < f.partitions[0].fs.free < GiB


def test_gpt_with_esp_first(built):
    f = preflight(str(built("gpt-esp-debian")))
    assert f.partition_table == "gpt" and f.mbr_kind == "protective"
    esp, root = f.partitions
    assert esp.type == ESP_GUID and esp.type_name == "EFI System" and esp.name == "EFI system"
    assert esp.filesystem == "fat32" and esp.fs.label == "EFI" and esp.fs.uuid == "ABCD-1234"
    assert esp.fs.free is not None and esp.fs.free > 200 * MiB
    assert root.filesystem == "ext4" and root.name == "root"
    assert f.first_partition is esp


def test_hybrid_mbr_is_read_as_gpt(built):
    f = preflight(str(built("gpt-hybrid")))
    assert f.partition_table == "gpt" and f.mbr_kind == "hybrid"
    assert [p.filesystem for p in f.partitions] == ["fat32", "ext4"]


def test_gpt_bios_boot_and_attributes(built):
    f = preflight(str(built("bios-boot-first")))
    assert f.partitions[0].type == BIOS_BOOT_GUID and f.partitions[0].is_bios_boot
    assert f.partitions[0].filesystem is None
    ro = preflight(str(built("gpt-readonly-attr"))).partitions[0]
    assert ro.read_only_attribute and ro.attributes == 1 << 60


@pytest.mark.parametrize("name,kind", [("fat16-first", "fat16"), ("xfs-first", "xfs"), ("swap-first", "swap"),
                                       ("ext2-full", "ext2"), ("lvm-centos7", "xfs")])
def test_first_partition_kinds(built, name, kind):
    assert preflight(str(built(name))).first_partition.filesystem == kind


def test_lvm_physical_volume_is_recognised(built):
    pv = preflight(str(built("lvm-centos7"))).partitions[1]
    assert pv.filesystem == "lvm2" and pv.type == "8e" and len(pv.fs.uuid) == 38


def test_luks_is_recognised(built):
    f = preflight(str(built("luks-first")))
    assert [p.number for p in f.partitions] == [2]
    assert f.first_partition.filesystem == "luks" and f.first_partition.fs.version in ("LUKS1", "LUKS2")


def test_whole_disk_filesystem(built):
    f = preflight(str(built("whole-disk-ext4")))
    assert f.partition_table == "none" and f.partitions == [] and f.first_partition is None
    assert f.whole_disk.kind == "ext4"


def test_logical_partitions_and_position_order(built):
    f = preflight(str(built("mbr-logical")))
    assert [(p.number, p.fs.label) for p in f.partitions] == [(2, "primary2"), (5, "logical5"), (6, "LOGICAL6")]
    assert f.first_partition.number == 5  # first by position, not by number
    assert f.partitions[2].filesystem == "fat32"


def test_unclean_ext4_is_reported(built):
    fs = preflight(str(built("ext4-unclean"))).first_partition.fs
    assert fs.clean is False
    assert any("journal needs recovery" in r for r in fs.unclean_reasons)
    assert any("not cleanly unmounted" in r for r in fs.unclean_reasons)


def test_corrupt_primary_gpt_falls_back_to_backup(built, tmp_path):
    # the primary header's disk GUID is damaged: its CRC no longer matches
    facts = preflight(str(gpt_raw_copy(built("gpt-esp-debian"), tmp_path / "gpt.raw", "primary")))
    assert [p.filesystem for p in facts.partitions] == ["fat32", "ext4"]
    assert any("primary GPT is damaged" in w for w in facts.warnings)


def test_corrupt_gpt_both_copies_is_one_sentence(built, tmp_path):
    with pytest.raises(ImageError, match="corrupt GPT partition table"):
        preflight(str(gpt_raw_copy(built("gpt-esp-debian"), tmp_path / "gpt.raw")))


def test_preflight_reads_few_bytes(built, monkeypatch):
    """Only the sectors needed: a handful of qemu-io batches, never a conversion."""
    from workbench.image import qemu

    calls = []
    real = qemu.ByteReader._read_qemu_io

    def spy(self, ranges):
        calls.append(sum(n for _, n in ranges))
        return real(self, ranges)

    monkeypatch.setattr(qemu.ByteReader, "_read_qemu_io", spy)
    preflight(str(built("sample")))
    assert len(calls) <= 4
    assert sum(calls) < 128 * 1024
    assert shutil.which("qemu-io")
