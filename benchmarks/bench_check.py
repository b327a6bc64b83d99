#!/usr/bin/env python3
"""`workbench check` against a bare appliance launch and virt-inspector on the same image.

Run on demand (make bench, or .venv/bin/python benchmarks/bench_check.py [IMAGE] [--runs N]).
Prints the median wall time of each command and the ratios the project's goals are stated in:
  full check <= 1.3x a bare `guestfish --ro -a IMG run`, faster than virt-inspector,
  `check --quick` under 1 s.
The baselines run with force_tcg when KVM cannot start here (they would fail otherwise);
workbench runs as a user runs it, with its own KVM-then-TCG fallback.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / ".cache" / "sample" / "centos-sample.qcow2"


def kvm_works() -> bool:
    env = {**os.environ, "LIBGUESTFS_BACKEND_SETTINGS": ""}
    img = ROOT / ".cache" / "bench-probe.img"
    img.parent.mkdir(parents=True, exist_ok=True)
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    ok = subprocess.run(["guestfish", "--ro", "-a", str(img), "run"], env=env, capture_output=True).returncode == 0
    img.unlink()
    return ok


def timed(cmd: list[str], env: dict) -> float:
    t = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - t
    if proc.returncode not in (0, 1, 3):  # 3: not fully reviewed (--quick skips the guest checks)
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=str(SAMPLE))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    image = args.image
    if image == str(SAMPLE) and not SAMPLE.exists():
        subprocess.run([sys.executable, "-m", "workbench", "demo", str(SAMPLE)], check=True)
    kvm = kvm_works()
    base_env = dict(os.environ)
    if not kvm:
        base_env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg"
    wb = [sys.executable, "-m", "workbench"]
    rows = [
        ("bare launch: guestfish --ro -a IMG run", ["guestfish", "--ro", "-a", image, "run"], base_env),
        ("virt-inspector -a IMG", ["virt-inspector", "--no-applications", "--no-icon", "-a", image], base_env),
        ("workbench check IMG --format json", wb + ["check", image, "--format", "json"], dict(os.environ)),
        ("workbench check IMG --quick", wb + ["check", image, "--quick", "--format", "json"], dict(os.environ)),
    ]
    print(f"image: {image}")
    print(f"acceleration: {'KVM' if kvm else 'TCG (KVM unusable here)'}; {args.runs} rounds, median "
          "(the commands take turns in each round, so drift in the machine's speed hits all of them)")
    times: dict[str, list[float]] = {label: [] for label, _, _ in rows}
    for _ in range(args.runs):
        for label, cmd, env in rows:
            times[label].append(timed(cmd, env))
    medians = {}
    for label, _, _ in rows:
        medians[label] = statistics.median(times[label])
        print(f"  {label:<42} {medians[label]:7.2f} s   ({', '.join(f'{t:.2f}' for t in times[label])})")
    bare = medians[rows[0][0]]
    inspector = medians[rows[1][0]]
    full = medians[rows[2][0]]
    quick = medians[rows[3][0]]
    print(f"ratio full check / bare launch:    {full / bare:5.2f}x  (goal <= 1.30x)")
    print(f"ratio full check / virt-inspector: {full / inspector:5.2f}x  (goal < 1.00x)")
    print(f"quick check:                       {quick:5.2f} s  (goal < 1 s)")


if __name__ == "__main__":
    main()
