"""qemu-img info and byte reads of any image format, host side, no appliance.

Raw images are read with pread. Other formats go through `qemu-io -r`, one
process per batch of reads, so a qcow2/vhd/vmdk is never converted: only the
sectors the partition table and superblock sniffing need are decoded.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from dataclasses import dataclass, field

from workbench.errors import ImageError

QEMU_TIMEOUT = 30
MAX_READ = 4 << 20  # one batch never asks qemu-io for more than this


@dataclass(frozen=True)
class QemuInfo:
    format: str
    virtual_size: int
    actual_size: int | None
    encrypted: bool = False
    corrupt: bool = False
    dirty: bool = False
    format_detail: dict = field(default_factory=dict)


def _clean_qemu_message(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    msg = lines[0] if lines else "unknown error"
    msg = re.sub(r"^qemu-(img|io): ", "", msg)
    msg = re.sub(r"^(Could not open|can't open device) '?[^:']*'?: ", "", msg)
    return msg.rstrip(".")


def check_path(path: str) -> os.stat_result:
    """The checks that need no qemu: exists, a file or block device, readable, not empty."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied (cannot read the image)") from None
    except OSError as e:
        raise ImageError(f"{path}: cannot be opened ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{path} is a directory, not a disk image")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise ImageError(f"{path} is not a regular file or block device")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: permission denied (cannot read the image)")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes)")
    return st


def qemu_img_info(path: str, fmt: str, chain: bool = False) -> QemuInfo:
    """`qemu-img info` with the format stated (found from the headers, never probed by qemu), following the
    backing chain only when it was vetted (chain=True); every failure explained in one sentence."""
    cmd = ["qemu-img", "info", "--output=json", "-f", fmt] + (["--backing-chain"] if chain else [])
    try:
        proc = subprocess.run(cmd + [os.path.abspath(path)], capture_output=True, text=True, timeout=QEMU_TIMEOUT)
    except FileNotFoundError:
        raise ImageError("qemu-img is not installed (install qemu-utils, or run `make run`)") from None
    except subprocess.TimeoutExpired:
        raise ImageError(f"{path}: qemu-img info did not answer within {QEMU_TIMEOUT} s") from None
    if proc.returncode != 0:
        err = proc.stderr
        if "lock" in err and ("Failed to get" in err or "another process" in err):
            raise ImageError(f"{path} is in use by another process (a running VM holds its lock); "
                             "shut the VM down first")
        if "Permission denied" in err:
            raise ImageError(f"{path}: permission denied (cannot read the image)")
        raise ImageError(f"{path} cannot be opened as a disk image: {_clean_qemu_message(err)}")
    try:
        docs = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise ImageError(f"{path}: qemu-img info printed something that is not JSON") from None
    top = docs[0] if isinstance(docs, list) else docs
    detail = (top.get("format-specific") or {}).get("data") or {}
    encrypted = bool(top.get("encrypted")) or bool(detail.get("encrypt"))
    return QemuInfo(
        format=str(top.get("format", "raw")),
        virtual_size=int(top.get("virtual-size", 0)),
        actual_size=top.get("actual-size"),
        encrypted=encrypted,
        corrupt=bool(detail.get("corrupt", False)),
        dirty=bool(top.get("dirty-flag", False)),
        format_detail={k: v for k, v in detail.items() if isinstance(v, (str, int, bool))},
    )


CHECKABLE_FORMATS = {"qcow2", "qed", "vdi", "vhdx", "vmdk", "parallels"}


def qemu_img_check(path: str, fmt: str) -> int:
    """Metadata consistency (milliseconds: it walks tables, not data). Returns leaked clusters.

    A truncated or corrupt image raises ImageError: what the guest would read from it is not the disk.
    """
    if fmt not in CHECKABLE_FORMATS:
        return 0
    try:
        proc = subprocess.run(["qemu-img", "check", "--output=json", "-f", fmt, os.path.abspath(path)],
                              capture_output=True, text=True, timeout=QEMU_TIMEOUT)
    except subprocess.TimeoutExpired:
        return 0  # a huge image: too slow to check here, the appliance will still read it
    if proc.returncode in (0, 3, 63):
        try:
            return int(json.loads(proc.stdout).get("leaks", 0)) if proc.returncode == 3 else 0
        except (json.JSONDecodeError, AttributeError):
            return 0
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = {}
    truncated = "exceeding the end of the file" in proc.stderr
    corruptions = report.get("corruptions", 0)
    if truncated:
        raise ImageError(f"{path} is truncated: its {fmt} tables point past the end of the file "
                         "(was the copy or download cut short?)")
    if corruptions:
        raise ImageError(f"{path} is damaged: qemu-img check found {corruptions} corruptions "
                         f"(try qemu-img check -r all on a copy)")
    raise ImageError(f"{path} cannot be checked as {fmt}: {_clean_qemu_message(proc.stderr or proc.stdout)}")


class ByteReader:
    """Reads byte ranges of the guest-visible disk, whatever the container format."""

    def __init__(self, path: str, fmt: str, size: int):
        self.path = path
        self.format = fmt
        self.size = size
        self._cache: list[tuple[int, bytes]] = []

    def read(self, offset: int, length: int) -> bytes:
        return self.read_many([(offset, length)])[0]

    def read_many(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Each range clamped to the disk; ranges past the end read as b""."""
        clamped = []
        for off, length in ranges:
            off = max(0, off)
            length = max(0, min(length, self.size - off))
            clamped.append((off, length))
        cached = [self._from_cache(off, n) for off, n in clamped]
        missing = [r for r, c in zip(clamped, cached) if c is None and r[1]]
        if missing:
            got = self._read_raw(missing) if self.format == "raw" else self._read_qemu_io(missing)
            self._cache.extend((off, data) for (off, _), data in zip(missing, got))
            cached = [self._from_cache(off, n) if c is None else c for (off, n), c in zip(clamped, cached)]
        return [c if c is not None else b"" for c in cached]

    def _from_cache(self, off: int, n: int) -> bytes | None:
        if n == 0:
            return b""
        for start, data in self._cache:
            if start <= off and off + n <= start + len(data):
                return data[off - start: off - start + n]
        return None

    def _read_raw(self, ranges):
        out = []
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as e:
            raise ImageError(f"{self.path}: cannot be read ({e.strerror})") from None
        try:
            for off, n in ranges:
                out.append(os.pread(fd, n, off) if n else b"")
        except OSError as e:
            raise ImageError(f"{self.path}: read failed ({e.strerror})") from None
        finally:
            os.close(fd)
        return out

    def _read_qemu_io(self, ranges):
        wanted = [(o, n) for o, n in ranges if n]
        if sum(n for _, n in wanted) > MAX_READ:
            raise ValueError("read batch too large")
        cmd = ["qemu-io", "-r", "-f", self.format]
        for off, n in wanted:
            cmd += ["-c", f"read -v {off} {n}"]
        cmd.append(os.path.abspath(self.path))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=QEMU_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ImageError(f"{self.path}: reading the image took longer than {QEMU_TIMEOUT} s") from None
        failed = re.search(r"^read failed: (.*)$", proc.stdout + proc.stderr, re.M)
        if proc.returncode != 0 or failed:
            why = failed.group(1) if failed else _clean_qemu_message(proc.stderr)
            raise ImageError(f"{self.path} cannot be read (the {self.format} file is damaged or "
                             f"truncated: {why.rstrip('.')})")
        blocks = _parse_qemu_io_dump(proc.stdout)
        results = iter(blocks)
        out = []
        for off, n in ranges:
            if not n:
                out.append(b"")
                continue
            got = next(results, None)
            if got is None or got[0] != off or len(got[1]) != n:
                raise ImageError(f"{self.path} cannot be read (short read at offset {off})")
            out.append(got[1])
        return out


_DUMP_LINE = re.compile(r"^([0-9a-f]{8,16}):  ")
_DONE_LINE = re.compile(r"^read (\d+)/(\d+) bytes at offset (\d+)")


def _parse_qemu_io_dump(text: str) -> list[tuple[int, bytes]]:
    """qemu-io `read -v` prints up to 16 "xx " groups a line, two spaces, the ASCII column; then a summary."""
    blocks: list[tuple[int, bytes]] = []
    buf = bytearray()
    for line in text.splitlines():
        m = _DUMP_LINE.match(line)
        if m:
            hexpart = line[m.end():].split("  ", 1)[0]
            buf.extend(bytes.fromhex(hexpart.replace(" ", "")[:32]))
            continue
        d = _DONE_LINE.match(line)
        if d:
            blocks.append((int(d.group(3)), bytes(buf[: int(d.group(1))])))
            buf = bytearray()
    return blocks
