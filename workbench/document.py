"""The review as a document an operator can hand over: Markdown, one self-contained HTML file, JSON."""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field

from workbench import __version__
from workbench.checks import AREAS
from workbench.review import Review
from workbench.units import human_size, printable

STATUS_WORD = {"pass": "pass", "fail": "FAIL", "warn": "warn", "skip": "skip"}


@dataclass
class ReviewDocument:
    review: Review
    osconf_text: str | None = None  # as the operator wrote it (masked when shown)
    osconf_problems: list = field(default_factory=list)
    changeset: object | None = None  # simulate.ChangeSet
    plan: object | None = None  # inject.InjectionPlan
    inject_result: object | None = None  # inject.InjectResult
    notes: list[str] = field(default_factory=list)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S %Z"))


def verdict(review: Review) -> str:
    """One line: ready to import / will be rejected: ... / importable with N high-risk findings."""
    failed_limits = [r for r in review.results if r.area == "limits" and r.status == "fail"]
    if failed_limits:
        what = "; ".join(r.title.lower() for r in failed_limits)
        return f"will be rejected: {what}"
    high = [r for r in review.results if r.area != "limits" and r.status == "fail" and r.severity in ("high", "blocker")]
    if high:
        return f"importable with {len(high)} high-risk finding{'s' if len(high) != 1 else ''}"
    return "ready to import"


def advisory_data() -> dict:
    from workbench.checks.vulns import load_advisories

    adv = load_advisories()
    return {"bundled_advisories": len(adv.advisories),
            "ids": sorted(x for a in adv.advisories for x in a.aliases if x.startswith("CVE-")),
            "reviewed": sorted({a.reviewed for a in adv.advisories} - {""})}


def _masked(path: str, text: str | None) -> str | None:
    from workbench.simulate import mask

    return mask(path, text)


def _changes(doc: ReviewDocument):
    return doc.changeset.changes if doc.changeset is not None else []


def to_json(doc: ReviewDocument) -> dict:
    """The check document (workbench.check/1) with the rest of the review added."""
    out = doc.review.to_json()
    out["report"] = {
        "schema": "workbench.report/1", "created": doc.created, "verdict": verdict(doc.review),
        "versions": {"workbench": __version__, **advisory_data()},
        "os_conf": {"text": _masked("os.conf", doc.osconf_text),
                    "problems": [p.line() for p in doc.osconf_problems]} if doc.osconf_text is not None else None,
        "simulation": doc.changeset.to_json() if doc.changeset is not None else None,
        "injection": (doc.inject_result.to_json() if doc.inject_result is not None
                      else {"plan": doc.plan.to_json()} if doc.plan is not None else None),
        "notes": doc.notes,
    }
    if out["report"]["simulation"]:
        for c in out["report"]["simulation"]["changes"]:
            c["before"], c["after"] = _masked(c["path"], c["before"]), _masked(c["path"], c["after"])
        out["report"]["simulation"]["log"] = _masked("os.conf", out["report"]["simulation"]["log"])
    return out


# -- Markdown -----------------------------------------------------------------------------------------
def _md_cell(text) -> str:
    return printable(text if text is not None else "", 300).replace("|", "\\|")


def to_markdown(doc: ReviewDocument) -> str:
    from workbench.report import unified_diff

    r = doc.review
    f = r.facts
    lines = [f"# Image review: {_md_cell(f.name)}", "",
             f"**Verdict: {verdict(r)}**", "",
             f"Reviewed {doc.created} by workbench {__version__}.", "", "## Image", "",
             f"- file: `{_md_cell(f.path)}`", f"- format: {f.format}, virtual size {human_size(f.virtual_size)} "
                                              f"({f.virtual_size} bytes)",
             f"- partition table: {f.partition_table}" + (f" ({f.mbr_kind} MBR)" if f.mbr_kind else "")]
    lines += [f"- warning: {_md_cell(w)}" for w in f.warnings]
    if r.guest and r.guest.os:
        o = r.guest.os
        lines += [f"- operating system: {_md_cell(o.pretty_name or o.distro)} (family {o.family}, init {o.init}, "
                  f"network {o.network}); first partition mounted on {_md_cell(o.first_partition_mountpoint)}"]
    lines += ["", "| # | start | size | type | file system | label | mounted on |", "|---|---|---|---|---|---|---|"]
    first = f.first_partition
    for p in sorted(f.partitions, key=lambda p: p.start):
        lines.append(f"| {p.number}{' (first)' if p is first else ''} | {human_size(p.start)} | {human_size(p.size)} | "
                     f"{_md_cell(p.type_name)} | {p.filesystem or 'none'} | {_md_cell(p.fs.label)} | "
                     f"{_md_cell(r.mountpoint(p.device))} |")
    lines += ["", "## Checks", ""]
    for area, title in AREAS.items():
        results = [c for c in r.results if c.area == area]
        if not results:
            continue
        lines += [f"### {title}", "", "| status | severity | check | finding |", "|---|---|---|---|"]
        lines += [f"| {STATUS_WORD[c.status]} | {c.severity} | `{c.id}` | {_md_cell(c.detail)} |" for c in results]
        for c in results:
            if c.status in ("fail", "warn"):
                lines += ["", f"**{c.id}**: {_md_cell(c.detail)}", ""]
                lines += [f"- {_md_cell(e)}" for e in c.evidence[:50]]
                if c.fix:
                    lines += ["", f"Fix: {_md_cell(c.fix)}"]
        lines.append("")
    if r.fixes:
        lines += ["## Fixes offered", ""]
        chosen = set(doc.plan.fixes) if doc.plan is not None else set()
        for fx in r.fixes:
            mark = " (chosen)" if fx.id in chosen else ""
            lines.append(f"- `{fx.id}`{mark}: {_md_cell(fx.title)}: " + ", ".join(f"{c.action} `{_md_cell(c.path)}`"
                                                                                  for c in fx.changes[:8]))
        lines.append("")
    lines += ["## os.conf", ""]
    if doc.osconf_text is None:
        lines += ["No os.conf was given.", ""]
    else:
        lines += ["```", (_masked("os.conf", doc.osconf_text) or "").rstrip("\n"), "```", ""]
        lines += [f"- {_md_cell(p.line())}" for p in doc.osconf_problems] + ([""] if doc.osconf_problems else [])
    lines += ["## Simulated first boot", ""]
    if doc.changeset is None:
        lines += ["Not simulated (no os.conf, or no Linux root).", ""]
    else:
        cs = doc.changeset
        lines += [f"Parser `{cs.flavor}`, exit code {cs.exit_code}, {len(cs.changes)} changes.", ""]
        for ch in cs.changes:
            if ch.kind == "dir":
                lines.append(f"- {ch.action} directory `{_md_cell(ch.path)}`")
        lines.append("")
        for ch in cs.changes:
            if ch.kind != "dir":
                lines += [f"#### {ch.action} `{_md_cell(ch.path)}`", "", "```diff",
                          "".join(unified_diff(ch)).rstrip("\n").replace("```", "ʼʼʼ"), "```", ""]
        if cs.commands:
            lines += ["Commands:", ""] + [f"- `{_md_cell(' '.join(a))}`" for a in cs.commands] + [""]
    lines += ["## Injection", ""]
    if doc.inject_result is not None:
        res = doc.inject_result
        lines += [f"Written to `{_md_cell(res.output)}`; verified: {'yes' if res.ok else 'NO'}; SELinux: "
                  f"{_md_cell(res.labelling)}", ""]
        lines += [f"- {'✔' if v.ok else '✘'} `{_md_cell(v.path)}`: {_md_cell(v.detail)}" for v in res.verified]
    elif doc.plan is not None:
        plan = doc.plan
        lines += [f"Plan (not written): parser `{plan.flavor}`, init {plan.init}, fixes: "
                  f"{', '.join(plan.fixes) or 'none'}.", "", "| action | path | why |", "|---|---|---|"]
        lines += [f"| {w.action} | `{_md_cell(plan.display_path(w.path))}` | {_md_cell(w.reason)} |"
                  for w in plan.writes]
        lines += [""] + [f"- {_md_cell(n)}" for n in plan.notes]
    else:
        lines += ["No injection plan (see the notes)."]
    versions = advisory_data()
    lines += ["", "## Versions", "", f"- workbench {__version__}",
              f"- bundled advisories: {versions['bundled_advisories']} ({', '.join(versions['ids'])}), reviewed "
              f"{', '.join(versions['reviewed'])}"]
    lines += [f"- note: {_md_cell(n)}" for n in doc.notes]
    return "\n".join(lines) + "\n"


# -- HTML ---------------------------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:70em;color:#1b1b1b;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.verdict{font-size:1.25em;font-weight:600;padding:.6em 1em;border-radius:6px;margin:1em 0}
.verdict.ok{background:#e6f4ea;color:#1e6b34}.verdict.warn{background:#fff4e5;color:#8a5300}.verdict.bad{background:#fde8e8;color:#a11}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.status{font-weight:600;white-space:nowrap}.pass{color:#1e6b34}.fail{color:#b00020}.warn{color:#8a5300}.skip{color:#777}
.map{display:flex;height:2.4em;border:1px solid #999;margin:.6em 0}.map div{overflow:hidden;white-space:nowrap;font-size:.85em;padding:.2em .3em;border-right:1px solid #fff;color:#fff}
.map .first{background:#2e7d32}.map .rejected{background:#c62828}.map .other{background:#1e5f8c}.map .gap{background:#ddd;color:#555}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.6em;overflow-x:auto;font-size:.9em;white-space:pre-wrap}
pre.diff .add{color:#1e6b34;background:#e6f4ea;display:block}pre.diff .del{color:#a11;background:#fde8e8;display:block}
pre.diff .hunk{color:#0b63a6;display:block}pre.diff .ctx{display:block}
.evidence{margin:.2em 0 .6em 1.2em;font-size:.92em}.fix{margin-left:1.2em}.muted{color:#666}
@media print{body{margin:0;max-width:none;font-size:11px}h2{page-break-after:avoid}pre,table{page-break-inside:avoid}
.verdict{border:2px solid currentColor}pre.diff .add,pre.diff .del{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.map div{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _e(text) -> str:
    return html.escape(printable(text if text is not None else "", 2000))


def _diff_html(change) -> str:
    from workbench.report import unified_diff

    rows = []
    for line in unified_diff(change):
        line = line.rstrip("\n")
        cls = "add" if line.startswith("+") else "del" if line.startswith("-") else "hunk" if line.startswith("@@") \
            else "ctx"
        rows.append(f'<span class="{cls}">{_e(line) or "&nbsp;"}</span>')
    return '<pre class="diff">' + "".join(rows) + "</pre>"


def to_html(doc: ReviewDocument) -> str:
    r = doc.review
    f = r.facts
    v = verdict(r)
    kind = "ok" if v == "ready to import" else "bad" if v.startswith("will be rejected") else "warn"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Image review: {_e(f.name)}</title><style>{CSS}</style></head><body>",
           f"<h1>Image review: {_e(f.name)}</h1>",
           f'<p class="muted">Reviewed {_e(doc.created)} by workbench {_e(__version__)}.</p>',
           f'<div class="verdict {kind}" id="verdict">Verdict: {_e(v)}</div>',
           '<section id="image"><h2>Image</h2><ul>',
           f"<li>file: <code>{_e(f.path)}</code></li>",
           f"<li>format {_e(f.format)}, virtual size {_e(human_size(f.virtual_size))} ({f.virtual_size} bytes)</li>",
           f"<li>partition table: {_e(f.partition_table)}{_e(f' ({f.mbr_kind} MBR)' if f.mbr_kind else '')}</li>"]
    out += [f"<li>warning: {_e(w)}</li>" for w in f.warnings]
    if r.guest and r.guest.os:
        o = r.guest.os
        out.append(f"<li>operating system: {_e(o.pretty_name or o.distro)} (family {_e(o.family)}, init {_e(o.init)},"
                   f" network {_e(o.network)}); first partition mounted on {_e(o.first_partition_mountpoint)}</li>")
    out.append("</ul>")
    out.append('<div class="map" id="partition-map">')
    first = f.first_partition
    at = 0
    for p in sorted(f.partitions, key=lambda p: p.start):
        if p.start > at:
            out.append(f'<div class="gap" style="flex:{max(p.start - at, 1)}">free</div>')
        ok = p.filesystem in ("fat32", "ext2", "ext3", "ext4", "ufs1", "ufs2") and not p.is_bios_boot
        cls = ("first" if ok else "rejected") if p is first else "other"
        out.append(f'<div class="{cls}" style="flex:{max(p.size, 1)}" title="partition {p.number}">'
                   f'{p.number} {_e(p.filesystem or "none")} {_e(r.mountpoint(p.device) or human_size(p.size))}</div>')
        at = p.start + p.size
    if f.virtual_size > at:
        out.append(f'<div class="gap" style="flex:{f.virtual_size - at}">free</div>')
    if not f.partitions:
        out.append('<div class="rejected" style="flex:1">no partition table</div>')
    out.append("</div><table><tr><th>#</th><th>start</th><th>size</th><th>type</th><th>file system</th><th>label</th>"
               "<th>mounted on</th></tr>")
    for p in sorted(f.partitions, key=lambda p: p.start):
        out.append(f"<tr><td>{p.number}{' (first)' if p is first else ''}</td><td>{_e(human_size(p.start))}</td>"
                   f"<td>{_e(human_size(p.size))}</td><td>{_e(p.type_name)}</td><td>{_e(p.filesystem or 'none')}</td>"
                   f"<td>{_e(p.fs.label)}</td><td>{_e(r.mountpoint(p.device))}</td></tr>")
    out.append("</table></section>")
    out.append('<section id="checks"><h2>Checks</h2>')
    for area, title in AREAS.items():
        results = [c for c in r.results if c.area == area]
        if not results:
            continue
        out.append(f"<h3>{_e(title)}</h3><table><tr><th>status</th><th>severity</th><th>check</th><th>finding</th></tr>")
        for c in results:
            detail = f"<div>{_e(c.detail)}</div>"
            if c.status in ("fail", "warn"):
                detail += '<ul class="evidence">' + "".join(f"<li>{_e(e)}</li>" for e in c.evidence[:50]) + "</ul>"
                if c.fix:
                    detail += f'<div class="fix"><b>Fix:</b> {_e(c.fix)}</div>'
            out.append(f'<tr><td class="status {c.status}">{STATUS_WORD[c.status]}</td><td>{_e(c.severity)}</td>'
                       f"<td><code>{_e(c.id)}</code></td><td>{detail}</td></tr>")
        out.append("</table>")
    out.append("</section>")
    if r.fixes:
        chosen = set(doc.plan.fixes) if doc.plan is not None else set()
        out.append('<section id="fixes"><h2>Fixes offered</h2><ul>')
        for fx in r.fixes:
            files = ", ".join(f"{_e(c.action)} <code>{_e(c.path)}</code>" for c in fx.changes[:8])
            out.append(f"<li><code>{_e(fx.id)}</code>{' <b>(chosen)</b>' if fx.id in chosen else ''}: "
                       f"{_e(fx.title)}: {files}</li>")
        out.append("</ul></section>")
    out.append('<section id="osconf"><h2>os.conf</h2>')
    if doc.osconf_text is None:
        out.append("<p>No os.conf was given.</p>")
    else:
        out.append(f"<pre>{_e(_masked('os.conf', doc.osconf_text))}</pre>")
        if doc.osconf_problems:
            out.append("<ul>" + "".join(f"<li>{_e(p.line())}</li>" for p in doc.osconf_problems) + "</ul>")
    out.append("</section>")
    out.append('<section id="simulation"><h2>Simulated first boot</h2>')
    cs = doc.changeset
    if cs is None:
        out.append("<p>Not simulated (no os.conf, or no Linux root).</p>")
    else:
        out.append(f"<p>Parser <code>{_e(cs.flavor)}</code>, exit code {_e(cs.exit_code)}, "
                   f"{len(cs.changes)} changes.</p>")
        for ch in cs.changes:
            if ch.kind == "dir":
                out.append(f"<p>{_e(ch.action)} directory <code>{_e(ch.path)}</code></p>")
            else:
                out.append(f"<h4>{_e(ch.action)} <code>{_e(ch.path)}</code></h4>{_diff_html(ch)}")
        if cs.commands:
            out.append("<p>Commands:</p><ul>" + "".join(f"<li><code>{_e(' '.join(a))}</code></li>"
                                                         for a in cs.commands) + "</ul>")
    out.append("</section>")
    out.append('<section id="injection"><h2>Injection</h2>')
    if doc.inject_result is not None:
        res = doc.inject_result
        out.append(f"<p>Written to <code>{_e(res.output)}</code>; verified: {'yes' if res.ok else '<b>NO</b>'}; "
                   f"SELinux: {_e(res.labelling)}</p><ul>")
        out += [f'<li class="{"pass" if it.ok else "fail"}">{"✔" if it.ok else "✘"} <code>{_e(it.path)}</code>: '
                f"{_e(it.detail)}</li>" for it in res.verified]
        out.append("</ul>")
    elif doc.plan is not None:
        plan = doc.plan
        out.append(f"<p>Plan (not written): parser <code>{_e(plan.flavor)}</code>, init {_e(plan.init)}, fixes: "
                   f"{_e(', '.join(plan.fixes) or 'none')}.</p><table><tr><th>action</th><th>path</th><th>why</th></tr>")
        out += [f"<tr><td>{_e(w.action)}</td><td><code>{_e(plan.display_path(w.path))}</code></td>"
                f"<td>{_e(w.reason)}</td></tr>" for w in plan.writes]
        out.append("</table>" + "".join(f"<p class='muted'>{_e(n)}</p>" for n in plan.notes))
    else:
        out.append("<p>No injection plan (see the notes).</p>")
    out.append("</section>")
    versions = advisory_data()
    out.append('<section id="versions"><h2>Versions</h2><ul>'
               f"<li>workbench {_e(__version__)}</li><li>bundled advisories: {versions['bundled_advisories']} "
               f"({_e(', '.join(versions['ids']))}), reviewed {_e(', '.join(versions['reviewed']))}</li>"
               + "".join(f"<li>note: {_e(n)}</li>" for n in doc.notes) + "</ul></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


RENDERERS = {".md": to_markdown, ".html": to_html, ".htm": to_html,
             ".json": lambda d: json.dumps(to_json(d), indent=2) + "\n"}


def render(doc: ReviewDocument, suffix: str) -> str:
    try:
        return RENDERERS[suffix.lower()](doc)
    except KeyError:
        raise ValueError(f"the report's file name must end in .md, .html or .json, not {suffix!r}") from None


def build(image: str, osconf_text: str | None = None, fix_ids: tuple[str, ...] = (), options: dict | None = None,
          notify=None) -> ReviewDocument:
    """The whole review of one image, headless: checks, simulation (with an os.conf), the injection plan."""
    from workbench import osconf as osconf_mod
    from workbench.inject import InjectError, build_plan
    from workbench.review import review_image
    from workbench.simulate import SimulationError, simulate_image

    review = review_image(image, notify=notify, options=options)
    doc = ReviewDocument(review)
    if osconf_text is not None:
        doc.osconf_text = osconf_text
        doc.osconf_problems = osconf_mod.validate(osconf_text)[1]
        try:
            doc.changeset = simulate_image(review.facts, review.guest, osconf_text)
        except SimulationError as e:
            doc.notes.append(f"simulation: {e}")
    else:
        doc.notes.append("no os.conf was given (--os-conf), so the first boot was not simulated")
    fixes = [f for f in review.fixes if f.id in fix_ids]
    idle = [f for f in fix_ids if f not in {x.id for x in review.fixes}]
    doc.notes += [f"{f}: not offered for this image" for f in idle]
    try:
        doc.plan = build_plan(review.facts, review.guest, fixes=fixes)
    except InjectError as e:
        doc.notes.append(f"injection: {e}")
    return doc
