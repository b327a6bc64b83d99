"""The file names in an initramfs, read on the host as untrusted data (nothing in it is ever run or written).

An initramfs is a sequence of segments, as the kernel unpacks it: uncompressed cpio archives (the early
microcode one first), then usually one compressed stream (gzip, xz, lzma, bzip2, lz4 legacy, zstd) holding
more cpio archives; zero padding may stand between them. Every segment is read in one pass, decompressed in
bounded pieces, with budgets on the input, the output (a decompression bomb stops at MAX_OUTPUT), the memory a
decompressor may take (the dictionary or window a stream asks for is checked before it is allocated), runs of
zero padding, the number of entries, the length of names and the time. Only names are kept: enough to tell
which kernel modules are in it.
"""

from __future__ import annotations

import io
import lzma
import posixpath
import re
import zlib
from dataclasses import dataclass, field
from typing import Iterator

from workbench.image.decompress import PIECE, Budget, Stop, decompress

MAX_INPUT = 512 << 20
MAX_ENTRIES = 200_000
MAX_NAME = 4096
MAX_SEGMENTS = 32
MAX_PADDING = 64 << 20  # one run of zero padding (the tools pad to 512 bytes or 4 KiB)
MAGICS = [(b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"), (b"\x02\x21\x4c\x18", "lz4"),
          (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x89LZO", "lzo"), (b"\x5d\x00", "lzma")]  # as the kernel tells them
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


def compression_of(head: bytes) -> str | None:
    if head[:6] in CPIO_MAGICS:
        return "cpio"
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return None


class Input:
    """A compressed stream as the decompressors read it (an initramfs as it arrives, a kernel's payload): read,
    peek, and give back what a segment did not use."""

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
            raise Stop(f"it is over the {MAX_INPUT >> 20} MiB read")
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

    def skip_zeros(self, budget: "Budget") -> None:
        """Past a run of zero padding (at most MAX_PADDING bytes), in bulk."""
        run = 0
        while True:
            head = self.peek(PIECE)
            n = _zeros(head)
            if n == 0:
                return
            self.read(n)
            run += n
            if run > MAX_PADDING:
                raise Stop(f"a run of more than {MAX_PADDING >> 20} MiB of zero padding; the rest was not read")
            budget.in_time()


_ZERO = bytes(1 << 20)


def _zeros(data) -> int:
    """How many zero bytes data starts with (whole zero blocks are compared at memcmp speed)."""
    n = 0
    while n < len(data):
        block = data[n:n + len(_ZERO)]
        if block != _ZERO[:len(block)]:
            return n + len(block) - len(block.lstrip(b"\0"))
        n += len(block)
    return n


class _Reader:
    """cpio parsing over a stream of pieces: names kept, file data skipped."""

    def __init__(self, pieces: Iterator[bytes], budget: Budget) -> None:
        self.pieces = pieces
        self.budget = budget
        self.entries = 0  # headers read, trailers too (an endless run of empty archives is a bomb as well)
        self.buf = bytearray()
        self.pos = 0  # bytes consumed so far (for the 4-byte alignment)

    def _fill(self, n: int) -> bool:
        while len(self.buf) < n:
            piece = next(self.pieces, None)
            if piece is None:
                return False
            self.buf += piece
            self.budget.in_time()
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
        """Past zero padding (a run of at most MAX_PADDING bytes), in bulk; False at the end of the stream."""
        run = 0
        while self._fill(1):
            n = _zeros(self.buf)
            if n < len(self.buf):
                self.skip(n)
                return True
            run += n
            self.skip(n)
            if run > MAX_PADDING:
                raise Stop(f"a run of more than {MAX_PADDING >> 20} MiB of zero padding; the rest was not read")
        return False


TRUNCATED = "a cpio archive ends early (truncated)"


_OCTAL = re.compile(rb"[0-7]+")
_HEX = re.compile(rb"[0-9a-fA-F]+")


def _number(field: bytes, pattern: re.Pattern, base: int) -> int:
    """A cpio header field: its digits only (int() would also take signs, spaces and underscores)."""
    if not pattern.fullmatch(field):
        raise Stop("a cpio header is damaged")
    return int(field, base)


def _entry(reader: _Reader) -> str | None:
    """One cpio entry (its data skipped): its name, made safe (no climbing above the root with ..)."""
    magic = reader.read(6)
    if magic is not None and len(magic) == 6:
        reader.entries += 1
        if reader.entries > MAX_ENTRIES:
            raise Stop(f"more than {MAX_ENTRIES} entries; the rest was not read")
    if magic == b"070707":  # the old portable format: octal fields, no alignment
        rest = reader.read(70)
        if rest is None:
            raise Stop(TRUNCATED)
        namesize, filesize = _number(rest[53:59], _OCTAL, 8), _number(rest[59:70], _OCTAL, 8)
        if namesize > MAX_NAME:
            raise Stop("a cpio entry has an implausibly long name")
        raw = reader.read(namesize)
        if raw is None or not reader.skip(filesize):
            raise Stop(TRUNCATED)
    elif magic in CPIO_MAGICS:
        rest = reader.read(104)
        if rest is None:
            raise Stop(TRUNCATED)
        filesize, namesize = _number(rest[48:56], _HEX, 16), _number(rest[88:96], _HEX, 16)
        if namesize > MAX_NAME:
            raise Stop("a cpio entry has an implausibly long name")
        raw = reader.read(namesize)
        if raw is None or not reader.align() or not reader.skip(filesize) or not reader.align():
            raise Stop(TRUNCATED)
    else:
        raise Stop(TRUNCATED if magic is None or len(magic) < 6 else "a segment is not a cpio archive")
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


def read_initramfs(data: bytes) -> Initramfs:
    """The names of every file in an initramfs held in memory (see read_initramfs_stream)."""
    return read_initramfs_stream(io.BytesIO(data))


def read_initramfs_stream(f) -> Initramfs:
    """The names of every file in the initramfs read from f (anything with read(n)), in one pass as it arrives,
    and what could not be read (then the list is partial)."""
    out = Initramfs()
    src = Input(f)
    budget = Budget()
    try:
        for _ in range(MAX_SEGMENTS):
            src.skip_zeros(budget)  # padding between segments
            head = src.peek(8)
            if not head:
                return out
            kind = compression_of(head)
            if kind is None:
                raise Stop(f"unknown data at byte {src.total} (neither cpio nor a compression the kernel reads)")
            out.segments.append(kind)
            if kind == "cpio":
                reader = _Reader(iter(lambda: src.read(PIECE), b""), budget)
                _archives(reader, out, until_trailer=True)
                src.unread(bytes(reader.buf))  # what the reader took beyond its trailer belongs to the next segment
                continue
            _archives(_Reader(decompress(kind, src, budget), budget), out, until_trailer=False)
        out.problems.append(f"more than {MAX_SEGMENTS} segments; the rest was not read")
    except Stop as e:
        out.problems.append(str(e))
    except (lzma.LZMAError, OSError, zlib.error, EOFError, ValueError) as e:
        out.problems.append(f"it is damaged ({e})")
    return out
