"""MBR and GPT partition tables, decoded from the bytes of the guest-visible disk.

Handles protective and hybrid MBRs, extended/logical partitions (bounded EBR
walk), 512- and 4096-byte GPT sectors, and a damaged primary GPT (falls back
to the backup copy at the end of the disk, with a warning).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field

from workbench.errors import ImageError
from workbench.image.qemu import ByteReader

MAX_GPT_ENTRIES_BYTES = 1 << 20
MAX_LOGICAL = 128
EXTENDED_TYPES = {0x05, 0x0F, 0x85}

MBR_TYPES = {
    0x00: "empty", 0x01: "FAT12", 0x04: "FAT16 <32M", 0x05: "extended", 0x06: "FAT16",
    0x07: "NTFS/exFAT", 0x0B: "W95 FAT32", 0x0C: "W95 FAT32 (LBA)", 0x0E: "W95 FAT16 (LBA)",
    0x0F: "W95 extended (LBA)", 0x82: "Linux swap", 0x83: "Linux", 0x85: "Linux extended",
    0x8E: "Linux LVM", 0xA5: "FreeBSD", 0xA6: "OpenBSD", 0xA9: "NetBSD", 0xDA: "non-FS data",
    0xEE: "GPT protective", 0xEF: "EFI System", 0xFD: "Linux RAID",
}

BIOS_BOOT_GUID = "21686148-6449-6E6F-744E-656564454649"
ESP_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
GPT_TYPES = {
    "0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
    ESP_GUID: "EFI System",
    BIOS_BOOT_GUID: "BIOS boot",
    "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
    "E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
    "A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
    "B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM64)",
    "BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
    "933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
    "4D21B016-B534-45C2-A9FB-5C16E091FD2D": "Linux variable data",
    "8484680C-9521-48C6-9C11-B0720656F69E": "Linux /usr (x86-64)",
    "CA7D7CCB-63ED-4C53-861C-1742536059CC": "Linux LUKS",
    "8DA63339-0007-60C0-C436-083AC8230908": "Linux reserved",
    "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
    "E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
    "516E7CB6-6ECF-11D6-8FF8-00022D09712B": "FreeBSD UFS",
    "83BD6B9D-7F41-11DC-BE0B-001560B84F0F": "FreeBSD boot",
    "516E7CB5-6ECF-11D6-8FF8-00022D09712B": "FreeBSD swap",
}

GPT_ATTR_LEGACY_BOOT = 1 << 2
GPT_ATTR_READ_ONLY = 1 << 60


@dataclass
class RawPartition:
    number: int
    start: int
    size: int
    type: str
    type_name: str
    name: str | None = None
    uuid: str | None = None
    attributes: int = 0
    bootable: bool = False
    container: bool = False

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass
class PartitionTable:
    kind: str  # mbr | gpt | none
    sector_size: int = 512
    mbr_kind: str | None = None  # protective | hybrid (GPT only)
    disk_id: str | None = None
    partitions: list[RawPartition] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def gpt_type_name(guid: str) -> str:
    return GPT_TYPES.get(guid.upper(), "unknown")


def _mbr_entries(sector: bytes) -> list[tuple[int, int, int, int]]:
    """(status, type, start_lba, sectors) for the four primary slots."""
    out = []
    for i in range(4):
        e = sector[446 + 16 * i: 462 + 16 * i]
        status, ptype = e[0], e[4]
        start, count = struct.unpack_from("<II", e, 8)
        out.append((status, ptype, start, count))
    return out


def _plausible_mbr(entries, disk_sectors: int) -> bool:
    used = [e for e in entries if e[1] != 0]
    if not used:
        return False
    for status, ptype, start, count in used:
        if status not in (0x00, 0x80) or start == 0 or count == 0:
            return False
        if start >= disk_sectors:
            return False
    return True


def read_partition_table(reader: ByteReader, fat_at_zero: bool = False) -> PartitionTable:
    """fat_at_zero: sector 0 holds a valid FAT boot sector, which also ends in 0x55AA.

    As the Linux kernel does, such a sector only counts as an MBR when some
    slot is marked active (0x80); otherwise it is a whole-disk FAT volume.
    """
    head, lba8 = reader.read_many([(0, 1024), (4096, 512)])
    if len(head) < 512:
        return PartitionTable(kind="none")
    has_sig = head[510:512] == b"\x55\xaa"
    entries = _mbr_entries(head) if has_sig else []
    disk_sectors = reader.size // 512
    protective = any(e[1] == 0xEE for e in entries)
    gpt_sector = None
    if head[512:520] == b"EFI PART":
        gpt_sector = 512
    elif lba8[:8] == b"EFI PART" and protective:
        gpt_sector = 4096
    if protective or gpt_sector:
        others = [e for e in entries if e[1] not in (0, 0xEE)]
        table = _read_gpt(reader, gpt_sector or 512)
        table.mbr_kind = "hybrid" if others else ("protective" if protective else None)
        if not protective:
            table.warnings.append("the GPT has no protective MBR; old tools may see an empty disk")
        return table
    if has_sig and _plausible_mbr(entries, disk_sectors):
        if not fat_at_zero or any(e[0] == 0x80 for e in entries):
            return _read_mbr(reader, head, entries, disk_sectors)
    return PartitionTable(kind="none")


def _read_mbr(reader, head, entries, disk_sectors) -> PartitionTable:
    disk_sig = struct.unpack_from("<I", head, 440)[0]
    table = PartitionTable(kind="mbr", disk_id=f"0x{disk_sig:08x}")
    extended = None
    for i, (status, ptype, start, count) in enumerate(entries, start=1):
        if ptype == 0:
            continue
        part = RawPartition(
            number=i, start=start * 512, size=count * 512, type=f"{ptype:02x}",
            type_name=MBR_TYPES.get(ptype, "unknown"), uuid=f"{disk_sig:08x}-{i:02x}",
            bootable=status == 0x80, container=ptype in EXTENDED_TYPES,
        )
        table.partitions.append(part)
        if part.container and extended is None:
            extended = start
    if extended is not None:
        _walk_ebr(reader, table, extended, disk_sig)
    for p in table.partitions:
        if p.end > reader.size:
            table.warnings.append(f"partition {p.number} ends past the end of the disk")
    return table


def _walk_ebr(reader, table: PartitionTable, ext_start: int, disk_sig: int) -> None:
    seen = set()
    ebr = ext_start
    number = 5
    while len(seen) < MAX_LOGICAL:
        if ebr in seen:
            table.warnings.append("the chain of logical partitions loops; stopped following it")
            return
        seen.add(ebr)
        sector = reader.read(ebr * 512, 512)
        if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
            table.warnings.append(f"a logical partition record at sector {ebr} is unreadable")
            return
        (s1, t1, rel1, c1), (s2, t2, rel2, c2) = _mbr_entries(sector)[:2]
        if t1:
            table.partitions.append(RawPartition(
                number=number, start=(ebr + rel1) * 512, size=c1 * 512, type=f"{t1:02x}",
                type_name=MBR_TYPES.get(t1, "unknown"), uuid=f"{disk_sig:08x}-{number:02x}",
                bootable=s1 == 0x80,
            ))
            number += 1
        if not t2 or t2 not in EXTENDED_TYPES:
            return
        ebr = ext_start + rel2
    table.warnings.append(f"more than {MAX_LOGICAL} logical partitions; stopped reading")


def _guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw)).upper()


def _parse_gpt_header(hdr: bytes):
    if hdr[:8] != b"EFI PART":
        return None
    hsize = struct.unpack_from("<I", hdr, 12)[0]
    if hsize < 92 or hsize > len(hdr):
        return None
    crc = struct.unpack_from("<I", hdr, 16)[0]
    zeroed = hdr[:16] + b"\0\0\0\0" + hdr[20:hsize]
    if zlib.crc32(zeroed) & 0xFFFFFFFF != crc:
        return None
    (cur, backup, first, last) = struct.unpack_from("<QQQQ", hdr, 24)
    disk_guid = _guid(hdr[56:72])
    entries_lba, count, esize, ecrc = struct.unpack_from("<QIII", hdr, 72)
    if esize < 128 or esize & (esize - 1) or count * esize > MAX_GPT_ENTRIES_BYTES:
        return None
    return dict(cur=cur, backup=backup, first=first, last=last, disk_guid=disk_guid,
                entries_lba=entries_lba, count=count, esize=esize, ecrc=ecrc)


def _read_gpt(reader: ByteReader, ss: int) -> PartitionTable:
    last_lba = reader.size // ss - 1
    primary = _parse_gpt_header(reader.read(ss, ss))
    warnings = []
    header, entries = None, None
    if primary:
        entries = reader.read(primary["entries_lba"] * ss, primary["count"] * primary["esize"])
        if zlib.crc32(entries) & 0xFFFFFFFF == primary["ecrc"]:
            header = primary
    if header is None:
        backup = _parse_gpt_header(reader.read(last_lba * ss, ss))
        if backup:
            entries = reader.read(backup["entries_lba"] * ss, backup["count"] * backup["esize"])
            if zlib.crc32(entries) & 0xFFFFFFFF == backup["ecrc"]:
                header = backup
                warnings.append("the primary GPT is damaged; the backup copy at the end of the disk was used "
                                "(repair with `sgdisk -e` or gdisk)")
    if header is None:
        raise ImageError(f"{reader.path} has a corrupt GPT partition table: the primary and backup copies "
                         "both fail their checksums (repair it with gdisk, or restore the image)")
    table = PartitionTable(kind="gpt", sector_size=ss, disk_id=header["disk_guid"], warnings=warnings)
    if primary and header is primary and primary["backup"] != last_lba:
        table.warnings.append("the backup GPT is not at the end of the disk (the image was resized; "
                              "fix with `sgdisk -e`)")
    for i in range(header["count"]):
        e = entries[i * header["esize"]: (i + 1) * header["esize"]]
        if e[:16] == b"\0" * 16:
            continue
        type_guid = _guid(e[:16])
        first, last, attrs = struct.unpack_from("<QQQ", e, 32)
        name = e[56:128].decode("utf-16-le", "replace").split("\0", 1)[0]
        if last < first:
            table.warnings.append(f"GPT entry {i + 1} ends before it starts; ignored")
            continue
        table.partitions.append(RawPartition(
            number=i + 1, start=first * ss, size=(last - first + 1) * ss, type=type_guid,
            type_name=gpt_type_name(type_guid), name=name or None, uuid=_guid(e[16:32]).lower(),
            attributes=attrs, bootable=bool(attrs & GPT_ATTR_LEGACY_BOOT),
        ))
    for p in table.partitions:
        if p.end > reader.size:
            table.warnings.append(f"partition {p.number} ends past the end of the disk")
    return table
