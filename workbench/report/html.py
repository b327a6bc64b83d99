"""The review as one self-contained HTML file (no scripts, no external resources) that prints well."""

from __future__ import annotations

from workbench import __version__
from workbench.checks import AREAS
from workbench.checks.limits import accepted_first
from workbench.report.diff import unified_diff
from workbench.report.document import ReviewDocument, advisory_data
from workbench.report.style import STATUS_WORD
from workbench.report.verdict import verdict_for
from workbench.simulate import mask
from workbench.units import human_size
from workbench.text import html_block, html_text

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
    return html_text(text)


def _diff_html(change) -> str:
    rows = []
    for line in unified_diff(change):
        line = line.rstrip("\n")
        cls = "add" if line.startswith("+") else "del" if line.startswith("-") else "hunk" if line.startswith("@@") \
            else "ctx"
        rows.append(f'<span class="{cls}">{_e(line) or "&nbsp;"}</span>')
    return '<pre class="diff">' + "".join(rows) + "</pre>"


def to_html(doc: ReviewDocument) -> str:
    r = doc.review
    vd = verdict_for(r)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Image review: {_e(r.facts.name)}</title><style>{CSS}</style></head><body>",
           f"<h1>Image review: {_e(r.facts.name)}</h1>",
           f'<p class="muted">Reviewed {_e(doc.created)} by workbench {_e(__version__)}.</p>',
           f'<div class="verdict {vd.kind}" id="verdict">Verdict: {_e(vd.outcome)}</div>',
           ("<ul id=\"verdict-reasons\">" + "".join(f"<li>{_e(x)}</li>" for x in vd.reasons) + "</ul>"
            if vd.reasons else "")]
    for section in (_image, _partition_map, _checks, _fixes, _osconf, _simulation, _injection, _import, _versions):
        out += section(doc)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _image(doc: ReviewDocument) -> list[str]:
    r = doc.review
    f = r.facts
    out = ['<section id="image"><h2>Image</h2><ul>', f"<li>file: <code>{_e(f.path)}</code></li>",
           f"<li>format {_e(f.format)}, virtual size {_e(human_size(f.virtual_size))} ({f.virtual_size} bytes)</li>",
           f"<li>partition table: {_e(f.partition_table)}{_e(f' ({f.mbr_kind} MBR)' if f.mbr_kind else '')}</li>"]
    out += [f"<li>warning: {_e(w)}</li>" for w in f.warnings]
    if r.guest and r.guest.os:
        o = r.guest.os
        out.append(f"<li>operating system: {_e(o.pretty_name or o.distro)} (family {_e(o.family)}, init {_e(o.init)},"
                   f" network {_e(o.network)}); first partition mounted on {_e(o.first_partition_mountpoint)}</li>")
    out.append("</ul>")
    return out


def _partition_map(doc: ReviewDocument) -> list[str]:
    r = doc.review
    f = r.facts
    out = ['<div class="map" id="partition-map">']
    first = f.first_partition
    at = 0
    for p in sorted(f.partitions, key=lambda p: p.start):
        if p.start > at:
            out.append(f'<div class="gap" style="flex:{max(p.start - at, 1)}">free</div>')
        ok = accepted_first(p)
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
    return out


def _checks(doc: ReviewDocument) -> list[str]:
    out = ['<section id="checks"><h2>Checks</h2>']
    for area, title in AREAS.items():
        results = [c for c in doc.review.results if c.area == area]
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
    return out


def _fixes(doc: ReviewDocument) -> list[str]:
    if not doc.review.fixes:
        return []
    chosen = set(doc.plan.fixes) if doc.plan is not None else set()
    out = ['<section id="fixes"><h2>Fixes offered</h2><ul>']
    for fx in doc.review.fixes:
        files = ", ".join(f"{_e(c.action)} <code>{_e(c.path)}</code>" for c in fx.changes[:8])
        out.append(f"<li><code>{_e(fx.id)}</code>{' <b>(chosen)</b>' if fx.id in chosen else ''}: "
                   f"{_e(fx.title)}: {files}</li>")
    out.append("</ul></section>")
    return out


def _osconf(doc: ReviewDocument) -> list[str]:
    out = ['<section id="osconf"><h2>os.conf</h2>']
    if doc.osconf_text is None:
        out.append("<p>No os.conf was given.</p>")
    else:
        out.append(f'<pre id="osconf-text">{html_block(mask("os.conf", doc.osconf_text))}</pre>')
        if doc.osconf_problems:
            out.append("<ul>" + "".join(f"<li>{_e(p.line())}</li>" for p in doc.osconf_problems) + "</ul>")
    out.append("</section>")
    return out


def _simulation(doc: ReviewDocument) -> list[str]:
    out = ['<section id="simulation"><h2>Simulated first boot</h2>']
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
    return out


def _injection(doc: ReviewDocument) -> list[str]:
    out = ['<section id="injection"><h2>Injection</h2>']
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
    return out


def _import(doc: ReviewDocument) -> list[str]:
    out = ['<section id="import"><h2>Import</h2>']
    if doc.import_plan is not None:
        ip = doc.import_plan
        out.append("<p>ImportImage " + ("(ready)" if ip.ready else "(<b>not ready</b>: the blockers below fail the "
                                                                  "import)") + "</p><table>")
        out += [f"<tr><td>{_e(k)}</td><td><code>{_e(str(v))}</code></td></tr>" for k, v in ip.parameters.items()]
        out.append("</table><ul>" + "".join(f'<li class="fail">blocker: {_e(b)}</li>' for b in ip.blockers)
                   + "".join(f'<li class="warn">warning: {_e(w)}</li>' for w in ip.warnings) + "</ul>")
        for title, key in (("Upload", "ossutil"), ("Import (aliyun CLI)", "aliyun"), ("Terraform", "terraform")):
            out.append(f"<h3>{title}</h3><pre>{html_block(doc.import_commands.get(key, ''))}</pre>")
    out.append("</section>")
    return out


def _versions(doc: ReviewDocument) -> list[str]:
    versions = advisory_data()
    return ['<section id="versions"><h2>Versions</h2><ul>'
            f"<li>workbench {_e(__version__)}</li><li>bundled advisories: {versions['bundled_advisories']} "
            f"({_e(', '.join(versions['ids']))}), reviewed {_e(', '.join(versions['reviewed']))}</li>"
            + "".join(f"<li>note: {_e(n)}</li>" for n in doc.notes) + "</ul></section>"]
