"""Identify a file system (or other content) from the bytes at fixed offsets.

Only the superblock areas listed in SNIFF_RANGES are read, relative to the
start of a partition (or of the disk, when there is no partition table).
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from dataclasses import dataclass, field

# (offset, length) relative to the partition start
SNIFF_RANGES: list[tuple[int, int]] = [(0, 4096), (8192, 2048), (32768, 2048), (65536, 4096)]

EXT_COMPAT = {0x1: "dir_prealloc", 0x2: "imagic_inodes", 0x4: "has_journal", 0x8: "ext_attr",
              0x10: "resize_inode", 0x20: "dir_index", 0x40: "lazy_bg", 0x200: "sparse_super2",
              0x400: "fast_commit", 0x800: "stable_inodes", 0x1000: "orphan_file"}
EXT_INCOMPAT = {0x1: "compression", 0x2: "filetype", 0x4: "needs_recovery", 0x8: "journal_dev",
                0x10: "meta_bg", 0x40: "extent", 0x80: "64bit", 0x100: "mmp", 0x200: "flex_bg",
                0x400: "ea_inode", 0x1000: "dirdata", 0x2000: "metadata_csum_seed",
                0x4000: "large_dir", 0x8000: "inline_data", 0x10000: "encrypt", 0x20000: "casefold"}
EXT_RO_COMPAT = {0x1: "sparse_super", 0x2: "large_file", 0x4: "btree_dir", 0x8: "huge_file",
                 0x10: "uninit_bg", 0x20: "dir_nlink", 0x40: "extra_isize", 0x80: "snapshot",
                 0x100: "quota", 0x200: "bigalloc", 0x400: "metadata_csum", 0x800: "replica",
                 0x1000: "read-only", 0x2000: "project", 0x4000: "shared_blocks", 0x8000: "verity",
                 0x10000: "orphan_present"}
# Features a writer running an older long-term kernel (4.19) cannot write, with the
# release that added them. Incompat: no mount at all; ro_compat: read-only mount.
EXT_NEWER_FEATURES = {"casefold": "5.2", "verity": "5.4", "orphan_present": "5.15"}
OLD_WRITER_KERNEL = "4.19"
EXT4_ONLY_INCOMPAT = 0x40 | 0x80 | 0x200 | 0x400 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000
EXT4_ONLY_RO = 0x8 | 0x10 | 0x20 | 0x40 | 0x200 | 0x400 | 0x2000 | 0x8000


@dataclass
class FsInfo:
    kind: str | None = None
    label: str | None = None
    uuid: str | None = None
    size: int | None = None
    free: int | None = None
    free_inodes: int | None = None
    block_size: int | None = None
    clean: bool | None = None
    unclean_reasons: list[str] = field(default_factory=list)
    readonly_reasons: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    newer_features: list[str] = field(default_factory=list)
    version: str | None = None
    last_mounted: str | None = None
    fat_table_offset: int | None = None  # FAT: where FAT[1] lives, for the dirty bit

    @property
    def is_filesystem(self) -> bool:
        return self.kind not in (None, "swap", "luks", "lvm2")


def _text(raw: bytes) -> str | None:
    s = raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return s or None


def _bits(value: int, names: dict[int, str]) -> tuple[list[str], int]:
    found, unknown = [], 0
    bit = 1
    while bit <= value:
        if value & bit:
            if bit in names:
                found.append(names[bit])
            else:
                unknown |= bit
        bit <<= 1
    return found, unknown


def sniff(blocks: dict[int, bytes]) -> FsInfo:
    """blocks maps each SNIFF_RANGES offset to the bytes read there (may be short)."""
    b0 = blocks.get(0, b"")
    for probe in (_ext, _xfs, _luks, _lvm, _squashfs, _swap, _fat, _btrfs, _ufs, _iso, _ntfs):
        info = probe(blocks, b0)
        if info is not None:
            return info
    return FsInfo()


def _ext(blocks, b0):
    if len(b0) < 2048 or b0[1024 + 56:1024 + 58] != b"\x53\xef":
        return None
    sb = b0[1024:2048]
    inodes, blocks_lo, _r, free_lo, free_inodes = struct.unpack_from("<IIIII", sb, 0)
    log_bs = struct.unpack_from("<I", sb, 24)[0]
    state = struct.unpack_from("<H", sb, 58)[0]
    compat, incompat, ro = struct.unpack_from("<III", sb, 92)
    bs = 1024 << min(log_bs, 16)
    blocks_hi = free_hi = 0
    if incompat & 0x80:
        blocks_hi = struct.unpack_from("<I", sb, 0x150)[0]
        free_hi = struct.unpack_from("<I", sb, 0x158)[0]
    c_names, _ = _bits(compat, EXT_COMPAT)
    i_names, i_unknown = _bits(incompat, EXT_INCOMPAT)
    r_names, r_unknown = _bits(ro, EXT_RO_COMPAT)
    if incompat & EXT4_ONLY_INCOMPAT or ro & EXT4_ONLY_RO:
        kind = "ext4"
    elif compat & 0x4:
        kind = "ext3"
    else:
        kind = "ext2"
    info = FsInfo(
        kind=kind, label=_text(sb[120:136]), uuid=str(uuidlib.UUID(bytes=bytes(sb[104:120]))),
        size=((blocks_hi << 32) | blocks_lo) * bs, free=((free_hi << 32) | free_lo) * bs,
        free_inodes=free_inodes, block_size=bs, features=c_names + i_names + r_names,
        last_mounted=_text(sb[136:200]),
    )
    if not state & 1:
        info.unclean_reasons.append("it was not cleanly unmounted (state not clean)")
    if state & 2:
        info.unclean_reasons.append("the kernel recorded errors on it")
    if incompat & 0x4:
        info.unclean_reasons.append("its journal needs recovery (the image was taken from a running system)")
    info.clean = not info.unclean_reasons
    if ro & 0x1000:
        info.readonly_reasons.append("the read-only feature flag is set")
    if ro & 0x4000:
        info.readonly_reasons.append("it has shared_blocks (deduplicated), which Linux mounts read-only")
    if r_unknown:
        info.readonly_reasons.append(f"unknown read-only-compatible features 0x{r_unknown:x} "
                                     "(a writer that does not know them mounts read-only)")
    if i_unknown:
        info.readonly_reasons.append(f"unknown incompatible features 0x{i_unknown:x} "
                                     "(a writer that does not know them cannot mount it)")
    info.newer_features = [f for f in i_names + r_names if f in EXT_NEWER_FEATURES]
    return info


def _xfs(blocks, b0):
    if b0[:4] != b"XFSB" or len(b0) < 160:
        return None
    bs, dblocks = struct.unpack_from(">IQ", b0, 4)
    version = struct.unpack_from(">H", b0, 100)[0] & 0xF
    fdblocks = struct.unpack_from(">Q", b0, 144)[0]
    return FsInfo(kind="xfs", uuid=str(uuidlib.UUID(bytes=bytes(b0[32:48]))), label=_text(b0[108:120]),
                  size=dblocks * bs, free=fdblocks * bs, block_size=bs, version=f"V{version}")


def _luks(blocks, b0):
    if b0[:6] != b"LUKS\xba\xbe":
        return None
    version = struct.unpack_from(">H", b0, 6)[0]
    label = _text(b0[24:72]) if version == 2 else None
    return FsInfo(kind="luks", version=f"LUKS{version}", uuid=_text(b0[168:208]), label=label)


def _lvm(blocks, b0):
    for sector in range(4):
        at = sector * 512
        if b0[at:at + 8] == b"LABELONE" and b0[at + 24:at + 32] == b"LVM2 001":
            raw = b0[at + 32:at + 64].decode("ascii", "replace")
            pv = "-".join([raw[:6], raw[6:10], raw[10:14], raw[14:18], raw[18:22], raw[22:26], raw[26:]])
            return FsInfo(kind="lvm2", uuid=pv, version="LVM2")
    return None


def _squashfs(blocks, b0):
    if b0[:4] in (b"hsqs", b"sqsh"):
        info = FsInfo(kind="squashfs")
        info.readonly_reasons.append("squashfs is a read-only file system")
        return info
    return None


def _swap(blocks, b0):
    if len(b0) >= 4096 and b0[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
        return FsInfo(kind="swap", uuid=str(uuidlib.UUID(bytes=bytes(b0[1036:1052]))), label=_text(b0[1052:1068]))
    return None


def fat_bpb(b0: bytes) -> dict | None:
    """The BIOS parameter block of a FAT boot sector, or None when it is not one."""
    if len(b0) < 512 or b0[510:512] != b"\x55\xaa" or b0[0] not in (0xEB, 0xE9):
        return None
    bps, spc, reserved, nfats, root_entries, total16, media, fatsz16 = struct.unpack_from("<HBHBHHBH", b0, 11)
    total32, fatsz32 = struct.unpack_from("<II", b0, 32)
    if bps not in (512, 1024, 2048, 4096) or spc == 0 or spc & (spc - 1) or reserved == 0:
        return None
    if nfats not in (1, 2) or media not in (0xF0, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF):
        return None
    fatsz = fatsz16 or fatsz32
    total = total16 or total32
    root_sectors = (root_entries * 32 + bps - 1) // bps
    data = total - (reserved + nfats * fatsz + root_sectors)
    if fatsz == 0 or total == 0 or data <= 0:
        return None
    return dict(bps=bps, spc=spc, reserved=reserved, nfats=nfats, total=total, fatsz=fatsz,
                clusters=data // spc, fatsz16=fatsz16)


def _fat(blocks, b0):
    bpb = fat_bpb(b0)
    if bpb is None:
        return None
    clusters = bpb["clusters"]
    # Linux decides by layout (a FAT32 BPB has no 16-bit FAT size), not by cluster count.
    kind = "fat32" if bpb["fatsz16"] == 0 else "fat12" if clusters < 4085 else "fat16"
    if kind == "fat32":
        vol_id, label = struct.unpack_from("<I", b0, 67)[0], _text(b0[71:82])
    else:
        vol_id, label = struct.unpack_from("<I", b0, 39)[0], _text(b0[43:54])
    if label == "NO NAME":
        label = None
    info = FsInfo(kind=kind, label=label, uuid=f"{vol_id >> 16:04X}-{vol_id & 0xFFFF:04X}",
                  size=bpb["total"] * bpb["bps"], block_size=bpb["bps"] * bpb["spc"],
                  fat_table_offset=bpb["reserved"] * bpb["bps"])
    if kind == "fat32":
        fsinfo_sector = struct.unpack_from("<H", b0, 48)[0]
        at = fsinfo_sector * bpb["bps"]
        if 0 < at and at + 512 <= len(b0) and b0[at:at + 4] == b"RRaA" and b0[at + 484:at + 488] == b"rrAa":
            free = struct.unpack_from("<I", b0, at + 488)[0]
            if free != 0xFFFFFFFF and free <= clusters:
                info.free = free * bpb["bps"] * bpb["spc"]
    return info


def fat_dirty(kind: str, fat_head: bytes) -> list[str]:
    """Reasons the FAT volume is unclean, from the flags in FAT entry 1."""
    if kind == "fat32" and len(fat_head) >= 8:
        e1 = struct.unpack_from("<I", fat_head, 4)[0]
        clean, ok = e1 & 0x08000000, e1 & 0x04000000
    elif kind == "fat16" and len(fat_head) >= 4:
        e1 = struct.unpack_from("<H", fat_head, 2)[0]
        clean, ok = e1 & 0x8000, e1 & 0x4000
    else:
        return []
    reasons = []
    if not clean:
        reasons.append("its dirty bit is set (not cleanly unmounted)")
    if not ok:
        reasons.append("it records a disk I/O error")
    return reasons


def _btrfs(blocks, b0):
    b = blocks.get(65536, b"")
    if b[0x40:0x48] != b"_BHRfS_M":
        return None
    return FsInfo(kind="btrfs", uuid=str(uuidlib.UUID(bytes=bytes(b[0x20:0x30]))), label=_text(b[0x12B:0x22B]))


def _ufs(blocks, b0):
    for off in (8192, 65536, 0):
        b = blocks.get(off, b"")
        if len(b) < 1376:
            continue
        for fmt in ("<I", ">I"):
            magic = struct.unpack_from(fmt, b, 1372)[0]
            if magic == 0x00011954:
                return FsInfo(kind="ufs1")
            if magic == 0x19540119:
                return FsInfo(kind="ufs2")
    return None


def _iso(blocks, b0):
    b = blocks.get(32768, b"")
    if b[1:6] == b"CD001":
        info = FsInfo(kind="iso9660", label=_text(b[40:72]))
        info.readonly_reasons.append("iso9660 is a read-only file system")
        return info
    return None


def _ntfs(blocks, b0):
    if b0[3:11] == b"NTFS    ":
        return FsInfo(kind="ntfs")
    return None
