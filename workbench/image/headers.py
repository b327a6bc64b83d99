"""The image file's own headers, read here before any qemu tool opens it.

An image file can name other files: a qcow2 backing file or external data file,
a vmdk descriptor's extents, a VHD's parent, a QED backing file. Opened by qemu,
such an image reads whatever it names (a host disk, a file of the operator's, an
NBD or HTTP server). The workbench finds the format itself, refuses every image
that names another file or a protocol, and, only when the operator allows backing
files, follows a chain of plain local files, each vetted the same way.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

from workbench.errors import ImageError
from workbench.text import printable

HEAD = 4096
MAX_CHAIN = 16
MAX_NAME = 4096  # qemu's own limit for a backing file name is 1023
MAX_DESCRIPTOR = 1 << 20

# formats qemu can open that the workbench reviews; anything else is refused before qemu sees it
SUPPORTED = ("raw", "qcow2", "vpc", "vhdx", "vmdk", "vdi", "qed")


@dataclass(frozen=True)
class Backing:
    path: str  # absolute
    format: str


def _read(path: str, offset: int, length: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length)
    except OSError as e:
        raise ImageError(f"{path}: cannot be read ({e.strerror})") from None


def _size(path: str) -> int:
    try:
        st = os.stat(path)
    except OSError as e:
        raise ImageError(f"{path}: cannot be read ({e.strerror})") from None
    if os.path.isfile(path):
        return st.st_size
    with open(path, "rb") as f:  # a block device
        return f.seek(0, os.SEEK_END)


def sniff_format(path: str) -> str:
    """The container format from the file's magic numbers, as qemu would probe it (raw when none matches)."""
    head = _read(path, 0, HEAD)
    if head[:4] == b"QFI\xfb":
        version = struct.unpack_from(">I", head, 4)[0] if len(head) >= 8 else 0
        return "qcow2" if version in (2, 3) else "qcow"
    if head[:4] == b"QED\0":
        return "qed"
    if head[:8] == b"vhdxfile":
        return "vhdx"
    if head[:4] == b"KDMV" or head[:4] == b"COWD":
        return "vmdk"
    if head.lstrip()[:21] == b"# Disk DescriptorFile":
        return "vmdk"
    if len(head) >= 68 and struct.unpack_from("<I", head, 64)[0] == 0xBEDA107F:
        return "vdi"
    if head[:8] == b"conectix":
        return "vpc"
    if head[:6] == b"LUKS\xba\xbe":
        return "luks"
    if head[:16] in (b"WithoutFreeSpace", b"WithouFreSpacExt"):
        return "parallels"
    size = _size(path)
    if size >= 512 and _read(path, size - 512, 8) == b"conectix":
        return "vpc"
    return "raw"


def _is_protocol(name: str) -> bool:
    """qemu reads `proto:...` (nbd:, http:, json:{...}, ...) as a protocol, unless a '/' comes before the ':'."""
    colon = name.find(":")
    return colon > 0 and "/" not in name[:colon]


def _qcow2_refs(path: str) -> tuple[str | None, str | None, str | None]:
    """(backing file name, its format, external data file name) from a qcow2 header."""
    head = _read(path, 0, 1 << 16)
    if len(head) < 72:
        raise ImageError(f"{path} is too short to be a qcow2 image (was the copy cut short?)")
    version = struct.unpack_from(">I", head, 4)[0]
    backing_off, backing_len = struct.unpack_from(">QI", head, 8)
    backing = None
    if backing_off:
        if backing_len > MAX_NAME:
            raise ImageError(f"{path}: its qcow2 header names a backing file of {backing_len} bytes; refused")
        backing = _read(path, backing_off, backing_len).decode("utf-8", "replace")
    data_file = None
    ext_start = 72
    if version >= 3 and len(head) >= 104:
        incompatible = struct.unpack_from(">Q", head, 72)[0]
        ext_start = struct.unpack_from(">I", head, 100)[0]
        if incompatible & 0x4:
            data_file = "(named in the header extension)"
    backing_fmt = None
    at = ext_start
    for _ in range(64):  # header extensions: type, length, data padded to 8 bytes; type 0 ends them
        if at + 8 > len(head):
            break
        kind, length = struct.unpack_from(">II", head, at)
        if kind == 0:
            break
        data = head[at + 8: at + 8 + length]
        if kind == 0xE2792ACA:
            backing_fmt = data.decode("ascii", "replace").strip("\0")
        elif kind == 0x44415441:
            data_file = data.decode("utf-8", "replace").strip("\0") or data_file or "(unnamed)"
        at += 8 + (length + 7) // 8 * 8
    return backing, backing_fmt, data_file


def _qed_refs(path: str) -> tuple[str | None, str | None]:
    head = _read(path, 0, 64)
    if len(head) < 64:
        raise ImageError(f"{path} is too short to be a QED image")
    features = struct.unpack_from("<Q", head, 16)[0]
    if not features & 0x1:
        return None, None
    off, length = struct.unpack_from("<II", head, 56)
    if length > MAX_NAME:
        raise ImageError(f"{path}: its QED header names a backing file of {length} bytes; refused")
    name = _read(path, off, length).decode("utf-8", "replace")
    return name, None if features & 0x4 == 0 else "raw"


def _vmdk_check(path: str) -> None:
    """A vmdk is taken only as one self-contained sparse file. qemu uses such a file itself as its only extent
    and reads its embedded descriptor for a parent (parentFileNameHint), which must not be there; a text
    descriptor names its extents as other files, so it is refused whole."""
    head = _read(path, 0, 512)
    if head[:4] != b"KDMV":
        raise ImageError(f"{printable(path)} is a descriptor-based or ESX vmdk, which names other files as its "
                         "extents; refused (convert it to one file first: qemu-img convert -O qcow2)")
    desc_off, desc_len = struct.unpack_from("<QQ", head, 28)
    if not desc_off:
        return
    if desc_len * 512 > MAX_DESCRIPTOR:
        raise ImageError(f"{path}: its embedded vmdk descriptor is implausibly large; refused")
    text = _read(path, desc_off * 512, desc_len * 512).split(b"\0", 1)[0].decode("utf-8", "replace")
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^parentCID\s*=\s*(\S+)", line)
        if (m and m.group(1).lower() != "ffffffff") or line.startswith("parentFileNameHint"):
            raise ImageError(f"{printable(path)} is a vmdk with a parent disk, another file it would read; refused "
                             "(convert it to one file: qemu-img convert -O qcow2)")


def _vpc_check(path: str) -> None:
    size = _size(path)
    footer = _read(path, size - 512, 512) if size >= 512 else b""
    if footer[:8] != b"conectix":
        footer = _read(path, 0, 512)
    if len(footer) >= 64 and struct.unpack_from(">I", footer, 60)[0] == 4:
        raise ImageError(f"{printable(path)} is a differencing VHD: it reads its parent disk, another file; "
                         "refused (merge it into one file first)")


def vet(path: str, allow_backing: bool = False) -> tuple[str, list[Backing]]:
    """(format, backing chain) of the image at path, refusing (ImageError, one sentence) any image that names
    another file or a protocol, and any backing file unless allow_backing (then only plain local files)."""
    chain: list[Backing] = []
    seen = {os.path.realpath(path)}
    current, fmt = path, sniff_format(path)
    top_format = fmt
    for _ in range(MAX_CHAIN + 1):
        if fmt == "luks":
            raise ImageError(f"{path} is a LUKS-encrypted image; decrypt it first and review the copy")
        if fmt == "qcow":
            raise ImageError(f"{path} is a qcow version 1 image; convert it first (qemu-img convert -O qcow2)")
        if fmt not in SUPPORTED:
            raise ImageError(f"{path} is a {fmt} image, which the workbench does not review (it reads "
                             f"{', '.join(SUPPORTED)}); convert it first with qemu-img convert -O qcow2")
        backing, backing_fmt = None, None
        if fmt == "qcow2":
            backing, backing_fmt, data_file = _qcow2_refs(current)
            if data_file:
                raise ImageError(f"{printable(current)} keeps its data in an external file "
                                 f"({printable(data_file, 200)}), which would be read instead of the image; "
                                 "refused (qemu-img convert -O qcow2 makes a self-contained copy)")
        elif fmt == "qed":
            backing, backing_fmt = _qed_refs(current)
        elif fmt == "vmdk":
            _vmdk_check(current)
        elif fmt == "vpc":
            _vpc_check(current)
        if not backing:
            return top_format, chain
        shown = printable(backing, 200)
        if _is_protocol(backing):
            raise ImageError(f"{printable(current)} names a backing file by a protocol ({shown}), which would "
                             "open a connection or another file; refused")
        if not allow_backing:
            raise ImageError(f"{printable(current)} is an overlay on the backing file {shown}; refused, as an image "
                             "must not make the workbench read other files (--allow-backing reads local backing "
                             "files, or convert it to one file: qemu-img convert -O qcow2)")
        resolved = backing if os.path.isabs(backing) else os.path.join(os.path.dirname(os.path.abspath(current)),
                                                                       backing)
        if not os.path.isfile(resolved):
            raise ImageError(f"{printable(current)}: its backing file {shown} is not a regular local file; refused")
        real = os.path.realpath(resolved)
        if real in seen:
            raise ImageError(f"{printable(current)}: its backing chain loops back to {shown}; refused")
        seen.add(real)
        sniffed = sniff_format(resolved)
        if backing_fmt and backing_fmt != sniffed:
            raise ImageError(f"{printable(current)} says its backing file {shown} is {printable(backing_fmt, 20)}, "
                             f"but it is {sniffed}; refused")
        chain.append(Backing(os.path.abspath(resolved), sniffed))
        current, fmt = resolved, sniffed
    raise ImageError(f"{path}: its backing chain is longer than {MAX_CHAIN} files; refused")
