#!/usr/bin/env python3
"""`workbench inject` against `virt-customize --upload` of the same file, and a plain qemu-img convert copy.

Run on demand: .venv/bin/python benchmarks/bench_inject.py [IMAGE] [--runs N]
workbench inject writes a new image: copy, one appliance to write, a second to verify.
virt-customize uploads the same parser file into a copy of the image (the copy is not timed).
Goal: inject <= 1.0x virt-customize.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.image.preflight import preflight  # noqa: E402
from workbench.parsers import build_script, first_partition_ids  # noqa: E402

SAMPLE = ROOT / ".cache" / "sample" / "centos-sample.qcow2"


def run(cmd, env=None) -> float:
    t = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed: {proc.stderr.strip()[-400:]}")
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=str(SAMPLE))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if args.image == str(SAMPLE) and not SAMPLE.exists():
        subprocess.run([sys.executable, "-m", "workbench", "demo", str(SAMPLE)], check=True)
    facts = preflight(args.image)
    uuid, label = first_partition_ids(facts)
    tcg = {**os.environ, "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
    times = {"workbench inject (copy, write, verify)": [], "virt-customize --upload (same file)": [],
             "qemu-img convert (a plain copy)": []}
    with tempfile.TemporaryDirectory(prefix="wb-bench-", dir=ROOT / ".cache") as tmp:
        script = Path(tmp) / "os-conf"
        script.write_text(build_script("sysconfig", uuid, label))
        for _ in range(args.runs):
            out = Path(tmp) / "out.qcow2"
            times["workbench inject (copy, write, verify)"].append(
                run([sys.executable, "-m", "workbench", "inject", args.image, "--output", out]))
            out.unlink()
            copy = Path(tmp) / "copy.qcow2"
            shutil.copyfile(args.image, copy)
            times["virt-customize --upload (same file)"].append(
                run(["virt-customize", "-q", "-a", copy, "--upload", f"{script}:/etc/init.d/os-conf",
                     "--chmod", "0755:/etc/init.d/os-conf"], env=tcg))
            copy.unlink()
            times["qemu-img convert (a plain copy)"].append(
                run(["qemu-img", "convert", "-O", facts.format, args.image, out]))
            out.unlink()
    print(f"image: {args.image}; {args.runs} rounds, median (commands take turns in each round)")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"  {k:<42} {med[k]:7.2f} s   ({', '.join(f'{t:.2f}' for t in v)})")
    inj, vc, cp = med.values()
    print(f"ratio inject / virt-customize:  {inj / vc:5.2f}x  (goal <= 1.0x)")
    print(f"ratio inject / qemu-img convert: {inj / cp:5.1f}x  (the copy alone)")


if __name__ == "__main__":
    main()
