"""What a kernel file is, from its first bytes: the architecture and the version string it carries.

x86 bzImage (the setup header's "HdrS" and its kernel_version pointer), arm64 Image (the "ARMd" magic
at 0x38), an ELF vmlinux (e_machine), and compressed kernels recognised as such. Untrusted: every
offset is bounds-checked, the version is made printable by the caller.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

HEAD = 64 << 10  # bytes read from the start of a kernel file
ELF_MACHINES = {0x3E: "x86_64", 0x03: "i386", 0xB7: "arm64", 0x28: "arm", 0xF3: "riscv64", 0x16: "s390x",
                0x15: "ppc64"}


@dataclass(frozen=True)
class KernelId:
    arch: str | None  # x86_64, arm64, ... (the ImportImage Architecture), None when unknown
    version: str | None  # e.g. 6.1.0-9-amd64, from the image's own version string
    format: str  # bzImage | arm64-image | elf | unknown


def identify(head: bytes) -> KernelId:
    if len(head) >= 0x212 and head[0x202:0x206] == b"HdrS":
        offset = struct.unpack_from("<H", head, 0x20E)[0] + 0x200
        version = None
        if 0x200 < offset < len(head):
            raw = head[offset:offset + 256].split(b"\0", 1)[0].decode("ascii", "replace")
            version = raw.split()[0] if raw.split() else None
        # the setup header's xloadflags bit 0 says the kernel has a 64-bit entry point
        xload = struct.unpack_from("<H", head, 0x236)[0] if len(head) >= 0x238 else 0
        return KernelId("x86_64" if xload & 1 else "i386", version, "bzImage")
    if len(head) >= 0x40 and head[0x38:0x3C] == b"ARM\x64":
        return KernelId("arm64", _version_in(head), "arm64-image")
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        endian = "<" if head[5] == 1 else ">"
        machine = struct.unpack_from(endian + "H", head, 18)[0]
        return KernelId(ELF_MACHINES.get(machine), _version_in(head), "elf")
    if head[:2] == b"MZ" and len(head) >= 0x40:  # an EFI stub (zboot, arm64): PE machine from the PE header
        pe = struct.unpack_from("<I", head, 0x3C)[0]
        if pe + 6 <= len(head) and head[pe:pe + 4] == b"PE\0\0":
            machine = struct.unpack_from("<H", head, pe + 4)[0]
            arch = {0x8664: "x86_64", 0xAA64: "arm64", 0x5064: "riscv64"}.get(machine)
            return KernelId(arch, _version_in(head), "pe")
    return KernelId(None, None, "unknown")


def elf_arch(head: bytes) -> str | None:
    """The architecture an ELF executable is built for (e_machine, with its class: an x32 or arm32 build of the
    same machine is not the 64-bit architecture); None when head is not an ELF header."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    machine = struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)[0]
    arch = ELF_MACHINES.get(machine)
    bits = {"x86_64": 2, "arm64": 2, "i386": 1, "riscv64": 2, "ppc64": 2}.get(arch or "")
    return arch if bits in (None, head[4]) else None


def _version_in(head: bytes) -> str | None:
    m = re.search(rb"Linux version (\d+\.\d+[\w.+~-]*)", head)
    return m.group(1).decode("ascii", "replace") if m else None


def version_from_name(path: str) -> str | None:
    """vmlinuz-6.1.0-9-amd64 -> 6.1.0-9-amd64 (the convention of every distribution)."""
    m = re.search(r"(?:vmlinuz|vmlinux|bzImage|Image|kernel)-(.+)$", path.rsplit("/", 1)[-1])
    return m.group(1) if m else None
