"""fstab parsing and mapping of its device specs to appliance devices (pure, testable)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MOUNTABLE = {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "msdos", "fat", "ufs", "auto", "jfs", "reiserfs"}
GETMNTENT_LINE = 4095  # glibc's getmntent() reads a line into 4096 bytes and forgets the rest of a longer one
GLIBC_ESCAPES = {"\\040": " ", "\\011": "\t", "\\012": "\n", "\\134": "\\", "\\\\": "\\"}


@dataclass(frozen=True)
class FstabEntry:
    spec: str
    mountpoint: str
    fstype: str
    options: str
    line: int = 0
    reader: str = "both"  # glibc (systemd's fstab-generator), libmount (mount, findmnt), or both


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


def _glibc_line(line: str, last: bool) -> tuple[str, str, str, str] | None:
    """getmntent(3) on one line (systemd's fstab-generator reads fstab with it): blanks split the fields, only
    \\040 \\011 \\012 \\134 and \\\\ are escapes, missing fields are empty, what follows the fourth is numbers or
    ignored. A CR stays part of the last field; trailing blanks go only where the line's LF was read with it."""
    if len(line) >= GETMNTENT_LINE:
        line = line[:GETMNTENT_LINE]
    elif "\0" not in line and not last:
        line = line.rstrip(" \t")
    line = line.split("\0", 1)[0]
    head = line.lstrip(" \t")
    if not head or head.startswith("#"):
        return None
    fields = re.split(r"[ \t]+", head, maxsplit=4)[:4] + ["", "", "", ""]
    return tuple(re.sub(r"\\(?:040|011|012|134|\\)", lambda m: GLIBC_ESCAPES[m.group(0)], f)
                 for f in fields[:4])  # type: ignore[return-value]


def _glibc_swallows(line: str) -> bool:
    """getmntent() forgets the rest of a line it could not read whole, up to an LF it can see; a NUL hides the
    LF, so what it forgets is the next line too."""
    return "\0" in (line if len(line) < GETMNTENT_LINE else line[GETMNTENT_LINE:])


def _libmount_line(line: str, last: bool) -> tuple[str, str, str, str] | None:
    """libmount's fstab parser on one line: one trailing CR dropped, blanks split the fields, \\NNN octal
    escapes; source, target and type are required and the numbers must be numbers, or the line is ignored."""
    if "\0" in line:
        if not last:
            return None
        line = line.split("\0", 1)[0]
    if line.endswith("\r"):
        line = line[:-1]
    head = line.lstrip(" \t")
    if not head or head.startswith("#"):
        return None
    fields = re.split(r"[ \t]+", head.rstrip(" \t"))
    if len(fields) < 3 or not all(fields[:3]):
        return None
    for num in fields[4:6]:
        m = re.fullmatch(r"[ \t\n\v\f\r]*[+-]?([0-9]+)", num)
        if m is None or int(m.group(1)) >= 1 << 63:
            return None
    unmangle = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8) & 0xFF), f) for f in fields[:4]]
    return unmangle[0], unmangle[1], unmangle[2], unmangle[3] if len(fields) > 3 else ""


def parse_fstab(text: str | bytes) -> list[FstabEntry]:
    """Every entry either reader of the instance takes from fstab: glibc's getmntent (systemd mounts by it at
    boot) and libmount (mount -a, findmnt). Lines end at LF only; no line limit (the caller bounds the bytes).
    A line both read alike gives one entry; one they read differently gives one entry for each."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    entries = []
    lines = text.split("\n")
    last = len(lines) if lines[-1] else len(lines) - 1
    swallowed = False
    for n, line in enumerate(lines[:last], 1):
        g = None if swallowed else _glibc_line(line, n == last and not text.endswith("\n"))
        swallowed = _glibc_swallows(line)
        m = _libmount_line(line, n == last)
        views = [(g, "both" if g == m else "glibc")] + ([(m, "libmount")] if m is not None and m != g else [])
        for fields, reader in views:
            if fields is not None:
                spec, mp, fstype, options = fields
                entries.append(FstabEntry(spec, mp, fstype or "auto", options or "defaults", n, reader))
    return entries


_DEV_PART = re.compile(r"^/dev/(?:[shv]d[a-z]|xvd[a-z])([0-9]+)$|^/dev/(?:nvme[0-9]+n[0-9]+|mmcblk[0-9]+)p([0-9]+)$")


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
    seen: set[tuple[str, str]] = set()
    for e in entries:
        if (e.spec, e.mountpoint) in seen:
            continue  # the same line as the other reader takes it
        seen.add((e.spec, e.mountpoint))
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
