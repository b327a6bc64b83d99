"""Host-side facts about an image, without the appliance: format, size, partitions, file systems.

Everything here reads a few kilobytes of the image (through qemu-io for
non-raw formats) and must stay well under a second for any image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from workbench.errors import ImageError
from workbench.image.headers import vet
from workbench.image.parttable import BIOS_BOOT_GUID, ESP_GUID, GPT_ATTR_READ_ONLY, read_partition_table
from workbench.image.qemu import ByteReader, check_path, qemu_img_check, qemu_img_info
from workbench.image.sniff import SNIFF_RANGES, FsInfo, fat_bpb, fat_dirty, sniff


@dataclass
class Partition:
    number: int
    start: int
    size: int
    type: str
    type_name: str
    fs: FsInfo
    name: str | None = None
    partuuid: str | None = None
    attributes: int = 0
    bootable: bool = False

    @property
    def filesystem(self) -> str | None:
        return self.fs.kind

    @property
    def is_bios_boot(self) -> bool:
        return self.type.upper() == BIOS_BOOT_GUID

    @property
    def is_esp(self) -> bool:
        """An EFI system partition: the GPT type, or MBR type EF."""
        return self.type.upper() in (ESP_GUID, "EF")

    @property
    def read_only_attribute(self) -> bool:
        return bool(self.attributes & GPT_ATTR_READ_ONLY)

    @property
    def device(self) -> str:
        """The name the libguestfs appliance gives this partition."""
        return f"/dev/sda{self.number}"

    def to_json(self, mountpoint: str | None = None) -> dict:
        return {
            "number": self.number, "start": self.start, "size": self.size, "type": self.type,
            "type_name": self.type_name, "name": self.name, "partuuid": self.partuuid,
            "attributes": self.attributes, "bootable": self.bootable,
            "filesystem": self.fs.kind, "label": self.fs.label, "uuid": self.fs.uuid,
            "free": self.fs.free, "mountpoint": mountpoint,
        }


@dataclass
class ImageFacts:
    path: str
    format: str
    virtual_size: int
    actual_size: int | None = None
    backing_chain: list[str] = field(default_factory=list)
    corrupt: bool = False
    dirty: bool = False
    format_detail: dict = field(default_factory=dict)
    partition_table: str = "none"
    sector_size: int = 512
    mbr_kind: str | None = None
    disk_id: str | None = None
    partitions: list[Partition] = field(default_factory=list)
    whole_disk: FsInfo | None = None
    warnings: list[str] = field(default_factory=list)
    boot_code: str | None = None  # BIOS boot code in the first sector: grub, mbr (chain-loads the active
    # partition, as syslinux's does), other; None when there is none

    @property
    def first_partition(self) -> Partition | None:
        """First by position on disk, as the platform counts it (not by number)."""
        return min(self.partitions, key=lambda p: p.start, default=None)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def to_json(self, mountpoint=lambda device: None) -> dict:
        """mountpoint: where the guest mounts a device (from the guest report), if known."""
        return {
            "path": self.path, "format": self.format, "virtual_size": self.virtual_size,
            "actual_size": self.actual_size, "backing_chain": self.backing_chain,
            "corrupt": self.corrupt, "dirty": self.dirty,
            "partition_table": self.partition_table, "sector_size": self.sector_size,
            "mbr_kind": self.mbr_kind, "disk_id": self.disk_id,
            "partitions": [p.to_json(mountpoint(p.device)) for p in self.partitions],
            "whole_disk_filesystem": self.whole_disk.kind if self.whole_disk else None,
            "warnings": self.warnings, "boot_code": self.boot_code,
        }


def _sniff_at(reader: ByteReader, bases: list[int]) -> list[FsInfo]:
    ranges = [(base + off, n) for base in bases for off, n in SNIFF_RANGES]
    data = reader.read_many(ranges)
    infos = []
    for i, _base in enumerate(bases):
        chunk = data[i * len(SNIFF_RANGES):(i + 1) * len(SNIFF_RANGES)]
        infos.append(sniff({off: d for (off, _), d in zip(SNIFF_RANGES, chunk)}))
    fats = [(info, base) for info, base in zip(infos, bases) if info.kind in ("fat16", "fat32")]
    if fats:
        heads = reader.read_many([(base + info.fat_table_offset, 8) for info, base in fats])
        for (info, _), head in zip(fats, heads):
            info.unclean_reasons.extend(fat_dirty(info.kind, head))
            info.clean = not info.unclean_reasons
    return infos


def boot_code(sector: bytes) -> str | None:
    """What BIOS boot code the first sector holds (a boot signature and a non-empty code area)."""
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa" or not any(sector[:440]):
        return None
    code = sector[:440]
    if b"GRUB" in code:
        return "grub"
    if b"Multiple active partitions" in code or b"Missing operating system" in code:
        return "mbr"
    return "other"


def preflight(path: str, allow_backing: bool = False) -> ImageFacts:
    """Facts about the image; raises ImageError with one sentence when it cannot be read, or when it names
    another file or a protocol (a backing file is followed only with allow_backing, and only a local one)."""
    st = check_path(path)
    fmt, chain = vet(path, allow_backing)
    info = qemu_img_info(path, fmt, chain=bool(chain))
    if info.encrypted:
        raise ImageError(f"{path} is an encrypted {info.format} image; decrypt it first "
                         "(qemu-img convert --object secret,... -O qcow2) and review the copy")
    leaks = qemu_img_check(path, info.format)
    size = info.virtual_size
    if size <= 0 and st.st_size:
        raise ImageError(f"{path}: qemu-img reports a virtual size of 0 bytes")
    facts = ImageFacts(
        path=path, format=info.format, virtual_size=size, actual_size=info.actual_size,
        backing_chain=[b.path for b in chain], corrupt=info.corrupt, dirty=info.dirty,
        format_detail=info.format_detail,
    )
    if leaks:
        facts.warnings.append(f"qemu-img check: {leaks} leaked clusters (harmless; qemu-img check -r leaks frees them)")
    reader = ByteReader(path, info.format, size)
    disk_fs = _sniff_at(reader, [0])[0]
    sector0 = reader.read(0, 512)
    facts.boot_code = boot_code(sector0)
    table = read_partition_table(reader, fat_at_zero=fat_bpb(sector0) is not None)
    facts.partition_table = table.kind
    facts.sector_size = table.sector_size
    facts.mbr_kind = table.mbr_kind
    facts.disk_id = table.disk_id
    facts.warnings.extend(table.warnings)
    data_parts = [p for p in table.partitions if not p.container]
    if table.kind == "none":
        if disk_fs.kind is None:
            raise ImageError(f"{path} holds neither a partition table nor a file system the workbench "
                             "recognises; is it a disk image?")
        facts.whole_disk = disk_fs
        return facts
    infos = _sniff_at(reader, [p.start for p in data_parts])
    for raw, fs in zip(data_parts, infos):
        facts.partitions.append(Partition(
            number=raw.number, start=raw.start, size=raw.size, type=raw.type, type_name=raw.type_name,
            fs=fs, name=raw.name, partuuid=raw.uuid, attributes=raw.attributes, bootable=raw.bootable,
        ))
    facts.partitions.sort(key=lambda p: p.number)
    return facts
