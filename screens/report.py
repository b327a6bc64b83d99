"""The report: the verdict, and the whole review exported as Markdown, HTML or JSON."""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static

from screens.widgets.journey import JourneyBar
from workbench.report.verdict import verdict
from workbench.text import printable


def default_report(path: str) -> str:
    stem, _ = os.path.splitext(path)
    return f"{stem}-review.html"


class ReportScreen(Screen):
    CSS_PATH = "report.tcss"
    BINDINGS = [Binding("ctrl+e", "app.export_report", "Export", tooltip="Write the report (.md, .html or .json)")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield JourneyBar("report")
        with VerticalScroll(id="rep-body"):
            yield Static(id="rep-verdict")
            with Horizontal(classes="rep-row"):
                yield Label("Report file", classes="rep-label")
                yield Input(id="rep-output")
            yield Static(id="rep-contents")
            yield Static(id="rep-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#rep-output", Input).value = default_report(self.app.path)
        self.query_one("#rep-contents").border_title = "What the report holds"
        self.update_view()

    def on_screen_resume(self) -> None:
        self.update_view()

    @property
    def output(self) -> str:
        return self.query_one("#rep-output", Input).value.strip()

    def update_view(self) -> None:
        if not self.is_mounted:
            return
        app = self.app.state

        t = Text()
        if app.review is None:
            t.append("Reading the image…", style="dim")
        else:
            v = verdict(app.review)
            style = "bold green" if v == "ready to import" else "bold red" if v.startswith("will be") else "bold yellow"
            t.append("Verdict: ", style="bold")
            t.append(v, style=style)
        self.query_one("#rep-verdict", Static).update(t)
        c = Text()
        review = app.review
        n_checks = len(review.results) if review else 0
        c.append(f"image facts and the partition map · {n_checks} checks with evidence and fixes\n")
        c.append("the os.conf (password masked) · ")
        cs = app.changeset
        c.append(f"the simulated first boot ({len(cs.changes)} changes as diffs)" if cs else "no simulation yet")
        c.append("\n")
        res = app.inject_result
        c.append(f"the injection result, verified ({printable(res.output, 80)})" if res is not None
                 else "the injection plan (not written yet)")
        c.append(" · versions of the workbench and the advisory data")
        self.query_one("#rep-contents", Static).update(c)
        status = Text()
        if app.report_path:
            status.append(f"✔ exported to {printable(app.report_path, 200)}", style="green")
        self.query_one("#rep-status", Static).update(status)
