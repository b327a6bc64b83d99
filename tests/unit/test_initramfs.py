"""The initramfs reader on archives built here: every compression the kernel reads, an early microcode cpio in
front, truncation, a decompression bomb, names that try to climb out."""

import bz2
import gzip
import lzma
import struct
import time

import pytest

from tests.fixtures.bombs import cpio, lzma_alone
from workbench.image import decompress, initramfs
from workbench.image.initramfs import read_initramfs

MODULES = ["usr/lib/modules/6.1.0-9-amd64/kernel/drivers/block/virtio_blk.ko.xz",
           "usr/lib/modules/6.1.0-9-amd64/kernel/drivers/virtio/virtio_pci.ko",
           "usr/lib/modules/6.1.0-9-amd64/kernel/drivers/nvme/host/nvme-core.ko.zst", "init", "bin/sh"]


def lz4_legacy(data: bytes) -> bytes:
    import lz4.block

    out = bytearray(struct.pack("<I", 0x184C2102))
    for i in range(0, len(data), 8 << 20):
        block = lz4.block.compress(data[i:i + (8 << 20)], store_size=False)
        out += struct.pack("<I", len(block)) + block
    return bytes(out)


def zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


COMPRESS = {"gzip": gzip.compress, "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
            "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE), "bzip2": bz2.compress,
            "zstd": zstd, "lz4": lz4_legacy}
EARLY = cpio([("kernel/x86/microcode/GenuineIntel.bin", b"\x01" * 1000)])
MAIN = cpio([(m, b"payload " * 300) for m in MODULES])


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_early_cpio_then_each_compression(kind):
    image = EARLY + b"\0" * 512 + COMPRESS[kind](MAIN)
    got = read_initramfs(image)
    assert got.complete, got.problems
    assert got.segments == ["cpio", kind]
    assert got.files == ["kernel/x86/microcode/GenuineIntel.bin"] + MODULES
    assert {"virtio_blk", "virtio_pci", "nvme_core"} <= got.modules()


def test_several_archives_inside_one_stream_and_plain_cpio():
    got = read_initramfs(gzip.compress(MAIN + cpio([("etc/extra", b"x")])))
    assert got.complete and got.files[-1] == "etc/extra"
    assert read_initramfs(MAIN).files == MODULES


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_a_truncated_archive_says_so(kind):
    whole = COMPRESS[kind](MAIN)
    got = read_initramfs(EARLY + whole[: len(whole) * 2 // 3])
    assert not got.complete and ("truncated" in got.problems[0] or "damaged" in got.problems[0]), got.problems
    assert got.files[0] == "kernel/x86/microcode/GenuineIntel.bin"  # what was read before the cut is kept


def test_a_decompression_bomb_stops_at_its_budget(monkeypatch):
    monkeypatch.setattr(decompress, "MAX_OUTPUT", 32 << 20)
    bomb = zstd(cpio([("big", b"\0" * (256 << 20))]))
    assert len(bomb) < 1 << 20
    got = read_initramfs(bomb)
    assert not got.complete and "decompression bomb" in got.problems[0]


def test_names_cannot_climb_out_and_garbage_is_named():
    got = read_initramfs(gzip.compress(cpio([("../../../etc/passwd", b"x"), ("./a/../../b", b"y")])))
    assert got.files == ["etc/passwd", "b"]
    got = read_initramfs(b"MZ\x90\x00 not an initramfs")
    assert not got.complete and "neither cpio nor a compression" in got.problems[0]
    assert read_initramfs(b"").files == [] and read_initramfs(b"").complete


def test_an_lzma_dictionary_over_the_limit_is_refused_before_it_is_allocated():
    bomb = lzma_alone([cpio([("big", b"\0" * (64 << 20))])], 0x80000000)  # 2 GiB asked for, in ~20 KB
    assert len(bomb) < 1 << 20
    t = time.monotonic()
    got = read_initramfs(EARLY + bomb)
    assert time.monotonic() - t < 2
    assert got.segments == ["cpio", "lzma"] and got.files == ["kernel/x86/microcode/GenuineIntel.bin"]
    assert "2048 MiB dictionary" in got.problems[0], got.problems
    ok = read_initramfs(lzma_alone([MAIN], 8 << 20))  # what lzma -6 uses: read as before
    assert ok.complete and ok.files == MODULES


def test_an_xz_dictionary_and_a_zstd_window_over_their_limits_are_refused(monkeypatch):
    import zstandard

    monkeypatch.setattr(decompress, "MAX_DICT", 1 << 20)
    monkeypatch.setattr(decompress, "MAX_WINDOW", 1 << 20)
    data = cpio([("a.ko", bytes(range(256)) * (16 << 12))])  # 4 MiB
    xz = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=6)  # an 8 MiB dictionary
    got = read_initramfs(xz)
    assert not got.complete and "dictionary" in got.problems[0], got.problems
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=24, write_content_size=False)
    zs = zstandard.ZstdCompressor(compression_params=params).compress(data)  # a 16 MiB window
    got = read_initramfs(zs)
    assert not got.complete and "window" in got.problems[0], got.problems


def test_zero_padding_is_skipped_in_bulk_and_a_run_has_a_limit(monkeypatch):
    extra = cpio([("etc/extra", b"x")])
    t = time.monotonic()
    got = read_initramfs(EARLY + b"\0" * (40 << 20) + gzip.compress(MAIN + b"\0" * (40 << 20) + extra))
    assert time.monotonic() - t < 10  # one byte at a time took about a minute
    assert got.complete and got.files[-1] == "etc/extra", got.problems
    monkeypatch.setattr(initramfs, "MAX_PADDING", 1 << 20)
    for image in (EARLY + b"\0" * (2 << 20) + MAIN, gzip.compress(MAIN + b"\0" * (2 << 20) + extra)):
        got = read_initramfs(image)
        assert not got.complete and "zero padding" in got.problems[0], got.problems


def test_entries_count_trailers_too_and_time_is_bounded(monkeypatch):
    monkeypatch.setattr(initramfs, "MAX_ENTRIES", 1000)
    got = read_initramfs(gzip.compress(cpio([]) * 2000))  # nothing but empty archives
    assert not got.complete and "more than 1000 entries" in got.problems[0], got.problems
    monkeypatch.setattr(decompress, "MAX_SECONDS", 0.0)
    got = read_initramfs(gzip.compress(MAIN))
    assert not got.complete and "took more than" in got.problems[0], got.problems


@pytest.mark.parametrize("field", [b"-0000001", b" +00001f", b"0000_01f"])
def test_header_numbers_are_hex_digits_only(field):
    good = cpio([("a", b"xyz")])
    bad = good[:6 + 48] + field + good[6 + 56:]  # c_filesize: int() would take a sign, spaces or underscores
    got = read_initramfs(bad)
    assert not got.complete and "damaged" in got.problems[0], got.problems
