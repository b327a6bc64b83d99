"""Installed packages from an rpm database, read on the host from the pulled files.

Two storage formats: sqlite (rpm >= 4.16: RHEL 9, Fedora 33+) and Berkeley DB
hash (Packages: RHEL/CentOS up to 8, older SUSE). Both store the same header
blobs; the tags needed here are name, version, release, epoch, arch and the
source rpm. Everything is bounds-checked: the files come from the image.
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
import time

from workbench.interrupt import deferred
from dataclasses import dataclass
from typing import Iterator

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
WANTED = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_SOURCERPM}
MAX_INDEX = 100_000
MAX_HEADER = 64 << 20
MAX_PACKAGES = 500_000  # more entries than this: the rest is not read, and the database counts as truncated
SQLITE_SECONDS = 20  # a query that takes longer is stopped (a crafted database can loop)


class RpmDbError(ValueError):
    pass


@dataclass(frozen=True)
class RpmHeader:
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str | None
    sourcerpm: str | None

    @property
    def evr(self) -> str:
        e = f"{self.epoch}:" if self.epoch else ""
        return f"{e}{self.version}-{self.release}"


def parse_header(blob: bytes) -> RpmHeader | None:
    """A header blob as stored in the database: il, dl, il index entries, dl data bytes."""
    if len(blob) < 8:
        return None
    il, dl = struct.unpack_from(">II", blob, 0)
    if il > MAX_INDEX or dl > MAX_HEADER or 8 + il * 16 + dl > len(blob):
        return None
    data_start = 8 + il * 16
    data = blob[data_start:data_start + dl]
    values: dict[int, object] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">IIiI", blob, 8 + i * 16)
        if tag not in WANTED or off < 0 or off >= dl:
            continue
        if typ in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING: first string
            end = data.find(b"\0", off)
            if end < 0:
                continue
            values[tag] = data[off:end].decode("utf-8", "replace")
        elif typ == 4 and off + 4 <= dl:  # INT32
            values[tag] = struct.unpack_from(">i", data, off)[0]
    name, version, release = values.get(TAG_NAME), values.get(TAG_VERSION), values.get(TAG_RELEASE)
    if not (isinstance(name, str) and isinstance(version, str) and isinstance(release, str)):
        return None
    epoch = values.get(TAG_EPOCH)
    return RpmHeader(name, version, release, epoch if isinstance(epoch, int) else None,
                     values.get(TAG_ARCH) if isinstance(values.get(TAG_ARCH), str) else None,
                     values.get(TAG_SOURCERPM) if isinstance(values.get(TAG_SOURCERPM), str) else None)


def read_sqlite(data: bytes, wal: bytes | None = None) -> list[RpmHeader]:
    """rpmdb.sqlite: table Packages(hnum, blob). Opened from a private copy (with its WAL, if any)."""
    with tempfile.TemporaryDirectory(prefix="wb-rpmdb-") as tmp:
        db = f"{tmp}/rpmdb.sqlite"
        with open(db, "wb") as f:
            f.write(data)
        if wal:
            with open(db + "-wal", "wb") as f:
                f.write(wal)
        con = None
        held = deferred()  # ^C and SIGTERM end the query at once (sqlite checks between steps), then are raised
        try:
            held.__enter__()
            con = _open_untrusted(db, lambda: held.got is not None)
            kind = con.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
            if kind is None or kind[0] != "table":
                raise RpmDbError("the sqlite rpm database has no Packages table (it is "
                                 f"{'missing' if kind is None else 'a ' + str(kind[0])[:20]}); it was not read")
            rows = con.execute("SELECT blob FROM Packages LIMIT ?", (MAX_PACKAGES,)).fetchall()
        except sqlite3.Error as e:
            if held.got is None:
                why = "it took too long and was stopped" if "interrupt" in str(e).lower() else str(e)
                raise RpmDbError(f"the sqlite rpm database cannot be read ({why})") from None
        finally:
            if con is not None:
                con.close()
            held.__exit__(None, None, None)
    return [h for (blob,) in rows if isinstance(blob, bytes) and (h := parse_header(blob))]


def _open_untrusted(path: str, stop=None) -> sqlite3.Connection:
    """A private copy of a database from the image, opened so that its schema cannot run anything and no query
    runs for more than SQLITE_SECONDS; stop() returning true (a signal arrived) ends a query at once."""
    con = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    deadline = time.monotonic() + SQLITE_SECONDS
    con.set_progress_handler(lambda: 1 if time.monotonic() > deadline or (stop and stop()) else 0, 10_000)
    for pragma in ("trusted_schema = OFF", "query_only = ON", "cell_size_check = ON", "mmap_size = 0"):
        con.execute(f"PRAGMA {pragma}")
    con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_HEADER + 16)
    con.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 100)
    con.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 16)
    return con


# -- Berkeley DB hash --------------------------------------------------------------------
HASH_MAGIC = 0x061561
P_HASH_UNSORTED, P_OVERFLOW, P_HASH = 2, 7, 13
H_KEYDATA, H_OFFPAGE = 1, 3
PAGE_HEADER = 26


def _bdb_values(data: bytes) -> Iterator[bytes]:
    """Every data item of every key/data pair in a BDB hash file."""
    if len(data) < 512:
        raise RpmDbError("too short for a Berkeley DB file")
    for endian in ("<", ">"):
        if struct.unpack_from(endian + "I", data, 12)[0] == HASH_MAGIC:
            break
    else:
        raise RpmDbError("not a Berkeley DB hash database")
    pagesize = struct.unpack_from(endian + "I", data, 20)[0]
    if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
        raise RpmDbError("implausible Berkeley DB page size")
    npages = len(data) // pagesize
    u16, u32 = endian + "H", endian + "I"

    def page(n):
        return data[n * pagesize:(n + 1) * pagesize]

    def overflow(pgno: int, total: int) -> bytes | None:
        out, seen = bytearray(), set()
        while pgno and len(out) < total:
            if pgno in seen or pgno >= npages:
                return None
            seen.add(pgno)
            p = page(pgno)
            if p[25] != P_OVERFLOW:
                return None
            used = struct.unpack_from(u16, p, 22)[0]
            out += p[PAGE_HEADER:PAGE_HEADER + used]
            pgno = struct.unpack_from(u32, p, 16)[0]
        return bytes(out[:total]) if len(out) >= total else None

    for n in range(1, npages):
        p = page(n)
        if p[25] not in (P_HASH, P_HASH_UNSORTED):
            continue
        entries = struct.unpack_from(u16, p, 20)[0]
        if PAGE_HEADER + 2 * entries > pagesize:
            continue
        offsets = [struct.unpack_from(u16, p, PAGE_HEADER + 2 * i)[0] for i in range(entries)]
        for i in range(1, entries, 2):  # odd items are the data of each pair
            off = offsets[i]
            end = offsets[i - 1] if i > 0 else pagesize
            if not (PAGE_HEADER <= off < pagesize) or end > pagesize or end <= off:
                continue
            kind = p[off]
            if kind == H_KEYDATA:
                yield p[off + 1:end]
            elif kind == H_OFFPAGE and off + 12 <= pagesize:
                pgno, tlen = struct.unpack_from(endian + "II", p, off + 4)
                if tlen <= MAX_HEADER:
                    blob = overflow(pgno, tlen)
                    if blob:
                        yield blob


def read_bdb(data: bytes) -> list[RpmHeader]:
    out = []
    for blob in _bdb_values(data):
        h = parse_header(blob)
        if h:
            out.append(h)
            if len(out) >= MAX_PACKAGES:
                break
    return out
