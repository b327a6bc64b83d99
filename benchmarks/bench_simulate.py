#!/usr/bin/env python3
"""One simulation run (sandbox start to ChangeSet) against a bare `bwrap ... /bin/true`.

Run on demand: .venv/bin/python benchmarks/bench_simulate.py [IMAGE] [--runs N]
The image is read once through the appliance; then each flavour's parser is simulated N times.
Goal: <= 200 ms a run, so the preview follows typing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.image.preflight import preflight  # noqa: E402
from workbench.image.session import GuestSession  # noqa: E402
from workbench.parsers import FLAVORS, script_for  # noqa: E402
from workbench.sandbox import host_layout as _host_layout  # noqa: E402
from workbench.simulate import simulate_image  # noqa: E402

SAMPLE = ROOT / ".cache" / "sample" / "centos-sample.qcow2"
CONF = ('hostname=iZ23r29djmjZ\npassword=cXdlcjEyMzQK\neth0_ip_addr=10.171.254.123\n'
        'eth0_mac_addr=00:8c:fa:5e:14:23\neth0_netmask=255.255.255.0\neth0_gateway=10.171.254.1\n'
        'eth0_route="0.0.0.0/0 10.171.254.1;10.0.0.0/8 10.171.254.1"\ndns_nameserver="7.7.7.7 8.8.8.8"\n')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=str(SAMPLE))
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    if args.image == str(SAMPLE) and not SAMPLE.exists():
        subprocess.run([sys.executable, "-m", "workbench", "demo", str(SAMPLE)], check=True)
    facts = preflight(args.image)
    with GuestSession(facts) as s:
        report = s.open()
    bare_cmd = ["bwrap", "--unshare-all", "--die-with-parent", *_host_layout(), "--proc", "/proc", "--dev", "/dev",
                "/bin/true"]
    bare = []
    for _ in range(args.runs):
        t = time.monotonic()
        subprocess.run(bare_cmd, check=True)
        bare.append(time.monotonic() - t)
    bare_ms = statistics.median(bare) * 1000
    print(f"image: {args.image} ({len(report.tree)} guest paths pulled)")
    print(f"  bare bwrap ... /bin/true:          {bare_ms:7.1f} ms (median of {args.runs})")
    for flavor in FLAVORS:
        times = []
        for _ in range(args.runs):
            t = time.monotonic()
            cs = simulate_image(facts, report, CONF, script_for(facts, report, flavor))
            times.append(time.monotonic() - t)
        ms = statistics.median(times) * 1000
        note = "" if cs.exit_code == 0 else f"  (parser exit {cs.exit_code}: not this image's stack)"
        print(f"  simulate {flavor:<16}          {ms:7.1f} ms  ratio {ms / bare_ms:5.1f}x  (goal <= 200 ms){note}")


if __name__ == "__main__":
    main()
