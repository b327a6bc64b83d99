"""What the image builder builds: a Disk of Parts (file systems with Trees of files, LVM volumes) and the
names of partition types; the model the sample, the tests' catalogue and build.py share."""

from __future__ import annotations

import os
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

from workbench.image.parttable import BIOS_BOOT_GUID, ESP_GUID

MiB = 1 << 20
GiB = 1 << 30

GPT_ALIASES = {
    "linux": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "esp": ESP_GUID, "bios": BIOS_BOOT_GUID,
    "swap": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "lvm": "E6D6D379-F507-44C2-A23C-238F2A3DF928",
    "luks": "CA7D7CCB-63ED-4C53-861C-1742536059CC",
}
MBR_ALIASES = {"linux": "83", "esp": "ef", "swap": "82", "lvm": "8e", "fat32": "0c", "fat16": "06",
               "luks": "83"}
DEFAULT_TYPE = {"ext2": "linux", "ext3": "linux", "ext4": "linux", "xfs": "linux", "fat32": "fat32",
                "fat16": "fat16", "swap": "swap", "bios-boot": "bios", "lvm": "lvm", "luks": "luks",
                None: "linux"}


class BuildError(RuntimeError):
    pass


@dataclass
class Entry:
    kind: str  # file | dir | symlink
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    target: str = ""
    sparse: int = 0  # a file of this many bytes that is all hole (after data)


class Tree:
    """Files to place in a file system, with owners and modes kept apart from the host's."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def _parents(self, path: str) -> None:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/" + "/".join(parts[:i])
            self.entries.setdefault(p, Entry("dir", mode=0o755))

    def dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> "Tree":
        self._parents(path)
        self.entries[path.rstrip("/") or "/"] = Entry("dir", mode=mode, uid=uid, gid=gid)
        return self

    def file(self, path: str, content: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> "Tree":
        self._parents(path)
        data = content.encode() if isinstance(content, str) else content
        self.entries[path] = Entry("file", data=data, mode=mode, uid=uid, gid=gid)
        return self

    def sparse_file(self, path: str, size: int, mode: int = 0o644) -> "Tree":
        """A file of size bytes with no data blocks (a hole), as an image can hold far bigger than its disk."""
        self._parents(path)
        self.entries[path] = Entry("file", data=b"", mode=mode, sparse=size)
        return self

    def symlink(self, path: str, target: str) -> "Tree":
        self._parents(path)
        self.entries[path] = Entry("symlink", target=target, mode=0o777)
        return self

    def stage(self, root: Path) -> None:
        """Write to root with host-friendly modes (owners and modes are fixed later)."""
        for path in sorted(self.entries):
            e = self.entries[path]
            dest = root / path.lstrip("/")
            if e.kind == "dir":
                dest.mkdir(parents=True, exist_ok=True)
                dest.chmod(0o755)
            elif e.kind == "file":
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(e.data)
                if e.sparse:
                    os.truncate(dest, e.sparse)
                dest.chmod(0o644)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(e.target, dest)


@dataclass
class Part:
    size: int
    fs: str | None = "ext4"  # ext2/3/4 fat16 fat32 xfs swap bios-boot lvm luks None
    type: str | None = None  # alias (linux, esp, bios, swap, lvm) or raw MBR hex / GPT GUID
    label: str | None = None
    uuid: str | None = None
    tree: Tree | None = None
    name: str | None = None  # GPT partition name
    partuuid: str | None = None  # GPT unique partition GUID
    attrs: str | None = None  # sfdisk attrs, e.g. "60" (read-only), "LegacyBIOSBootable"
    bootable: bool = False
    ext_options: list[str] = field(default_factory=list)  # extra mke2fs -O features
    lvs: list["LogicalVolume"] = field(default_factory=list)  # fs == "lvm"
    logical: list["Part"] = field(default_factory=list)  # inside an MBR extended partition (type "05")
    source_dir: str | None = None  # ext*: populate from this host directory as it is (owners kept)


@dataclass
class LogicalVolume:
    name: str
    size_mb: int
    fs: str = "ext4"
    label: str | None = None
    uuid: str | None = None
    tree: Tree | None = None


@dataclass
class Disk:
    size: int
    table: str = "mbr"  # mbr | gpt | none
    parts: list[Part] = field(default_factory=list)
    disk_id: str | None = None
    vg: str = "vg0"
    boot_code: bytes | None = None  # put in the first sector's code area (at most 440 bytes)


def new_uuid(seed: str) -> str:
    """A stable UUID for a named test or sample file system."""
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "workbench:" + seed))
