"""`workbench export`: the image converted for upload, verified, with the checksums OSS and the operator compare.

qemu-img converts (sparse; qcow2 optionally compressed) into a hidden partial file beside OUT; the partial
file is opened again by the preflight (format stated, virtual size, partition table) and must be the source's
disk; then one read of it gives both the SHA-256 (written as OUT.sha256) and the MD5 in the form OSS compares
(Content-MD5: base64 of the binary digest). Only then is it renamed to OUT. ^C or SIGTERM at any point:
qemu-img is stopped, and no OUT and no partial file are left.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Callable

from workbench.errors import UsageError, WorkbenchError
from workbench.image.preflight import ImageFacts, preflight
from workbench.interrupt import deferred
from workbench.staging import FORMAT_OPTIONS, Staged, check_output, write_text

SCHEMA = "workbench.export/1"
FORMATS = {"qcow2": "qcow2", "raw": "raw", "vhd": "vpc"}  # --output-format: qemu-img's name
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

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "output": self.output, "format": self.format, "virtual_size": self.virtual_size,
                "size": self.size, "sha256": self.sha256, "content_md5": self.content_md5,
                "sha256_file": self.sha256_file}


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


def digests(path: str, progress: Callable[[int, int], None] | None = None) -> tuple[str, str]:
    """(sha256 hex, Content-MD5 base64) of a file, in one read."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    total, done = os.path.getsize(path), 0
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            sha.update(block)
            md5.update(block)
            done += len(block)
            if progress:
                progress(done, total)
    return sha.hexdigest(), base64.b64encode(md5.digest()).decode()


def _convert(facts: ImageFacts, dst: str, fmt: str, compress: bool,
             progress: Callable[[str, int, int], None] | None) -> None:
    options = list(FORMAT_OPTIONS.get(fmt, []))
    cmd = ["qemu-img", "convert", "-p", "-f", facts.format, "-O", fmt, *(["-c"] if compress else []), *options,
           os.path.abspath(facts.path), dst]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
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
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        last = err.strip().splitlines()[-1] if err.strip() else f"qemu-img exited {proc.returncode}"
        raise ExportError(f"converting the image failed: {last}")


def export(image: str, output: str, out_format: str = "qcow2", force: bool = False, compress: bool = False,
           progress: Callable[[str, int, int], None] | None = None, allow_backing: bool = False) -> ExportResult:
    """Convert IMAGE to OUT (qcow2, raw or vhd), verify it, and write OUT.sha256. progress(phase, done, total)."""
    if out_format not in FORMATS:
        raise UsageError(f"unknown output format {out_format!r}: use one of {', '.join(FORMATS)}")
    if compress and out_format != "qcow2":
        raise UsageError("--compress works only with --output-format qcow2")
    facts = preflight(image, allow_backing)
    fmt = FORMATS[out_format]
    sums = output + ".sha256"
    needed = needed_bytes(facts, fmt)
    with Staged(output, force, needed, source=image) as staged:
        check_output(sums, force)  # refuse an existing OUT.sha256 before writing anything
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
        sha, md5 = digests(staged.path, (lambda d, t: progress("Checksums", d, t)) if progress else None)
        size = os.path.getsize(staged.path)
        with deferred():  # OUT.sha256 and OUT appear together, or neither does
            write_text(sums, f"{sha}  {os.path.basename(output)}\n", force)
            try:
                staged.commit()
            except BaseException:
                os.unlink(sums)
                raise
    return ExportResult(output, out_format, facts.virtual_size, size, sha, md5, sums)
