#!/usr/bin/env python3
"""A batch check of N images against N sequential `workbench check` runs of the same images.

Run on demand: .venv/bin/python benchmarks/bench_batch.py [--images N]
The images are copies of the sample (separate files, separate appliances).
Goal: batch <= 0.6x sequential on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / ".cache" / "sample" / "centos-sample.qcow2"


def timed(cmd) -> float:
    t = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(map(str, cmd))} failed: {proc.stderr.strip()[-300:]}")
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4)
    args = ap.parse_args()
    if not SAMPLE.exists():
        subprocess.run([sys.executable, "-m", "workbench", "demo", str(SAMPLE)], check=True)
    wb = [sys.executable, "-m", "workbench", "check", "--format", "json"]
    with tempfile.TemporaryDirectory(prefix="wb-batch-", dir=ROOT / ".cache") as tmp:
        images = []
        for i in range(args.images):
            p = Path(tmp) / f"image{i}.qcow2"
            shutil.copyfile(SAMPLE, p)
            images.append(str(p))
        sequential = sum(timed(wb + [img]) for img in images)
        batch = timed(wb + images)
    print(f"{args.images} copies of the sample on {os.cpu_count()} cores")
    print(f"  {args.images} sequential workbench check runs: {sequential:7.1f} s")
    print(f"  one batch workbench check:          {batch:7.1f} s")
    print(f"ratio batch / sequential: {batch / sequential:5.2f}x  (goal <= 0.60x)")


if __name__ == "__main__":
    main()
