#!/usr/bin/env python3
"""`workbench check` on each boot-data bomb (and a costly password hash), built as a real image, against a bare
appliance launch on the same image.

Run on demand: .venv/bin/python benchmarks/bench_bombs.py [--bombs NAME ...]
The images come from tests/fixtures/bombs.py (built once, cached in .cache/test-images). For each image it prints
the wall time and peak memory of `guestfish --ro -a IMG run` (the baseline: the appliance alone) and of
`workbench check IMG --format json`: the review's own peak (the Python process, where a bomb would land) and
the peak of the whole process tree (with the appliance's qemu, from wait4), the verdict and the bomb's checks.
Goal on every bomb: the review's peak under 512 MB and the check under 60 s, with a verdict that is not a
pass and no check in error. Without KVM the appliance's launch alone (the baseline) takes 40-70 s on a busy
machine, so the time the bomb adds is shown too: the check's time over the baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_check import kvm_works  # noqa: E402
from tests.fixtures import bombs  # noqa: E402
from tests.fixtures.images import CACHE  # noqa: E402

GOAL_MB, GOAL_S = 512, 60.0
WATCHED = ("boot.kernel", "boot.initramfs-drivers", "boot.nvme", "password.default")
# the review in a child that reports its own peak (RUSAGE_SELF: the Python process, without the appliance)
CHECK = """
import json, resource, sys
from workbench.cli import main
code = main(["check", sys.argv[1], "--format", "json"])
with open(sys.argv[2], "w") as f:
    json.dump({"code": code, "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, f)
"""


def measured(cmd: list[str], env: dict) -> tuple[float, int, subprocess.Popen, str]:
    """(wall seconds, peak RSS in KiB of the process and its waited-for children, the process, its stdout)."""
    t = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - t, usage.ru_maxrss, proc, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bombs", nargs="+", choices=bombs.BOMBS, default=list(bombs.BOMBS))
    args = ap.parse_args()
    kvm = kvm_works()
    base_env = dict(os.environ)
    if not kvm:
        base_env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg"
    print(f"acceleration: {'KVM' if kvm else 'TCG (KVM unusable here)'}; goal: review peak < {GOAL_MB} MB, "
          f"check < {GOAL_S:.0f} s, not a pass, no error")
    print(f"{'image':<16} {'baseline s':>10} {'check s':>8} {'over s':>6} {'review MB':>9} {'tree MB':>8} "
          f"{'baseline MB':>11}  verdict / the bomb's checks")
    failures = []
    for name in args.bombs:
        image = str(bombs.image(name, CACHE))
        base_s, base_kb, base, _ = measured(["guestfish", "--ro", "-a", image, "run"], base_env)
        if base.returncode != 0:
            sys.exit(f"guestfish --ro -a {image} run failed ({base.returncode})")
        with tempfile.NamedTemporaryFile(suffix=".json") as peak:
            check_s, tree_kb, proc, out = measured([sys.executable, "-c", CHECK, image, peak.name],
                                                   {**os.environ, "PYTHONPATH": str(ROOT)})
            own = json.loads(Path(peak.name).read_text() or "{}")
        doc = json.loads(out) if out.strip().startswith("{") else {}
        verdict = doc.get("verdict", {}).get("outcome", f"no report (exit {proc.returncode})")
        checks = {c["id"]: c["status"] for c in doc.get("checks", [])}
        errors = [c for c, s in checks.items() if s == "error"]
        review_mb = own.get("self_kb", 0) / 1024
        print(f"{name:<16} {base_s:10.1f} {check_s:8.1f} {check_s - base_s:6.1f} {review_mb:9.0f} {tree_kb / 1024:8.0f} "
              f"{base_kb / 1024:11.0f}  {verdict}; "
              + ", ".join(f"{c.split('.', 1)[1]} {checks.get(c, '-')}" for c in WATCHED))
        bad = [why for why, hit in (
            (f"review peak {review_mb:.0f} MB", review_mb >= GOAL_MB), (f"{check_s:.0f} s", check_s >= GOAL_S),
            (f"errors in {', '.join(errors)}", bool(errors)), ("no report", not doc),
            ("a pass", name != "control" and verdict.startswith("ready"))) if hit]
        if bad:
            failures.append(f"{name}: {'; '.join(bad)}")
    print("every bomb within the goal" if not failures else "over the goal: " + " | ".join(failures))


if __name__ == "__main__":
    main()
