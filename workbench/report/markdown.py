"""The review as Markdown (image text escaped; diffs fenced)."""

from __future__ import annotations

from workbench import __version__
from workbench.checks import AREAS
from workbench.report.diff import unified_diff
from workbench.report.document import ReviewDocument, advisory_data
from workbench.report.style import STATUS_WORD
from workbench.report.verdict import verdict_for
from workbench.simulate import mask
from workbench.text import md_code, md_text, printable_block
from workbench.units import human_size


def _fenced(text: str) -> str:
    """A block for a ``` fence: control characters replaced per line, and no line can close the fence."""
    return printable_block(text).replace("```", "ʼʼʼ")


def to_markdown(doc: ReviewDocument) -> str:
    r = doc.review
    v = verdict_for(r)
    lines = [f"# Image review: {md_text(r.facts.name)}", "", f"**Verdict: {v.outcome}**", ""]
    lines += [f"- {md_text(reason, 600)}" for reason in v.reasons] + ([""] if v.reasons else [])
    lines += [f"Reviewed {doc.created} by workbench {__version__}.", ""]
    for section in (_image, _checks, _fixes, _osconf, _simulation, _injection, _import, _versions):
        lines += section(doc)
    return "\n".join(lines) + "\n"


def _image(doc: ReviewDocument) -> list[str]:
    r = doc.review
    f = r.facts
    lines = ["## Image", "", f"- file: {md_code(f.path)}", f"- format: {f.format}, virtual size "
             f"{human_size(f.virtual_size)} ({f.virtual_size} bytes)",
             f"- partition table: {f.partition_table}" + (f" ({f.mbr_kind} MBR)" if f.mbr_kind else "")]
    lines += [f"- warning: {md_text(w)}" for w in f.warnings]
    if r.guest and r.guest.os:
        o = r.guest.os
        lines += [f"- operating system: {md_text(o.pretty_name or o.distro)} (family {o.family}, init {o.init}, "
                  f"network {o.network}); first partition mounted on {md_text(o.first_partition_mountpoint)}"]
    lines += ["", "| # | start | size | type | file system | label | mounted on |", "|---|---|---|---|---|---|---|"]
    first = f.first_partition
    for p in sorted(f.partitions, key=lambda p: p.start):
        lines.append(f"| {p.number}{' (first)' if p is first else ''} | {human_size(p.start)} | {human_size(p.size)} | "
                     f"{md_text(p.type_name)} | {p.filesystem or 'none'} | {md_text(p.fs.label)} | "
                     f"{md_text(r.mountpoint(p.device))} |")
    return lines + [""]


def _checks(doc: ReviewDocument) -> list[str]:
    lines = ["## Checks", ""]
    for area, title in AREAS.items():
        results = [c for c in doc.review.results if c.area == area]
        if not results:
            continue
        lines += [f"### {title}", "", "| status | severity | check | finding |", "|---|---|---|---|"]
        lines += [f"| {STATUS_WORD[c.status]} | {c.severity} | `{c.id}` | {md_text(c.detail)} |" for c in results]
        for c in results:
            if c.status in ("fail", "warn"):
                lines += ["", f"**{c.id}**: {md_text(c.detail)}", ""]
                lines += [f"- {md_text(e)}" for e in c.evidence[:50]]
                if c.fix:
                    lines += ["", f"Fix: {md_text(c.fix)}"]
        lines.append("")
    return lines


def _fixes(doc: ReviewDocument) -> list[str]:
    if not doc.review.fixes:
        return []
    lines = ["## Fixes offered", ""]
    chosen = set(doc.plan.fixes) if doc.plan is not None else set()
    for fx in doc.review.fixes:
        mark = " (chosen)" if fx.id in chosen else ""
        lines.append(f"- `{fx.id}`{mark}: {md_text(fx.title)}: " + ", ".join(f"{c.action} {md_code(c.path)}"
                                                                              for c in fx.changes[:8]))
    return lines + [""]


def _osconf(doc: ReviewDocument) -> list[str]:
    lines = ["## os.conf", ""]
    if doc.osconf_text is None:
        return lines + ["No os.conf was given.", ""]
    lines += ["```", _fenced(mask("os.conf", doc.osconf_text) or "").rstrip("\n"), "```", ""]
    return lines + [f"- {md_text(p.line())}" for p in doc.osconf_problems] + ([""] if doc.osconf_problems else [])


def _simulation(doc: ReviewDocument) -> list[str]:
    lines = ["## Simulated first boot", ""]
    cs = doc.changeset
    if cs is None:
        return lines + ["Not simulated (no os.conf, or no Linux root).", ""]
    lines += [f"Parser `{cs.flavor}`, exit code {cs.exit_code}, {len(cs.changes)} changes.", ""]
    lines += [f"- {ch.action} directory {md_code(ch.path)}" for ch in cs.changes if ch.kind == "dir"] + [""]
    for ch in cs.changes:
        if ch.kind != "dir":
            lines += [f"#### {ch.action} {md_code(ch.path)}", "", "```diff",
                      _fenced("".join(unified_diff(ch)).rstrip("\n")), "```", ""]
    if cs.commands:
        lines += ["Commands:", ""] + [f"- {md_code(' '.join(a))}" for a in cs.commands] + [""]
    return lines


def _injection(doc: ReviewDocument) -> list[str]:
    lines = ["## Injection", ""]
    if doc.inject_result is not None:
        res = doc.inject_result
        lines += [f"Written to {md_code(res.output)}; verified: {'yes' if res.ok else 'NO'}; SELinux: "
                  f"{md_text(res.labelling)}", ""]
        return lines + [f"- {'✔' if v.ok else '✘'} {md_code(v.path)}: {md_text(v.detail)}" for v in res.verified]
    if doc.plan is None:
        return lines + ["No injection plan (see the notes)."]
    plan = doc.plan
    lines += [f"Plan (not written): parser `{plan.flavor}`, init {plan.init}, fixes: "
              f"{', '.join(plan.fixes) or 'none'}.", "", "| action | path | why |", "|---|---|---|"]
    lines += [f"| {w.action} | {md_code(plan.display_path(w.path), table=True)} | {md_text(w.reason)} |"
              for w in plan.writes]
    return lines + [""] + [f"- {md_text(n)}" for n in plan.notes]


def _import(doc: ReviewDocument) -> list[str]:
    lines = ["", "## Import", ""]
    ip = doc.import_plan
    if ip is None:
        return lines
    lines += ["ImportImage " + ("(ready)" if ip.ready else "(**not ready**: the blockers below fail the import)"),
              "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {md_code(str(v), table=True)} |" for k, v in ip.parameters.items()]
    lines += [""] + [f"- blocker: {md_text(b)}" for b in ip.blockers] + [f"- warning: {md_text(w)}"
                                                                         for w in ip.warnings]
    for title, key in (("Upload", "ossutil"), ("Import (aliyun CLI)", "aliyun"), ("Terraform", "terraform")):
        lines += ["", f"{title}:", "", "```", _fenced(doc.import_commands.get(key, "")), "```"]
    return lines


def _versions(doc: ReviewDocument) -> list[str]:
    versions = advisory_data()
    lines = ["", "## Versions", "", f"- workbench {__version__}",
             f"- bundled advisories: {versions['bundled_advisories']} ({', '.join(versions['ids'])}), reviewed "
             f"{', '.join(versions['reviewed'])}"]
    return lines + [f"- note: {md_text(n)}" for n in doc.notes]
