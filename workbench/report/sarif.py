"""`workbench check --format sarif`: the review as SARIF 2.1.0, for CI security dashboards.

One rule per registered check (its id, title, area and severity); one result per check that failed, warned or
could not finish, with its detail and evidence lines as the message and the image as the artifact. Image text
is made printable; SARIF viewers render message text as text.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench import __version__
from workbench.checks import Status, all_checks
from workbench.review import Review
from workbench.text import printable, printable_block
from workbench.verdict import verdict_of

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"blocker": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
MAX_EVIDENCE = 50


def _uri(path: str) -> str:
    return Path(os.path.abspath(path)).as_uri()


def _rules() -> list[dict]:
    return [{"id": c.id, "name": "".join(w.capitalize() for w in c.id.replace("-", ".").split(".")),
             "shortDescription": {"text": c.title},
             "defaultConfiguration": {"level": LEVEL.get(str(c.severity), "warning")},
             "properties": {"area": c.area, "severity": str(c.severity)}} for c in all_checks()]


def run_of(review: Review, rules: list[dict]) -> dict:
    index = {r["id"]: i for i, r in enumerate(rules)}
    uri = _uri(review.facts.path)
    results = []
    for r in review.results:
        if r.status not in (Status.FAIL, Status.WARN, Status.ERROR):
            continue
        lines = [printable(r.detail, 2000)] + [printable(e, 600) for e in r.evidence[:MAX_EVIDENCE]]
        if len(r.evidence) > MAX_EVIDENCE:
            lines.append(f"… and {len(r.evidence) - MAX_EVIDENCE} more")
        if r.fix:
            lines.append("fix: " + printable(r.fix, 600))
        level = LEVEL.get(str(r.severity), "warning") if r.status != Status.WARN else "warning"
        results.append({
            "ruleId": r.id, "ruleIndex": index[r.id], "level": "error" if r.status == Status.ERROR else level,
            "kind": "fail" if r.status != Status.WARN else "review",
            "message": {"text": printable_block("\n".join(lines), 64 << 10)},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri, "index": 0}}}],
            "properties": {"status": str(r.status), "area": r.area, "evidence": [printable(e, 600) for e in
                                                                                r.evidence[:MAX_EVIDENCE]]},
        })
    v = verdict_of(review.results)
    return {
        "tool": {"driver": {"name": "workbench", "version": __version__, "semanticVersion": __version__,
                            "rules": rules}},
        "artifacts": [{"location": {"uri": uri}, "length": review.facts.actual_size or -1,
                       "properties": {"format": review.facts.format, "virtual_size": review.facts.virtual_size}}],
        "invocations": [{"executionSuccessful": not review.errored}],
        "results": results,
        "properties": {"verdict": v.to_json()},
    }


def to_sarif(reviews: list[Review]) -> dict:
    rules = _rules()
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run_of(r, rules) for r in reviews]}
