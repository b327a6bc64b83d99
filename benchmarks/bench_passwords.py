#!/usr/bin/env python3
"""Password scan rate against the raw libxcrypt rate times the cores, on the same hashes.

Run on demand: .venv/bin/python benchmarks/bench_passwords.py [--scheme yescrypt|sha512crypt] [--accounts N]
Goal: scan rate >= 0.9 x (single-thread libxcrypt rate x cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import crypt  # noqa: E402
from workbench.checks import passwords  # noqa: E402

SETTINGS = {"yescrypt": "$y$j9T${salt}$", "sha512crypt": "$6${salt}$", "md5crypt": "$1${salt}$"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scheme", choices=sorted(SETTINGS), default="yescrypt")
    ap.add_argument("--accounts", type=int, default=3)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    words = passwords.default_passwords()
    targets = []
    for i in range(args.accounts):
        salt = f"benchsalt{i:07d}"[:16]
        targets.append((f"user{i}", crypt.crypt(f"not-in-any-list-{i}-Xq!", SETTINGS[args.scheme].format(salt=salt))))

    # raw: one thread, the same hash, the same words; the best of three runs
    h = targets[0][1]
    sample = words[:60] if args.scheme == "yescrypt" else words[:300]
    best = float("inf")
    for _ in range(3):
        t = time.monotonic()
        for w in sample:
            crypt.verify(w, h)
        best = min(best, time.monotonic() - t)
    raw_rate = len(sample) / best

    # bare threads: the same tries split over the cores with nothing else (what the machine really gives)
    def loop(chunk):
        for w in chunk:
            crypt.verify(w, h)

    best_bare = float("inf")
    for _ in range(2):
        threads = [threading.Thread(target=loop, args=(sample,)) for _ in range(cores)]
        t = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        best_bare = min(best_bare, time.monotonic() - t)
    bare_rate = len(sample) * cores / best_bare

    passwords._cache.clear()
    t = time.monotonic()
    found = passwords.scan(targets, words)
    elapsed = time.monotonic() - t
    tries = sum(len(words) + len([v for v in passwords.name_variants(n) if v not in words]) for n, _ in targets)
    scan_rate = tries / elapsed
    ideal = raw_rate * cores
    print(f"scheme {args.scheme}, {args.accounts} accounts, {tries} tries, {cores} cores")
    print(f"  raw libxcrypt, one thread:   {raw_rate:9.1f} tries/s  ({1000 / raw_rate:.1f} ms a try)")
    print(f"  raw x cores (the ceiling):   {ideal:9.1f} tries/s")
    print(f"  bare threads x cores:        {bare_rate:9.1f} tries/s  (what this machine gives in parallel)")
    print(f"  workbench scan:              {scan_rate:9.1f} tries/s  ({elapsed:.1f} s, {len(found)} found)")
    print(f"ratio scan / (raw x cores):    {scan_rate / ideal:5.2f}  (goal >= 0.90)")
    print(f"ratio scan / bare threads:     {scan_rate / bare_rate:5.2f}")


if __name__ == "__main__":
    main()
