"""image/pvh.py on bzImages made here (setup header, compressed ELF payload) and on the host's own kernel; qemu
starting what it returns is proven by the appliance tier (tests/appliance/test_accel.py) and the rehearsal's
boots."""

import glob
import gzip
import lzma
import struct

import pytest

from workbench.image import pvh


def _elf(note_type: int = pvh.PVH_NOTE, name: bytes = b"Xen") -> bytes:
    """A minimal x86-64 ELF with one PT_NOTE segment holding one note."""
    desc = struct.pack("<I", 0x1000000)
    namesz = len(name) + 1
    note = struct.pack("<III", namesz, len(desc), note_type) + (name + b"\0").ljust((namesz + 3) & ~3, b"\0") + desc
    phoff, notes_at = 64, 64 + 56
    header = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
              + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x1000000, phoff, 0, 0, 64, 56, 1, 64, 0, 0))
    phdr = struct.pack("<IIQQQQQQ", 4, 4, notes_at, 0, 0, len(note), len(note), 4)
    return header + phdr + note + b"kernel text" * 100


def _bzimage(payload: bytes, version: int = 0x20F, setup_sects: int = 1, length: int | None = None) -> bytes:
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<II", setup, 0x248, 0x100, len(payload) if length is None else length)
    body = b"\x90" * 0x100 + payload + struct.pack("<I", 1234)  # the decompressor's code, the payload, its size
    return bytes(setup) + body


@pytest.mark.parametrize("compress", [lzma.compress, gzip.compress], ids=["xz", "gzip"])
def test_the_payload_of_a_bzimage_is_decompressed_to_the_elf_qemu_starts(compress):
    elf = _elf()
    assert pvh.pvh_kernel(_bzimage(compress(elf))) == elf


def test_a_kernel_without_a_pvh_entry_is_booted_as_it_is():
    assert pvh.has_pvh_note(_elf()) and not pvh.has_pvh_note(_elf(note_type=17))
    assert not pvh.has_pvh_note(_elf(name=b"GNU"))
    assert pvh.pvh_kernel(_bzimage(lzma.compress(_elf(note_type=17)))) is None


@pytest.mark.parametrize("image", [
    b"MZ" + bytes(4096),  # not a bzImage
    _bzimage(lzma.compress(_elf()), version=0x207),  # no payload fields before boot protocol 2.08
    _bzimage(lzma.compress(_elf()), length=1 << 30),  # a payload longer than the file
    _bzimage(lzma.compress(_elf())[:-40]),  # truncated
    _bzimage(b"\xfd7zXZ\x00" + bytes(300)),  # damaged
    _bzimage(b"no compression known"),
], ids=["not-bzimage", "old-protocol", "overlong", "truncated", "damaged", "unknown"])
def test_what_is_not_a_sound_bzimage_gives_none(image):
    assert pvh.pvh_kernel(image) is None


def test_a_kernel_over_the_bound_is_not_kept(monkeypatch):
    monkeypatch.setattr(pvh, "MAX_KERNEL", 1000)
    assert pvh.pvh_kernel(_bzimage(lzma.compress(_elf()))) is None


def test_hostile_note_sizes_end_the_walk():
    elf = bytearray(_elf())
    struct.pack_into("<III", elf, 120, 0xFFFFFFF0, 0xFFFFFFF0, pvh.PVH_NOTE)  # sizes past the segment
    assert not pvh.has_pvh_note(bytes(elf))


def test_the_hosts_kernel_has_a_pvh_entry(tmp_path):
    """The kernel the appliance is built from (the bootstrap installs one): Debian's and Ubuntu's have CONFIG_PVH."""
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        pytest.skip("no /boot/vmlinuz-* on this machine (the bootstrap installs one for the appliance)")
    out = tmp_path / "vmlinux"
    assert pvh.pvh_file(kernels[-1], str(out))
    elf = out.read_bytes()
    assert elf[:4] == b"\x7fELF" and pvh.has_pvh_note(elf) and len(elf) > 4 * (1 << 20)


class _Handle:
    """What fixed_appliance asks of a guestfs handle."""

    def __init__(self, path: str, cachedir: str) -> None:
        self.path, self.cachedir = path, cachedir

    def get_path(self) -> str:
        return self.path

    def get_cachedir(self) -> str:
        return self.cachedir


def test_no_fixed_appliance_when_told_not_or_when_there_is_no_supermin_appliance(tmp_path, monkeypatch):
    supermin = tmp_path / "guestfs"
    (supermin / "supermin.d").mkdir(parents=True)
    monkeypatch.setenv("WORKBENCH_APPLIANCE_PVH", "0")
    assert pvh.fixed_appliance(_Handle(str(supermin), str(tmp_path))) is None
    monkeypatch.delenv("WORKBENCH_APPLIANCE_PVH")
    monkeypatch.setenv("LIBGUESTFS_PATH", str(supermin))  # the operator's own appliance is left alone
    assert pvh.fixed_appliance(_Handle(str(supermin), str(tmp_path))) is None
    monkeypatch.delenv("LIBGUESTFS_PATH")
    assert pvh.fixed_appliance(_Handle(str(tmp_path / "fixed"), str(tmp_path))) is None  # no supermin.d
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # the cache directory cannot be made under a file: launched as usual
    assert pvh.fixed_appliance(_Handle(str(supermin), str(blocked))) is None
    assert not list(tmp_path.glob(f"**/{pvh.PVH_PREFIX}*"))
