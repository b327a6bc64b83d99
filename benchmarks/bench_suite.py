#!/usr/bin/env python3
"""The test suite's own clock: wall time of `make test-fast` and `make test`, the test time per tier (fast,
appliance, boot, matrix: from the junit xml each run writes), and the ten slowest tests.

    .venv/bin/python benchmarks/bench_suite.py                 # both tiers, one after the other
    .venv/bin/python benchmarks/bench_suite.py --tier fast     # the fast tier only
    .venv/bin/python benchmarks/bench_suite.py --xml run.xml   # read a junit xml written earlier, run nothing

Goals (2 cores): fast tier under 3 min; the whole suite (the conformance matrix included) under 15 min warm,
under 45 min cold (an empty test cache: WORKBENCH_TEST_CACHE=$(mktemp -d) runs one without touching the real one).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = {"fast": ["-m", "not appliance and not boot"], "full": []}


def run(tier: str, xml: Path, jobs: str, extra: list[str]) -> tuple[float, int]:
    """(wall seconds, pytest's exit code) of one tier, as the Makefile runs it."""
    parallel = [] if jobs == "0" else ["-n", jobs, "--dist", "loadgroup"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *parallel, *TIERS[tier],
           f"--junitxml={xml}", *extra]
    started = time.monotonic()
    code = subprocess.run(cmd, cwd=ROOT).returncode
    return time.monotonic() - started, code


def tests(xml: Path) -> list[tuple[str, float, str, str]]:
    """(test id, seconds, tier, outcome) of every test case in a junit xml."""
    out = []
    for case in ET.parse(xml).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        out.append((f"{case.get('classname')}::{case.get('name')}", float(case.get("time") or 0),
                    props.get("tier", "?"), outcome))
    return out


def summary(xml: Path) -> None:
    cases = tests(xml)
    per_tier: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, int] = defaultdict(int)
    for _, seconds, tier, outcome in cases:
        per_tier[tier].append(seconds)
        outcomes[outcome] += 1
    print(f"  {len(cases)} tests: " + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))
    for tier, times in sorted(per_tier.items()):
        print(f"  tier {tier:9s} {len(times):4d} tests  {sum(times):8.1f} s of test time")
    print("  the ten slowest:")
    for name, seconds, tier, _ in sorted(cases, key=lambda c: -c[1])[:10]:
        print(f"  {seconds:8.1f} s  [{tier}] {name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tier", choices=["fast", "full", "both"], default="both")
    ap.add_argument("--jobs", default="auto", help="pytest-xdist workers, as make's JOBS (0: one process)")
    ap.add_argument("--xml", type=Path, help="only summarise this junit xml")
    ap.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = ap.parse_args()
    if args.xml:
        summary(args.xml)
        return 0
    worst = 0
    with tempfile.TemporaryDirectory(prefix="wb-bench-suite-") as tmp:
        for tier in (["fast", "full"] if args.tier == "both" else [args.tier]):
            xml = Path(tmp) / f"{tier}.xml"
            seconds, code = run(tier, xml, args.jobs, args.pytest_args)
            print(f"\n{tier}: {seconds / 60:.1f} min wall ({seconds:.0f} s), pytest exit {code}")
            if xml.exists():
                summary(xml)
            worst = max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main())
