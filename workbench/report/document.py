"""The review as a document an operator can hand over: the model and its JSON. ReviewSession.document makes
it (the same from the CLI and the TUI); markdown.py and html.py render it; render() picks by the file name."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench import __version__
from workbench.report.verdict import verdict
from workbench.review import Review
from workbench.simulate import mask

if TYPE_CHECKING:
    from workbench.importplan import ImportPlan
    from workbench.inject import InjectionPlan, InjectResult
    from workbench.simulate import ChangeSet

@dataclass
class ReviewDocument:
    review: Review
    osconf_text: str | None = None  # as the operator wrote it (masked when shown)
    osconf_problems: list = field(default_factory=list)
    changeset: ChangeSet | None = None
    plan: InjectionPlan | None = None
    inject_result: InjectResult | None = None
    notes: list[str] = field(default_factory=list)
    import_plan: ImportPlan | None = None  # the ImportImage request the review implies
    import_commands: dict[str, str] = field(default_factory=dict)  # ossutil, aliyun, terraform
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S %Z"))


def advisory_data() -> dict:
    from workbench.checks.vulns import load_advisories

    adv = load_advisories()
    return {"bundled_advisories": len(adv.advisories),
            "ids": sorted(x for a in adv.advisories for x in a.aliases if x.startswith("CVE-")),
            "reviewed": sorted({a.reviewed for a in adv.advisories} - {""})}


def to_json(doc: ReviewDocument) -> dict:
    """The check document (workbench.check/1) with the rest of the review added."""
    out = doc.review.to_json()
    out["report"] = {
        "schema": "workbench.report/1", "created": doc.created, "verdict": verdict(doc.review),
        "versions": {"workbench": __version__, **advisory_data()},
        "os_conf": {"text": mask("os.conf", doc.osconf_text),
                    "problems": [p.line() for p in doc.osconf_problems]} if doc.osconf_text is not None else None,
        "simulation": doc.changeset.to_json() if doc.changeset is not None else None,
        "injection": (doc.inject_result.to_json() if doc.inject_result is not None
                      else {"plan": doc.plan.to_json()} if doc.plan is not None else None),
        "import": ({**doc.import_plan.to_json(), "commands": doc.import_commands}
                   if doc.import_plan is not None else None),
        "notes": doc.notes,
    }
    if out["report"]["simulation"]:
        for c in out["report"]["simulation"]["changes"]:
            c["before"], c["after"] = mask(c["path"], c["before"]), mask(c["path"], c["after"])
        out["report"]["simulation"]["log"] = mask("os.conf", out["report"]["simulation"]["log"])
    return out


SUFFIXES = (".md", ".html", ".htm", ".json")


def render(doc: ReviewDocument, suffix: str) -> str:
    """The document in the format its file name asks for."""
    from workbench.report.html import to_html
    from workbench.report.markdown import to_markdown

    suffix = suffix.lower()
    if suffix == ".md":
        return to_markdown(doc)
    if suffix in (".html", ".htm"):
        return to_html(doc)
    if suffix == ".json":
        return json.dumps(to_json(doc), indent=2) + "\n"
    raise ValueError(f"the report's file name must end in .md, .html or .json, not {suffix!r}")
