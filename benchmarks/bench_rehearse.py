#!/usr/bin/env python3
"""One boot rehearsal against a bare boot-to-poweroff of the same image with plain qemu.

Run on demand: .venv/bin/python benchmarks/bench_rehearse.py IMAGE [--os-conf FILE]
IMAGE must hold a bootable Linux (e.g. the tests' debootstrapped Debian 12:
~/.cache/workbench-tests/*/debian12-bootable.qcow2, or */debian12-extlinux.qcow2 with its own bootloader).
The bare boots use the same overlay setup, boot (the image's bootloader or its kernel directly with the same
command line, chosen as the rehearsal chooses), disk bus, NICs and shutdown (ACPI at the login prompt), and run no
workbench code while they boot: one with plain qemu's single vCPU, one with as many vCPUs as
the rehearsal gives its guest. Goal: rehearsal <= 1.2x the plain-qemu bare boot; the live-network probe
adds under 2 s (it prints how long it ran inside the guest). Then, for each of the rehearsal's boots, where its
time went, from the console's lines as they came (qemu start, the kernel's first line, the initramfs, the init
system, the parser's start and end, the probe's report, qemu's exit).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.image import bootinfo  # noqa: E402
from workbench.image.preflight import ImageFacts, preflight  # noqa: E402
from workbench.image.session import GuestSession  # noqa: E402
from workbench.rehearse import RehearsalHooks, RehearsalRequest, rehearse  # noqa: E402
from workbench.rehearse.boot import (bios_boot_code, choose_boot, direct_boot, grub_cmdline,  # noqa: E402
                                     serial_boot_config)
from workbench.rehearse.vm import DONE, VCPUS, make_overlay  # noqa: E402
from workbench.rehearse.vm import boot as vm_boot  # noqa: E402

VPC = ('hostname=iZ23r29djmjZ\npassword=cXdlcjEyMzQK\neth0_ip_addr=10.171.254.123\neth0_mac_addr=00:8c:fa:5e:14:23\n'
       'eth0_netmask=255.255.255.0\neth0_gateway=10.171.254.1\neth0_route="0.0.0.0/0 10.171.254.1"\n'
       'dns_nameserver="7.7.7.7 8.8.8.8"\n')


def prepare(image: str, tmp: str) -> tuple[ImageFacts, str, str, list[str]]:
    """Not timed: decide the boot as the rehearsal would and take the kernel out with the same command line:
    (facts, accel, mode, direct)."""
    facts = preflight(image)
    with GuestSession(facts) as s:
        report = s.open(pull="system")
        bf = bootinfo.collect(s, report.tree, facts, report.mounts)
        mode, _ = choose_boot("auto", bios_boot_code(facts), serial_boot_config(s))
        direct = direct_boot(s, tmp, report.root_device, bf, grub_cmdline(report.tree))[1] if mode == "kernel" else []
        return facts, s.accel, mode, direct


def bare_boot(facts: ImageFacts, accel: str, direct: list[str], vcpus: int) -> float:
    """Boot a fresh overlay of the image the way the rehearsal would, to the login prompt, off: seconds."""
    with tempfile.TemporaryDirectory(prefix="wb-bare-") as tmp:
        t = time.monotonic()
        overlay = make_overlay(facts, tmp)
        vm_boot(tmp, f"file={overlay},format=qcow2", accel, direct, {"eth0_mac_addr": "00:8c:fa:5e:14:23"}, 900,
              lambda line: None, until_login=True, vcpus=vcpus)
        return time.monotonic() - t


# console lines that mark a boot's phases (the first line matching each, in this order); the phase lasts until the next
PHASES = [("qemu start to the kernel's first line", re.compile(r"Linux version ")),
          ("kernel (initramfs unpacked, drivers)", re.compile(r"Run /init as init process|Loading, please wait")),
          ("initramfs (root found, switched to)", re.compile(
              r"systemd\[1\]: systemd \d|INIT: version|OpenRC|runit: |rcS|Starting kernel event manager")),
          ("init system to the parser's start", re.compile(r"Starting os-conf|os-conf: ")),
          ("the parser (on a first boot mostly making host keys)", DONE),
          ("the network and sshd, to the probe's report", re.compile(r"wb-rehearsal-probe: reported")),
          ("the login prompt, the shutdown, qemu's exit", None)]


def boot_phases(events: list[tuple[float, str, str]]) -> list[list[tuple[str, float]]]:
    """For each boot (from its progress stage to the next stage), (phase, seconds) as PHASES marks them; a phase
    whose line never came is left out (its time counts in the one before)."""
    boots, current = [], None
    for at, kind, text in events:
        if kind == "stage":
            if current is not None:
                current["end"] = at
                boots.append(current)
                current = None
            if text.startswith("Booting the image"):
                current = {"start": at, "marks": [], "end": None}
        elif current is not None:
            marks = current["marks"]
            for n in range(marks[-1][0] + 1 if marks else 0, len(PHASES) - 1):
                if PHASES[n][1].search(text):
                    marks.append((n, at))
                    break
    if current is not None:
        boots.append({**current, "end": events[-1][0]})
    out = []
    for b in boots:
        times = [(0, b["start"])] + [(n + 1, at) for n, at in b["marks"]] + [(None, b["end"])]
        out.append([(PHASES[n][0], nxt - at) for (n, at), (_, nxt) in zip(times, times[1:])])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image")
    ap.add_argument("--os-conf", metavar="FILE")
    args = ap.parse_args()
    conf = Path(args.os_conf).read_text() if args.os_conf else VPC
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:  # the kernel for a direct boot, taken out once
        facts, accel, mode, direct = prepare(args.image, tmp)
        plain = bare_boot(facts, accel, direct, 1)  # plain qemu's default: one vCPU
        same = bare_boot(facts, accel, direct, VCPUS) if VCPUS > 1 else plain
    t = time.monotonic()
    stages: list[tuple[str, float]] = []  # (stage, when it began, from the start)
    events: list[tuple[float, str, str]] = []  # (when, "stage" or "console", text)

    def progress(p) -> None:
        if not stages or stages[-1][0] != p.phase:
            stages.append((p.phase, time.monotonic() - t))
            events.append((time.monotonic() - t, "stage", p.phase))

    def console(line: str) -> None:
        events.append((time.monotonic() - t, "console", line))

    result = rehearse(args.image, RehearsalRequest(conf), RehearsalHooks(progress=progress, console=console))
    events.append((time.monotonic() - t, "stage", "(end)"))
    whole = time.monotonic() - t
    print(f"image: {args.image}; acceleration: {accel.upper()}; boot: {mode}; "
          f"the rehearsal's guest has {VCPUS} vCPU(s)", flush=True)
    print(f"  bare boot to poweroff, plain qemu (1 vCPU):       {plain:7.1f} s")
    print(f"  bare boot to poweroff, {VCPUS} vCPU(s) as the rehearsal: {same:7.1f} s")
    print(f"  rehearsal (inject, boot, read back):              {whole:7.1f} s  "
          f"(its boot alone {result.boot_seconds:.1f} s; matches the simulation: {result.matches_simulation})")
    print(f"ratio rehearsal / plain-qemu bare boot:           {whole / plain:5.2f}x  (goal <= 1.2x)")
    print(f"ratio rehearsal / bare boot with the same vCPUs:  {whole / same:5.2f}x")
    print(f"ratio rehearsal's boot / same-vCPU bare boot:     {result.boot_seconds / same:5.2f}x")
    live = result.live
    if live is not None and live.took is not None:
        print(f"live-network probe: ran {live.took:.2f} s in the guest, of which {live.waited} s waiting for sshd and "
              f"a default route (goal: the probe adds < 2 s); its report came {result.probe_seconds or 0:.1f} s "
              f"after the parser finished; network matches the os.conf: {result.network_matches}")
    else:
        print("live-network probe: no report (" + "; ".join(result.network_mismatches) + ")")
    marks = stages + [("(end)", whole)]
    print("where the rehearsal's time went:")
    for (stage, at), (_, until) in zip(marks, marks[1:]):
        print(f"  {until - at:6.1f} s  {stage}")
    for n, phases in enumerate(boot_phases(events), 1):
        kind = result.boots[n - 1].kind if n <= len(result.boots) else "?"
        print(f"where boot {n} ({kind}) went, {sum(s for _, s in phases):.1f} s in all:")
        for phase, seconds in phases:
            print(f"  {seconds:6.1f} s  {phase}")


if __name__ == "__main__":
    main()
