#!/usr/bin/env python3
"""`workbench export` against a bare `qemu-img convert` of the same image, in the same run.

Run on demand: .venv/bin/python benchmarks/bench_export.py [--format qcow2|raw|vhd] [--data-gib N]
It builds an 8 GiB sparse qcow2 (an MBR disk with one ext4 partition) with N GiB (default 1) of data written
after the partition, then times: the bare conversion; the same plus one sha256sum read of its output (what
an operator would do by hand); and workbench export (conversion, verification, and SHA-256, MD5 and CRC-64/ECMA in
one read of the output).
Goal: export <= 1.1x the bare conversion plus the checksum pass.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.export import FORMATS, export  # noqa: E402
from workbench.sample.build import Disk, Part, build  # noqa: E402
from workbench.units import GiB, MiB  # noqa: E402


def timed(fn) -> float:
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--format", choices=sorted(FORMATS), default="qcow2")
    ap.add_argument("--data-gib", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    fmt = FORMATS[args.format]
    with tempfile.TemporaryDirectory(prefix="wb-bench-export-", dir=os.environ.get("TMPDIR", "/var/tmp")) as tmp:
        src = Path(tmp) / "src.qcow2"
        build(Disk(8 * GiB, "mbr", [Part(128 * MiB, "ext4")]), src, "qcow2")
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 256M {args.data_gib}G", str(src)],
                       check=True, capture_output=True)
        bare_out = Path(tmp) / f"bare.{args.format}"
        opts = ["-o", "subformat=dynamic,force_size=on"] if fmt == "vpc" else []
        out = Path(tmp) / f"out.{args.format}"
        bares, sums, wholes, convs = [], [], [], []
        for _ in range(args.runs):  # alternated, best of N: the page cache favours neither side
            bares.append(timed(lambda: subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", fmt, *opts,
                                                       str(src), str(bare_out)], check=True)))
            sums.append(timed(lambda: subprocess.run(["sha256sum", str(bare_out)], check=True, capture_output=True)))
            bare_out.unlink()
            marks: list[tuple[str, float]] = []
            t = time.monotonic()
            result = export(str(src), str(out), args.format, progress=lambda phase, done, total: (
                marks.append((phase, time.monotonic())) if not marks or marks[-1][0] != phase else None))
            wholes.append(time.monotonic() - t)
            ends = dict(zip([m[0] for m in marks], [m[1] for m in marks[1:]] + [time.monotonic()]))
            convs.append(ends.get("Converting", t) - t)  # from the call to the end of the conversion
            out.unlink()
            Path(str(out) + ".sha256").unlink()
            Path(str(out) + ".crc64").unlink()
        bare, summed, whole, conv = min(bares), min(sums), min(wholes), min(convs)
    print(f"8 GiB qcow2 with {args.data_gib} GiB of data -> {args.format} ({result.size >> 20} MiB written)")
    print(f"  bare qemu-img convert:                 {bare:6.1f} s")
    print(f"  bare convert + sha256sum of its output: {bare + summed:6.1f} s")
    print(f"  workbench export:                       {whole:6.1f} s  (preflight and conversion {conv:.1f} s, then "
          f"verification and one read for the three digests)")
    print(f"best of {args.runs}, alternated")
    print(f"ratio export / (bare convert + checksum pass): {whole / (bare + summed):5.2f}x  (goal <= 1.1x)")
    print(f"ratio export's preflight+conversion / bare convert: {conv / bare:5.2f}x")


if __name__ == "__main__":
    main()
