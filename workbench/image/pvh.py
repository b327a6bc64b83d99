"""An x86 kernel that qemu can start at its PVH entry point, decompressed on the host.

Under TCG a bzImage spends 3-4 s of emulated time decompressing itself before the kernel prints its first line
(Debian's kernels are xz-compressed); decompressed here it takes a fraction of a second. The payload of a bzImage
(setup header 2.08+: payload_offset, payload_length) is the compressed kernel ELF; qemu (4.0 and later) starts an
ELF kernel at the entry its PVH note (XEN_ELFNOTE_PHYS32_ENTRY) names, with the initramfs and command line as
for a bzImage. A kernel without that note (built without CONFIG_PVH) is left as it is: None.

The input is untrusted (a guest's kernel): the payload is bounded by the bzImage's own size, the decompressed
kernel by MAX_KERNEL, and decompression by the initramfs reader's time budget.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

from workbench.image.decompress import Budget, Stop, decompress
from workbench.image.initramfs import Input, compression_of

MAX_KERNEL = 256 << 20  # a decompressed kernel ELF (Debian's is ~65 MiB)
PVH_NOTE = 18  # XEN_ELFNOTE_PHYS32_ENTRY
PVH_PREFIX = "workbench-pvh-"  # the fixed appliances made beside the supermin appliance


def payload(bzimage: bytes) -> bytes | None:
    """The compressed kernel inside a bzImage (boot protocol 2.08+), or None when it is not one."""
    if len(bzimage) < 0x250 or bzimage[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", bzimage, 0x206)[0] < 0x208:
        return None
    setup_sects = bzimage[0x1F1] or 4
    offset, length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sects + 1) * 512 + offset
    if length == 0 or start + length > len(bzimage):
        return None
    return bzimage[start:start + length]


def has_pvh_note(elf: bytes) -> bool:
    """An x86-64 ELF whose PT_NOTE segments hold a "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY."""
    if len(elf) < 64 or elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1 or struct.unpack_from("<H", elf, 18)[0] != 62:
        return False
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    if phentsize < 56 or phnum > 64 or phoff + phnum * phentsize > len(elf):
        return False
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != 4 or p_offset + p_filesz > len(elf):  # PT_NOTE
            continue
        at, end = p_offset, p_offset + p_filesz
        while at + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", elf, at)
            name = elf[at + 12:at + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and n_type == PVH_NOTE:
                return True
            at += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return False


def pvh_kernel(bzimage: bytes) -> bytes | None:
    """The decompressed ELF of an x86 bzImage when qemu can start it at its PVH entry, else None (not a bzImage,
    a compression not read, damaged, over MAX_KERNEL, or no PVH note)."""
    data = payload(bzimage)
    kind = compression_of(data[:8]) if data else None
    if data is None or kind in (None, "cpio"):
        return None
    out = bytearray()
    try:
        for piece in decompress(kind, Input(io.BytesIO(data)), Budget()):
            out += piece
            if len(out) > MAX_KERNEL:
                return None
    except (Stop, lzma.LZMAError, zlib.error, OSError, EOFError, ValueError):  # damaged: booted as it is
        return None
    return bytes(out) if has_pvh_note(out) else None


def pvh_file(bzimage_path: str, out_path: str) -> bool:
    """Write the PVH ELF of the bzImage at bzimage_path to out_path; False (nothing written) when there is none."""
    with open(bzimage_path, "rb") as f:
        elf = pvh_kernel(f.read(MAX_KERNEL))
    if elf is None:
        return False
    with open(out_path, "wb") as f:
        f.write(elf)
    return True


def fixed_appliance(g) -> str | None:
    """A fixed libguestfs appliance (kernel, initrd, root, README.fixed) whose kernel is the supermin appliance's,
    decompressed to start at its PVH entry: under TCG the appliance answers ~3 s sooner. The supermin appliance
    is first brought up to date as libguestfs itself does (`supermin --build --if-newer`, ~10 ms when it is), the
    initrd and root are the supermin appliance's own files. None when it cannot be made (no supermin appliance,
    a kernel without a PVH entry, LIBGUESTFS_PATH set by the operator, WORKBENCH_APPLIANCE_PVH=0): the caller
    launches as usual."""
    if os.environ.get("LIBGUESTFS_PATH") or os.environ.get("WORKBENCH_APPLIANCE_PVH") == "0":
        return None
    try:
        return _fixed(g)
    except (OSError, subprocess.SubprocessError):  # unwritable cache, supermin stuck on its lock...
        return None


def _fixed(g) -> str | None:
    supermin_d = os.path.join(g.get_path(), "supermin.d")
    base = os.path.join(g.get_cachedir(), f".guestfs-{os.geteuid()}")
    app = os.path.join(base, "appliance.d")
    if not os.path.isdir(supermin_d) or shutil.which("supermin") is None:
        return None
    os.makedirs(base, mode=0o755, exist_ok=True)
    built = subprocess.run(["supermin", "--build", "--if-newer", "--lock", os.path.join(base, "lock"), "--copy-kernel",
                            "-f", "ext2", "--host-cpu", os.uname().machine, supermin_d, "-o", app],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    kernel = os.path.join(app, "kernel")
    if built.returncode != 0 or not all(os.path.isfile(os.path.join(app, f)) for f in ("kernel", "initrd", "root")):
        return None
    with open(kernel, "rb") as f:
        digest = hashlib.sha256(f.read(MAX_KERNEL)).hexdigest()[:16]
    out = os.path.join(base, f"{PVH_PREFIX}{digest}")
    if os.path.isfile(os.path.join(out, "README.fixed")):
        return out
    tmp = tempfile.mkdtemp(prefix=".making-", dir=base)
    try:
        if not pvh_file(kernel, os.path.join(tmp, "kernel")):
            return None
        for f in ("initrd", "root"):
            os.symlink(os.path.join(app, f), os.path.join(tmp, f))
        with open(os.path.join(tmp, "README.fixed"), "w") as f:
            f.write("A libguestfs fixed appliance made by workbench: the supermin appliance's initrd and root, its "
                    "kernel decompressed (started at its PVH entry). Safe to delete.\n")
        try:
            os.rename(tmp, out)
        except OSError:  # another process made it first
            return out if os.path.isfile(os.path.join(out, "README.fixed")) else None
        for old in os.listdir(base):  # the kernels of earlier supermin appliances
            if old.startswith(PVH_PREFIX) and old != os.path.basename(out):
                shutil.rmtree(os.path.join(base, old), ignore_errors=True)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
