"""`workbench export`: the image converted for upload, verified, with the checksums OSS and the operator compare.

qemu-img converts (sparse; qcow2 optionally compressed) into a hidden partial file beside OUT; the partial
file is opened again by the preflight (format stated, virtual size, partition table) and must be the source's
disk; then one read of it gives the SHA-256 (written as OUT.sha256), the MD5 in the form OSS compares
(Content-MD5: base64 of the binary digest) and the CRC-64/ECMA that OSS stores for every object as
x-oss-hash-crc64ecma, multipart uploads included (written as OUT.crc64). Only then is it renamed to OUT. ^C or
SIGTERM at any point: qemu-img is stopped, and no OUT and no partial file are left.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import Callable

import fastcrc

from workbench.errors import UsageError, WorkbenchError
from workbench.image.preflight import ImageFacts, preflight
from workbench.interrupt import deferred
from workbench.staging import FORMAT_OPTIONS, Staged, check_output, write_text

SCHEMA = "workbench.export/1"
FORMATS = {"qcow2": "qcow2", "raw": "raw", "vhd": "vpc"}  # --output-format: qemu-img's name
SUFFIXES = {".qcow2": "qcow2", ".raw": "raw", ".img": "raw", ".vhd": "vhd"}  # OUT's suffix: --output-format
CRC_SUFFIX = ".crc64"
STAT_CRC = "sed -n 's/^X-Oss-Hash-Crc64ecma *: //p'"  # the object's CRC-64 from ossutil stat's lines
CHUNK = 4 << 20
PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


class ExportError(WorkbenchError):
    """The conversion or its verification failed; nothing was left behind."""

    title = "The image could not be exported"


@dataclass
class ExportResult:
    output: str
    format: str  # qcow2, raw, vhd
    virtual_size: int
    size: int  # bytes of the file written
    sha256: str
    content_md5: str  # base64 of the binary MD5, as OSS's Content-MD5
    sha256_file: str
    crc64: int = 0  # CRC-64/ECMA (the XZ variant), what OSS reports as x-oss-hash-crc64ecma
    crc64_file: str = ""

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "output": self.output, "format": self.format, "virtual_size": self.virtual_size,
                "size": self.size, "sha256": self.sha256, "content_md5": self.content_md5,
                "sha256_file": self.sha256_file, "crc64ecma": str(self.crc64), "crc64_file": self.crc64_file}

    def lines(self) -> list[str]:
        """The text summary: what was written and verified, and how to compare the upload."""
        from workbench.text import printable

        url = f"oss://BUCKET/{os.path.basename(self.output)}"
        return [f"{printable(self.output, 2000)}: {self.format}, {self.virtual_size / (1 << 30):.1f} GiB virtual, "
                f"{self.size >> 20} MiB written, verified (format, size, partition table)",
                f"sha256 {self.sha256} (in {printable(self.sha256_file, 2000)})",
                f"Content-MD5 {self.content_md5} (what OSS compares on a single-part upload)",
                f"CRC-64/ECMA {self.crc64} (in {printable(self.crc64_file, 2000)}; OSS's x-oss-hash-crc64ecma, kept "
                "for multipart uploads too)",
                "after the upload, compare it with the object's (your bucket for BUCKET, your key if not OUT's name):",
                crc_check(url, str(self.crc64))]


def crc_check(url: str, local: str) -> str:
    """The shell line that compares the uploaded object's CRC-64 (ossutil stat) with local: a number, or a command
    substitution that prints one."""
    return (f'test "$(ossutil stat {shlex.quote(url)} | {STAT_CRC})" = {local} '
            '&& echo "CRC-64 matches" || echo "CRC-64 DIFFERS"')


def needed_bytes(facts: ImageFacts, fmt: str) -> int:
    """About how many bytes the output takes (qemu-img measure; the allocated data for vhd)."""
    target = "raw" if fmt == "vpc" else fmt
    proc = subprocess.run(["qemu-img", "measure", "--output=json", "-f", facts.format, "-O", target,
                           os.path.abspath(facts.path)], capture_output=True, text=True, timeout=120)
    if proc.returncode == 0:
        try:
            return int(json.loads(proc.stdout)["required"])
        except (ValueError, KeyError, TypeError):
            pass
    return facts.virtual_size


def table_of(facts: ImageFacts) -> list[tuple]:
    """What must survive a conversion: the partition table, each partition's place, type and file system."""
    return [(facts.partition_table, facts.disk_id)] + [
        (p.number, p.start, p.size, p.type.upper(), p.fs.kind if p.fs else None, p.fs.uuid if p.fs else None)
        for p in facts.partitions]


def infer_format(output: str, given: str | None = None) -> str:
    """The output format: --output-format if given, else OUT's suffix, else qcow2. A suffix that names another
    format than the one given is refused (UsageError): the file would lie about its content."""
    suffix = os.path.splitext(output)[1].lower()
    named = SUFFIXES.get(suffix)
    if given is None:
        return named or "qcow2"
    if named is not None and named != given:
        raise UsageError(f"{output} ends in {suffix} but --output-format is {given}: name it for its format "
                         "(.qcow2, .raw or .img, .vhd) or leave --output-format out")
    return given


def digests(path: str, progress: Callable[[int, int], None] | None = None) -> tuple[str, str, int]:
    """(sha256 hex, Content-MD5 base64, CRC-64/ECMA) of a file, in one read."""
    sha, md5, crc = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    total, done = os.path.getsize(path), 0
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            sha.update(block)
            md5.update(block)
            crc = fastcrc.crc64.xz(block, crc) if done else fastcrc.crc64.xz(block)
            done += len(block)
            if progress:
                progress(done, total)
    return sha.hexdigest(), base64.b64encode(md5.digest()).decode(), crc


def recorded_crc64(image: str) -> int | None:
    """The CRC-64 that export recorded beside IMAGE (IMAGE.crc64), when it is there, names IMAGE and is not older
    than it; None otherwise."""
    sidecar = image + CRC_SUFFIX
    try:
        if not os.path.isfile(sidecar) or os.path.getsize(sidecar) > 4096 or \
                os.path.getmtime(sidecar) < os.path.getmtime(image):
            return None
        with open(sidecar, encoding="utf-8") as f:
            value, _, name = f.readline().rstrip("\n").partition("  ")
    except (OSError, UnicodeDecodeError):
        return None
    if name != os.path.basename(image) or not value.isascii() or not value.isdigit() or int(value) >= 1 << 64:
        return None
    return int(value)


def _convert(facts: ImageFacts, dst: str, fmt: str, compress: bool,
             progress: Callable[[str, int, int], None] | None) -> None:
    options = list(FORMAT_OPTIONS.get(fmt, []))
    cmd = ["qemu-img", "convert", "-p", "-f", facts.format, "-O", fmt, *(["-c"] if compress else []), *options,
           os.path.abspath(facts.path), dst]
    proc = None
    try:
        with deferred():  # a ^C or SIGTERM while qemu-img starts waits until it is known here, then stops it
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        buf = b""
        while True:
            chunk = proc.stdout.read1(4096) if hasattr(proc.stdout, "read1") else proc.stdout.read(4096)
            if not chunk:
                break
            buf = (buf + chunk)[-256:]
            found = PROGRESS.findall(buf)
            if found and progress:
                progress("Converting", int(float(found[-1]) / 100 * facts.virtual_size), facts.virtual_size)
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.wait()
    except BaseException:
        if proc is not None:
            proc.kill()
            proc.wait()
        raise
    if proc.returncode != 0:
        last = err.strip().splitlines()[-1] if err.strip() else f"qemu-img exited {proc.returncode}"
        raise ExportError(f"converting the image failed: {last}")


def export(image: str, output: str, out_format: str | None = None, force: bool = False, compress: bool = False,
           progress: Callable[[str, int, int], None] | None = None, allow_backing: bool = False) -> ExportResult:
    """Convert IMAGE to OUT (qcow2, raw or vhd: out_format, else OUT's suffix), verify it, and write OUT.sha256
    and OUT.crc64. progress(phase, done, total)."""
    if out_format is not None and out_format not in FORMATS:
        raise UsageError(f"unknown output format {out_format!r}: use one of {', '.join(FORMATS)}")
    if not output.isprintable():  # OUT's name goes into OUT.sha256 and OUT.crc64 lines, and onto the terminal
        raise UsageError(f"{output!r} holds a character that does not print (a newline, a tab...): name it "
                         "without")
    out_format = infer_format(output, out_format)
    if compress and out_format != "qcow2":
        raise UsageError("--compress works only with --output-format qcow2")
    facts = preflight(image, allow_backing)
    fmt = FORMATS[out_format]
    sums, crcs = output + ".sha256", output + CRC_SUFFIX
    needed = needed_bytes(facts, fmt)
    with Staged(output, force, needed, source=image) as staged:
        check_output(sums, force)  # refuse an existing OUT.sha256 or OUT.crc64 before writing anything
        check_output(crcs, force)
        _convert(facts, staged.path, fmt, compress, progress)
        if progress:
            progress("Verifying", 0, 1)
        try:
            copy = preflight(staged.path)
        except WorkbenchError as e:
            raise ExportError(f"the converted image could not be read back: {e}") from None
        if copy.format != fmt:
            raise ExportError(f"the converted image reads back as {copy.format}, not {fmt}")
        if copy.virtual_size != facts.virtual_size:
            raise ExportError(f"the converted image is {copy.virtual_size} bytes, the source {facts.virtual_size}")
        if table_of(copy) != table_of(facts):
            raise ExportError("the converted image's partition table differs from the source's")
        sha, md5, crc = digests(staged.path, (lambda d, t: progress("Checksums", d, t)) if progress else None)
        size = os.path.getsize(staged.path)
        name = os.path.basename(output)
        with deferred():  # OUT.sha256, OUT.crc64 and OUT appear together, or none does
            written: list[str] = []
            try:
                for path, line in ((sums, f"{sha}  {name}\n"), (crcs, f"{crc}  {name}\n")):
                    write_text(path, line, force)
                    written.append(path)
                staged.commit()
            except BaseException:
                for path in written:
                    os.unlink(path)
                raise
    return ExportResult(output, out_format, facts.virtual_size, size, sha, md5, sums, crc, crcs)
