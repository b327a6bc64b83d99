"""The pane under a list of checks: the highlighted check's status, detail, evidence and fix."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from workbench.checks import CheckResult
from workbench.report.style import SEVERITY_STYLE, STATUS_CELL, STATUS_STYLE
from workbench.text import printable


def status_text(status: str) -> Text:
    return Text(STATUS_CELL[status], style=STATUS_STYLE[status])


def severity_text(sev: str) -> Text:
    return Text(sev, style=SEVERITY_STYLE.get(sev, ""))


class CheckDetail(Static):
    """show() a CheckResult (or nothing). Everything in it came from the image: shown as plain Text."""

    def __init__(self, *, evidence_limit: int = 8, with_severity: bool = False, with_offers: bool = False,
                 detail_limit: int = 600, dim_evidence: bool = True, id: str | None = None) -> None:
        """dim_evidence: all evidence dim (a short pane), or dim only for passes (findings stand out)."""
        super().__init__(id=id)
        self.evidence_limit = evidence_limit
        self.with_severity = with_severity
        self.with_offers = with_offers
        self.detail_limit = detail_limit
        self.dim_evidence = dim_evidence

    def show(self, r: CheckResult | None) -> None:
        if r is None:
            self.update("")
            return
        self.border_title = Text(r.title)
        t = Text()
        t.append_text(status_text(r.status))
        if self.with_severity:
            t.append("  ")
            t.append_text(severity_text(r.severity))
        t.append(f"  {printable(r.detail, self.detail_limit)}")
        style = "dim" if self.dim_evidence or r.status == "pass" else ""
        for ev in r.evidence[:self.evidence_limit]:
            t.append(f"\n  · {printable(ev, 400)}", style=style)
        if len(r.evidence) > self.evidence_limit:
            t.append(f"\n  · … and {len(r.evidence) - self.evidence_limit} more", style="dim")
        if r.fix:
            t.append("\nFix: ", style="bold cyan")
            t.append(printable(r.fix, 600))
        if self.with_offers and r.offers:
            t.append("\nOffered: " + ", ".join(r.offers), style="cyan")
        self.update(t)
