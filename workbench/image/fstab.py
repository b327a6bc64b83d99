"""fstab parsing and mapping of its device specs to appliance devices (pure, testable)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MOUNTABLE = {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "msdos", "fat", "ufs", "auto", "jfs", "reiserfs"}
MAX_LINES = 1000


@dataclass(frozen=True)
class FstabEntry:
    spec: str
    mountpoint: str
    fstype: str
    options: str


@dataclass(frozen=True)
class Volume:
    """A block device the appliance can mount, with the names fstab may use for it."""
    device: str
    fs: str | None
    uuid: str | None = None
    label: str | None = None
    partuuid: str | None = None
    partlabel: str | None = None
    number: int | None = None  # partition number on the disk


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for line in text.splitlines()[:MAX_LINES]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        fstype = fields[2] if len(fields) > 2 else "auto"
        options = fields[3] if len(fields) > 3 else "defaults"
        mp = _unescape(fields[1])
        entries.append(FstabEntry(_unescape(fields[0]), mp, fstype, options))
    return entries


_DEV_PART = re.compile(r"^/dev/(?:[shv]d[a-z]|xvd[a-z])(\d+)$|^/dev/(?:nvme\d+n\d+|mmcblk\d+)p(\d+)$")


def resolve_spec(spec: str, volumes: list[Volume]) -> Volume | None:
    key, _, value = spec.partition("=")
    if value:
        value = value.strip('"')
        attr = {"UUID": "uuid", "LABEL": "label", "PARTUUID": "partuuid", "PARTLABEL": "partlabel"}.get(key.upper())
        if attr:
            for v in volumes:
                got = getattr(v, attr)
                if got and got.lower() == value.lower():
                    return v
        return None
    for prefix, attr in (("/dev/disk/by-uuid/", "uuid"), ("/dev/disk/by-label/", "label"),
                         ("/dev/disk/by-partuuid/", "partuuid"), ("/dev/disk/by-partlabel/", "partlabel")):
        if spec.startswith(prefix):
            return resolve_spec(f"{attr.upper()}={spec[len(prefix):]}", volumes)
    m = _DEV_PART.match(spec)
    if m:
        number = int(m.group(1) or m.group(2))
        return next((v for v in volumes if v.number == number), None)
    lv = _lv_path(spec)
    if lv:
        return next((v for v in volumes if v.device == lv), None)
    return None


def _lv_path(spec: str) -> str | None:
    """/dev/mapper/vg-lv (dashes in names doubled) or /dev/vg/lv, as /dev/vg/lv."""
    if spec.startswith("/dev/mapper/"):
        name = spec[len("/dev/mapper/"):]
        parts = re.split(r"(?<!-)-(?!-)", name)
        if len(parts) == 2:
            vg, lv = (p.replace("--", "-") for p in parts)
            return f"/dev/{vg}/{lv}"
        return None
    m = re.match(r"^/dev/([^/]+)/([^/]+)$", spec)
    if m and m.group(1) not in ("disk", "mapper"):
        return spec
    return None


def mount_plan(entries: list[FstabEntry], volumes: list[Volume]) -> tuple[list[tuple[Volume, FstabEntry]], list[str]]:
    """Mounts below / in mountpoint order, and notes on entries that cannot be mounted."""
    plan, notes = [], []
    for e in entries:
        if not e.mountpoint.startswith("/") or e.mountpoint == "/":
            continue
        opts = e.options.split(",")
        if e.fstype not in MOUNTABLE or "bind" in opts or "rbind" in opts:
            continue
        vol = resolve_spec(e.spec, volumes)
        if vol is None:
            if "nofail" not in opts and "noauto" not in opts:
                notes.append(f"fstab: {e.spec} for {e.mountpoint} matches no partition or volume in this image")
            continue
        plan.append((vol, e))
    plan.sort(key=lambda ve: (ve[1].mountpoint.rstrip("/").count("/"), ve[1].mountpoint))
    return plan, notes
