"""Terminal text of a review, a simulation, an injection and a rehearsal (colour on a tty); the check JSON."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from rich.console import Console
from rich.text import Text

from workbench.checks import AREAS
from workbench.report.diff import unified_diff
from workbench.report.style import ACTION_STYLE, STATUS_LABEL, STATUS_STYLE
from workbench.report.verdict import verdict, verdict_for
from workbench.review import Review
from workbench.units import human_size
from workbench.text import printable


def to_json_text(review: Review) -> str:
    return json.dumps(review.to_json(), indent=2)


def partition_line(p, mountpoint: str | None) -> Text:
    line = Text(f"  {p.number:>2}  ")
    line.append(f"{(p.filesystem or 'none'):<9}", style="bold")
    line.append(f"{human_size(p.size):>10}  {printable(p.type_name, 40)}")
    if p.fs.label:
        line.append(f"  label={printable(p.fs.label, 64)}")
    if mountpoint:
        line.append(f"  on {printable(mountpoint)}", style="cyan")
    return line


def print_text(review: Review, out: TextIO | None = None, color: bool | None = None) -> None:
    """Everything from the image goes in as plain Text: no markup is ever interpreted."""
    out = out or sys.stdout
    console = Console(file=out, highlight=False, markup=False, emoji=False,
                      force_terminal=color, no_color=(color is False), soft_wrap=True)
    f = review.facts
    head = Text(printable(f.name, 200), style="bold")
    head.append(f"  {f.format}, {human_size(f.virtual_size)} virtual, ")
    head.append(f"{f.partition_table.upper()}" if f.partition_table != "none" else "no partition table")
    console.print(head)
    for p in f.partitions:
        console.print(partition_line(p, review.mountpoint(p.device)))
    if f.whole_disk:
        console.print(Text(f"  whole disk: {f.whole_disk.kind}"
                           + (f" label={printable(f.whole_disk.label, 64)}" if f.whole_disk.label else "")))
    if review.guest and review.guest.os:
        o = review.guest.os
        console.print(Text(f"  OS: {printable(o.pretty_name or o.distro or 'unknown', 120)} · family {o.family or '?'} · "
                           f"init {o.init or '?'} · network {o.network or '?'} · first partition on "
                           f"{printable(o.first_partition_mountpoint or 'not mounted', 120)}"))
    if review.guest is not None:
        for note in review.guest.notes[:10]:
            console.print(Text(f"  note: {printable(note, 400)}", style="dim"))
    elif review.quick:
        console.print(Text("  OS: not read (--quick)", style="dim"))
    area = None
    for r in review.results:
        if r.area != area:
            area = r.area
            console.print()
            console.print(Text(AREAS.get(area, area), style="bold underline"))
        line = Text("  ")
        line.append(f"{STATUS_LABEL[r.status]:<5}", style=STATUS_STYLE[r.status])
        line.append(f" {r.id:<32} ", style="bold" if r.status == "fail" else "")
        line.append(printable(r.detail, 2000))
        console.print(line)
        if r.status in ("fail", "warn", "error"):
            for ev in r.evidence[:20]:
                console.print(Text(f"         · {printable(ev, 600)}", style="dim"))
            if len(r.evidence) > 20:
                console.print(Text(f"         · … and {len(r.evidence) - 20} more", style="dim"))
            if r.fix:
                console.print(Text(f"         fix: {printable(r.fix, 600)}", style="cyan"))
    if review.fixes:
        console.print()
        console.print(Text("Fixes the inject step can apply", style="bold underline"))
        for fix in review.fixes:
            what = [printable(ch.path) for ch in fix.changes[:4]] + (["…"] if len(fix.changes) > 4 else [])
            what += [f"runs {printable(c.shown(), 120)}" for c in fix.commands]
            shown = ", ".join(what) or (printable(fix.notes[0], 200) if fix.notes else "nothing to change")
            console.print(Text(f"  {fix.id:<28} {printable(fix.title)}: {shown}"))
    c = review.counts()
    console.print()
    summary = Text("Result: ")
    summary.append(f"{c['fail']} failed", style="bold red" if c["fail"] else "")
    summary.append(f", {c['warn']} warnings, {c['pass']} passed, {c['skip']} skipped")
    if c.get("error"):
        summary.append(f", {c['error']} could not finish", style="bold magenta")
    console.print(summary)
    v = verdict_for(review)
    line = Text("Verdict: ", style="bold")
    line.append(v.outcome, style={"ok": "bold green", "warn": "bold yellow"}.get(v.kind, "bold red"))
    console.print(line)
    for reason in v.reasons:
        console.print(Text(f"  · {printable(reason, 600)}"))


def summary_line(review: Review) -> str:
    c = review.counts()
    return (f"{printable(review.facts.path, 400)}: {verdict(review)} ({c['fail']} failed, {c['warn']} warnings, {c['pass']} passed, "
            f"{c['skip']} skipped)")


def print_changeset(cs, out: TextIO | None = None, color: bool | None = None, diff: bool = False) -> None:
    """What the parser changed: one line per file (or diffs), the commands, the log. Passwords masked."""
    from workbench.simulate import mask

    console = Console(file=out or sys.stdout, highlight=False, markup=False, emoji=False,
                      force_terminal=color, no_color=(color is False), soft_wrap=True)
    if diff:
        for ch in cs.changes:
            if ch.kind == "dir":
                continue
            for line in unified_diff(ch):
                style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" \
                    if line.startswith("@@") else ""
                console.print(Text(printable(line.rstrip("\n"), 2000), style=style))
        return
    head = Text(f"parser: {cs.flavor}   exit code: ")
    head.append(str(cs.exit_code) if cs.exit_code is not None else "none (timed out)",
                style="green" if cs.exit_code == 0 else "bold red")
    console.print(head)
    console.print(Text(f"{len(cs.changes)} changes", style="bold underline"))
    for ch in cs.changes:
        line = Text("  ")
        line.append(f"{ch.action:<7}", style=ACTION_STYLE.get(ch.action, ""))
        line.append(f" {printable(ch.path, 300)}" + ("/" if ch.kind == "dir" else ""))
        console.print(line)
    console.print(Text(f"{len(cs.commands)} commands", style="bold underline"))
    for argv in cs.commands:
        console.print(Text("  " + printable(" ".join(argv), 300)))
    console.print(Text("log", style="bold underline"))
    for line in (mask("os.conf", cs.log) or "").splitlines()[-60:]:
        console.print(Text("  " + printable(line, 300), style="dim"))


def print_inject(result, out: TextIO | None = None, color: bool | None = None) -> None:
    """An injection plan, or the result of applying one with its verification."""
    from workbench.inject import InjectionPlan

    console = Console(file=out or sys.stdout, highlight=False, markup=False, emoji=False,
                      force_terminal=color, no_color=(color is False), soft_wrap=True)
    plan = result if isinstance(result, InjectionPlan) else result.plan
    console.print(Text(f"parser: {plan.flavor} · init: {plan.init} · first partition "
                       f"{plan.first_uuid or plan.first_label} on {printable(plan.first_mountpoint or 'not mounted')}"))
    for w in plan.writes:
        line = Text("  ")
        line.append(f"{w.action:<7}", style=ACTION_STYLE.get(w.action, ""))
        mode = f" {w.file_mode:04o}" if w.kind in ("file", "dir") and w.action != "delete" else ""
        target = f" -> {printable(w.target, 200)}" if w.kind == "link" and w.action != "delete" else ""
        line.append(f" {printable(plan.display_path(w.path), 200)}{target}{mode}  ({printable(w.reason, 200)})")
        console.print(line)
    for fix_id, cmd in plan.commands:
        line = Text("  ")
        line.append(f"{'run':<7}", style="magenta")
        line.append(f" {printable(cmd.shown(), 200)}  (in the appliance; replaces {printable(', '.join(cmd.replaces))}; "
                    f"{fix_id})")
        console.print(line)
    for note in plan.notes:
        console.print(Text(f"  note: {printable(note)}", style="dim"))
    if isinstance(result, InjectionPlan):
        return
    console.print(Text(f"wrote {len(result.written)} path(s), {len(result.unchanged)} already as planned; "
                       f"SELinux: {printable(result.labelling, 400)}"))
    for v in result.verified:
        line = Text("  ")
        line.append("✔ " if v.ok else "✘ ", style="green" if v.ok else "bold red")
        line.append(f"{printable(v.path, 200)}: {printable(v.detail, 200)}")
        console.print(line)
    verdict = Text("verified: ")
    verdict.append("all planned writes are in place" if result.ok else "FAILED", style="green" if result.ok else "bold red")
    verdict.append(f" · {printable(result.output, 400)} ({result.seconds:.1f} s)")
    console.print(verdict)


def print_rehearsal(result, out: TextIO | None = None, color: bool | None = None) -> None:
    """The boot rehearsal: what really changed, whether it matches the simulation, and why not."""
    from workbench.simulate import mask

    console = Console(file=out or sys.stdout, highlight=False, markup=False, emoji=False,
                      force_terminal=color, no_color=(color is False), soft_wrap=True)
    head = Text("rehearsal: ")
    if not result.booted:
        head.append("the image did NOT boot", style="bold red")
        head.append(f" (stage reached: {result.stage}) · ")
    head.append("matches the simulation" if result.matches_simulation else "DIFFERS from the simulation",
                style="green" if result.matches_simulation else "bold red")
    head.append(f" · parser {'finished' if result.parser_finished else 'did NOT finish'}"
                f" · os.conf {'removed' if result.os_conf_removed else 'NOT removed'}"
                f" · host name on the console: {printable(result.hostname_seen or 'not seen')}"
                f" · {result.accel.upper()} {'bootloader' if result.boot == 'bootloader' else 'direct kernel'} boot"
                f" {result.boot_seconds:.0f} s")
    console.print(head)
    if result.failure:
        console.print(Text(f"why: {printable(result.failure, 400)}", style="bold red"))
    if len(result.boots) > 1:  # the later boots (rehearse/reboots.py), each with the rules it is held to
        from workbench.rehearse.reboots import boot_line

        console.print(Text("boots", style="bold underline"))
        for held, words in map(boot_line, result.boots):
            line = Text("  ")
            line.append("✔ " if held else "✘ ", style="green" if held else "bold red")
            line.append(printable(words, 400), style="" if held else "red")
            console.print(line)
    console.print(Text("live network " + ("matches the os.conf" if result.network_matches else "does NOT match the os.conf"),
                       style="bold underline"))
    for m in result.network_mismatches:  # mismatches first
        console.print(Text(f"  ✘ {printable(m, 300)}", style="red"))
    for row in result.network:
        line = Text("  ")
        line.append("✘ " if row.problem else "✔ ", style="bold red" if row.problem else "green")
        line.append(f"{printable(row.item, 60)}: wanted {printable(row.intent, 120)}; seen {printable(row.seen, 200)}")
        console.print(line)
    bad = {m.split(":")[0] for m in result.mismatches}
    console.print(Text(f"{len(result.real.changes)} real changes", style="bold underline"))
    for ch in result.real.changes:
        line = Text("  ")
        line.append("✘ " if ch.path in bad else "✔ ", style="bold red" if ch.path in bad else "green")
        line.append(f"{ch.action:<7}", style=ACTION_STYLE.get(ch.action, ""))
        line.append(f" {printable(ch.path, 300)}")
        console.print(line)
    for m in result.mismatches:
        console.print(Text(f"  mismatch: {printable(m, 300)}", style="red"))
    console.print(Text("parser log", style="bold underline"))
    for line in (mask("os.conf", result.parser_log) or "(none: the parser did not run)").splitlines()[-30:]:
        console.print(Text("  " + printable(line, 300), style="dim"))
    if not result.booted or not result.parser_finished or not result.matches_simulation or result.failure:
        console.print(Text("last console lines", style="bold underline"))
        for line in result.console_tail[-15:]:
            console.print(Text("  " + printable(line, 300), style="dim"))
    for note in result.notes:
        console.print(Text(f"note: {printable(note, 400)}", style="dim"))


def export_progress(stream: TextIO):
    """progress(phase, done, total) for `workbench export`: a bar on a terminal, a line every 10 s otherwise."""
    import time

    tty = stream.isatty()
    shown = {"phase": None, "at": 0.0}

    def progress(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if tty:
            pct = done * 100 // total if total else 0
            print(f"\r{phase:<11} [{'#' * (pct // 4):<25}] {done >> 20:>7} / {total >> 20} MiB", end="", file=stream)
        elif phase != shown["phase"] or now - shown["at"] > 10:
            print(f"workbench: {phase.lower()}: {done >> 20} of {total >> 20} MiB", file=stream)
        shown["phase"], shown["at"] = phase, now

    return progress
