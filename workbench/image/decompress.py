"""The compressions the kernel reads an initramfs in, decompressed in bounded pieces as the bytes arrive.

Budgets: the output over all streams (a decompression bomb stops at MAX_OUTPUT), the memory a decompressor may
take (the dictionary or window a stream asks for is checked before anything is allocated: liblzma's memlimit,
zstd's max_window_size, the .lzma header read first) and the time. A stream that goes over one raises Stop with
the sentence that says what was not read.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import time
import zlib
from typing import Iterator

MAX_OUTPUT = 2 << 30  # decompressed bytes over all segments
MAX_DICT = 64 << 20  # an lzma/xz dictionary (xz -9 and lzma -9 use 64 MiB); a bigger one is not decompressed
MAX_WINDOW = 128 << 20  # a zstd window (zstd --long uses 128 MiB)
MAX_SECONDS = 30.0
PIECE = 1 << 16  # compressed bytes fed at a time
OUT_PIECE = 1 << 20  # decompressed bytes taken at a time where the decompressor can be bounded
ZSTD_PIECE = 512  # zstd cannot bound its output per call: feed it little at a time (< ~13 MiB out per call)


class Stop(Exception):
    """What was not read, as a sentence."""


class Budget:
    """What all the streams of one initramfs may take: output bytes and time."""

    def __init__(self) -> None:
        self.output = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def take(self, n: int) -> None:
        self.output += n
        if self.output > MAX_OUTPUT:
            raise Stop(f"more than {MAX_OUTPUT >> 20} MiB once decompressed (a decompression bomb?); the rest "
                       "was not read")
        self.in_time()

    def in_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise Stop(f"reading it took more than {MAX_SECONDS:.0f} s; the rest was not read")


class _Gzip:
    """zlib with the interface of lzma's decompressors: bounded output, needs_input, eof, unused_data."""

    def __init__(self) -> None:
        self.d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self.tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self.d.decompress(self.tail + data, max_length)
        self.tail = self.d.unconsumed_tail
        return out

    needs_input = property(lambda self: not self.tail)
    eof = property(lambda self: self.d.eof)
    unused_data = property(lambda self: self.d.unused_data)


def _bounded(d, src, budget: Budget, kind: str) -> Iterator[bytes]:
    """Pieces of at most OUT_PIECE bytes from a decompressor that can bound its output (gzip, xz, lzma, bzip2)."""
    while not d.eof:
        chunk = b""
        if d.needs_input:
            chunk = src.read(PIECE)
            if not chunk:
                raise Stop(f"the {kind} stream ends early (truncated)")
        try:
            out = d.decompress(chunk, OUT_PIECE)
        except lzma.LZMAError as e:
            if "memory" in str(e).lower():  # liblzma checks its memlimit before it allocates
                raise Stop(f"the {kind} stream asks for more than {MAX_DICT >> 20} MiB of dictionary; it was not "
                           "decompressed") from None
            raise
        if out:
            budget.take(len(out))
            yield out
    src.unread(d.unused_data)


def _zstd(src, budget: Budget) -> Iterator[bytes]:
    try:
        import zstandard
    except ImportError:
        raise Stop("zstd compression cannot be read here (the zstandard module is missing)") from None
    # the window a frame asks for is checked against max_window_size before anything is allocated
    d = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).decompressobj()
    try:
        while True:
            chunk = src.read(ZSTD_PIECE)
            if not chunk:
                raise Stop("the zstd stream ends early (truncated)")
            out = d.decompress(chunk)
            if out:
                budget.take(len(out))
                yield out
            if d.eof:
                src.unread(d.unused_data)
                return
    except zstandard.ZstdError as e:
        if "memory" in str(e).lower() or "window" in str(e).lower():
            raise Stop(f"the zstd stream asks for a window over {MAX_WINDOW >> 20} MiB; it was not decompressed") \
                from None
        raise Stop(f"the zstd stream is damaged ({e})") from None


def _lz4(src, budget: Budget) -> Iterator[bytes]:
    """The kernel's lz4: the legacy format, blocks of at most 8 MiB each behind a size word."""
    try:
        import lz4.block
    except ImportError:
        raise Stop("lz4 compression cannot be read here (the lz4 module is missing)") from None
    src.read(4)
    while True:
        word = src.read(4)
        if len(word) < 4:
            src.unread(word)
            return
        size = struct.unpack("<I", word)[0]
        if size == 0x184C2102 or size == 0:  # a next stream, or padding: this one is over
            src.unread(word)
            return
        if size > 16 << 20:
            raise Stop("the lz4 stream is damaged (an implausible block size)")
        block = src.read(size)
        if len(block) < size:
            raise Stop("the lz4 stream ends early (truncated)")
        try:
            out = lz4.block.decompress(block, uncompressed_size=8 << 20)
        except lz4.block.LZ4BlockError as e:
            raise Stop(f"the lz4 stream is damaged ({e})") from None
        budget.take(len(out))
        yield out


def decompress(kind: str, src, budget: Budget) -> Iterator[bytes]:
    """Decompressed pieces of the stream at the start of src; what follows it is left in src."""
    if kind == "gzip":
        return _bounded(_Gzip(), src, budget, kind)
    if kind in ("xz", "lzma"):
        if kind == "lzma":  # the .lzma header: properties, then the dictionary size (little-endian)
            size = struct.unpack("<I", src.peek(5)[1:5].ljust(4, b"\0"))[0]
            if size > MAX_DICT:
                raise Stop(f"the lzma stream asks for a {size >> 20} MiB dictionary, over the {MAX_DICT >> 20} MiB "
                           "read; it was not decompressed")
        fmt = lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE
        return _bounded(lzma.LZMADecompressor(format=fmt, memlimit=MAX_DICT + (1 << 20)), src, budget, kind)
    if kind == "bzip2":
        return _bounded(bz2.BZ2Decompressor(), src, budget, kind)
    if kind == "zstd":
        return _zstd(src, budget)
    if kind == "lz4":
        return _lz4(src, budget)
    raise Stop(f"{kind} compression is not read by the workbench")
