"""The file names in an initramfs, read on the host as untrusted data (nothing in it is ever run or written).

An initramfs is a sequence of segments, as the kernel unpacks it: uncompressed cpio archives (the early
microcode one first), then usually one compressed stream (gzip, xz, lzma, bzip2, lz4 legacy, zstd) holding
more cpio archives; zero padding may stand between them. Every segment is read in one pass, decompressed in
bounded pieces, with budgets on the input, the output (a decompression bomb stops at MAX_OUTPUT), the number
of entries and the length of names. Only names are kept: enough to tell which kernel modules are in it.
"""

from __future__ import annotations

import bz2
import io
import lzma
import posixpath
import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterator

MAX_INPUT = 512 << 20
MAX_OUTPUT = 2 << 30  # decompressed bytes over all segments
MAX_ENTRIES = 200_000
MAX_NAME = 4096
MAX_SEGMENTS = 32
PIECE = 1 << 16  # compressed bytes fed at a time
OUT_PIECE = 1 << 20  # decompressed bytes taken at a time where the decompressor can be bounded
ZSTD_PIECE = 512  # zstd cannot bound its output per call: feed it little at a time (< ~13 MiB out per call)

MAGICS = [(b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"), (b"\x02\x21\x4c\x18", "lz4"),
          (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x89LZO", "lzo"), (b"\x5d\x00\x00", "lzma")]
CPIO_MAGICS = (b"070701", b"070702", b"070707")


@dataclass
class Initramfs:
    files: list[str] = field(default_factory=list)  # normalised, relative, no ".." escapes
    segments: list[str] = field(default_factory=list)  # "cpio" or a compression name, in order
    problems: list[str] = field(default_factory=list)  # what could not be read (the list may be incomplete)

    @property
    def complete(self) -> bool:
        return not self.problems

    def modules(self) -> set[str]:
        """Kernel module names in it (virtio_blk for .../virtio_blk.ko, .ko.xz, .ko.zst...), '-' as '_'."""
        out = set()
        for f in self.files:
            base = posixpath.basename(f)
            if ".ko" in base:
                out.add(base.split(".ko", 1)[0].replace("-", "_"))
        return out


class _Stop(Exception):
    pass


class _Budget:
    def __init__(self) -> None:
        self.output = 0

    def take(self, n: int) -> None:
        self.output += n
        if self.output > MAX_OUTPUT:
            raise _Stop(f"more than {MAX_OUTPUT >> 20} MiB once decompressed (a decompression bomb?); the rest "
                        "was not read")


def compression_of(head: bytes) -> str | None:
    if head[:6] in CPIO_MAGICS:
        return "cpio"
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return None


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


class _Input:
    """The initramfs as it arrives: read, peek, and give back what a segment did not use."""

    def __init__(self, f) -> None:
        self.f = f
        self.back = bytearray()
        self.total = 0

    def read(self, n: int) -> bytes:
        if not self.back:
            data = self.f.read(n)
        else:
            data = bytes(self.back[:n])
            del self.back[:n]
        self.total += len(data)
        if self.total > MAX_INPUT:
            raise _Stop(f"it is over the {MAX_INPUT >> 20} MiB read")
        return data

    def peek(self, n: int) -> bytes:
        while len(self.back) < n:
            data = self.f.read(n - len(self.back))
            if not data:
                break
            self.back += data
        return bytes(self.back[:n])

    def unread(self, data: bytes) -> None:
        self.back[:0] = data
        self.total -= len(data)


def _bounded(d, src: _Input, budget: _Budget, kind: str) -> Iterator[bytes]:
    """Pieces of at most OUT_PIECE bytes from a decompressor that can bound its output (gzip, xz, lzma, bzip2)."""
    while not d.eof:
        chunk = b""
        if d.needs_input:
            chunk = src.read(PIECE)
            if not chunk:
                raise _Stop(f"the {kind} stream ends early (truncated)")
        out = d.decompress(chunk, OUT_PIECE)
        if out:
            budget.take(len(out))
            yield out
    src.unread(d.unused_data)


def _zstd(src: _Input, budget: _Budget) -> Iterator[bytes]:
    try:
        import zstandard
    except ImportError:
        raise _Stop("zstd compression cannot be read here (the zstandard module is missing)") from None
    d = zstandard.ZstdDecompressor().decompressobj()
    try:
        while True:
            chunk = src.read(ZSTD_PIECE)
            if not chunk:
                raise _Stop("the zstd stream ends early (truncated)")
            out = d.decompress(chunk)
            if out:
                budget.take(len(out))
                yield out
            if d.eof:
                src.unread(d.unused_data)
                return
    except zstandard.ZstdError as e:
        raise _Stop(f"the zstd stream is damaged ({e})") from None


def _lz4(src: _Input, budget: _Budget) -> Iterator[bytes]:
    """The kernel's lz4: the legacy format, blocks of at most 8 MiB each behind a size word."""
    try:
        import lz4.block
    except ImportError:
        raise _Stop("lz4 compression cannot be read here (the lz4 module is missing)") from None
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
            raise _Stop("the lz4 stream is damaged (an implausible block size)")
        block = src.read(size)
        if len(block) < size:
            raise _Stop("the lz4 stream ends early (truncated)")
        try:
            out = lz4.block.decompress(block, uncompressed_size=8 << 20)
        except lz4.block.LZ4BlockError as e:
            raise _Stop(f"the lz4 stream is damaged ({e})") from None
        budget.take(len(out))
        yield out


def _decompress(kind: str, src: _Input, budget: _Budget) -> Iterator[bytes]:
    """Decompressed pieces of the stream at the start of src; what follows it is left in src."""
    if kind == "gzip":
        return _bounded(_Gzip(), src, budget, kind)
    if kind in ("xz", "lzma"):
        fmt = lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE
        return _bounded(lzma.LZMADecompressor(format=fmt), src, budget, kind)
    if kind == "bzip2":
        return _bounded(bz2.BZ2Decompressor(), src, budget, kind)
    if kind == "zstd":
        return _zstd(src, budget)
    if kind == "lz4":
        return _lz4(src, budget)
    raise _Stop(f"{kind} compression is not read by the workbench")


class _Reader:
    """cpio parsing over a stream of pieces: names kept, file data skipped."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces = pieces
        self.buf = bytearray()
        self.pos = 0  # bytes consumed so far (for the 4-byte alignment)

    def _fill(self, n: int) -> bool:
        while len(self.buf) < n:
            piece = next(self.pieces, None)
            if piece is None:
                return False
            self.buf += piece
        return True

    def read(self, n: int) -> bytes | None:
        if not self._fill(n):
            return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        self.pos += n
        return out

    def skip(self, n: int) -> bool:
        while n > 0:
            if not self.buf and not self._fill(1):
                return False
            k = min(n, len(self.buf))
            del self.buf[:k]
            self.pos += k
            n -= k
        return True

    def align(self) -> bool:
        return self.skip(-self.pos % 4)

    def skip_zeros(self) -> bool:
        """Past zero padding; False at the end of the stream."""
        while self._fill(1):
            if self.buf[0] != 0:
                return True
            self.skip(1)
        return False


TRUNCATED = "a cpio archive ends early (truncated)"


def _entry(reader: _Reader) -> str | None:
    """One cpio entry (its data skipped): its name, made safe (no climbing above the root with ..)."""
    magic = reader.read(6)
    if magic == b"070707":  # the old portable format: octal fields, no alignment
        rest = reader.read(70)
        if rest is None:
            raise _Stop(TRUNCATED)
        try:
            namesize, filesize = int(rest[53:59], 8), int(rest[59:70], 8)
        except ValueError:
            raise _Stop("a cpio header is damaged") from None
        if namesize > MAX_NAME:
            raise _Stop("a cpio entry has an implausibly long name")
        raw = reader.read(namesize)
        if raw is None or not reader.skip(filesize):
            raise _Stop(TRUNCATED)
    elif magic in CPIO_MAGICS:
        rest = reader.read(104)
        if rest is None:
            raise _Stop(TRUNCATED)
        try:
            filesize, namesize = int(rest[48:56], 16), int(rest[88:96], 16)
        except ValueError:
            raise _Stop("a cpio header is damaged") from None
        if namesize > MAX_NAME:
            raise _Stop("a cpio entry has an implausibly long name")
        raw = reader.read(namesize)
        if raw is None or not reader.align() or not reader.skip(filesize) or not reader.align():
            raise _Stop(TRUNCATED)
    else:
        raise _Stop(TRUNCATED if magic is None or len(magic) < 6 else "a segment is not a cpio archive")
    name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    return posixpath.normpath("/" + name).lstrip("/") or None


def _archives(reader: _Reader, out: Initramfs, until_trailer: bool) -> None:
    """cpio archives from the reader: one (until its trailer), or all of them until the stream ends."""
    while True:
        if not until_trailer and not reader.skip_zeros():
            return
        name = _entry(reader)
        if name == "TRAILER!!!":
            if until_trailer:
                return
            continue
        if name:
            out.files.append(name)
            if len(out.files) > MAX_ENTRIES:
                raise _Stop(f"more than {MAX_ENTRIES} entries; the rest was not read")


def read_initramfs(data: bytes) -> Initramfs:
    """The names of every file in an initramfs held in memory (see read_initramfs_stream)."""
    return read_initramfs_stream(io.BytesIO(data))


def read_initramfs_stream(f) -> Initramfs:
    """The names of every file in the initramfs read from f (anything with read(n)), in one pass as it arrives,
    and what could not be read (then the list is partial)."""
    out = Initramfs()
    src = _Input(f)
    budget = _Budget()
    try:
        for _ in range(MAX_SEGMENTS):
            while src.peek(1) == b"\0":  # padding between segments
                src.read(1)
            head = src.peek(8)
            if not head:
                return out
            kind = compression_of(head)
            if kind is None:
                raise _Stop(f"unknown data at byte {src.total} (neither cpio nor a compression the kernel reads)")
            out.segments.append(kind)
            if kind == "cpio":
                reader = _Reader(iter(lambda: src.read(PIECE), b""))
                _archives(reader, out, until_trailer=True)
                src.unread(bytes(reader.buf))  # what the reader took beyond its trailer belongs to the next segment
                continue
            _archives(_Reader(_decompress(kind, src, budget)), out, until_trailer=False)
        out.problems.append(f"more than {MAX_SEGMENTS} segments; the rest was not read")
    except _Stop as e:
        out.problems.append(str(e))
    except (lzma.LZMAError, OSError, zlib.error, EOFError, ValueError) as e:
        out.problems.append(f"it is damaged ({e})")
    return out
