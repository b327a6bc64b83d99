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
from workbench.report.verdict import verdict_for
from workbench.text import printable


def default_report(path: str) -> str:
    stem, _ = os.path.splitext(path)
    return f"{stem}-review.html"


def default_export(path: str) -> str:
    stem, _ = os.path.splitext(path)
    return f"{stem}-ecs.qcow2"


class ReportScreen(Screen):
    CSS_PATH = "report.tcss"
    BINDINGS = [Binding("ctrl+e", "app.export_report", "Export", tooltip="Write the report (.md, .html or .json)"),
                Binding("ctrl+y", "app.copy_import", "Copy import command",
                        tooltip="Put the aliyun ecs ImportImage command on the clipboard"),
                Binding("ctrl+k", "app.export_image", "Convert image",
                        tooltip="Convert the image for upload (qcow2, .raw or .vhd by the name), verified, "
                                "with its checksums")]

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
            with Horizontal(classes="rep-row"):
                yield Label("Upload image", classes="rep-label")
                yield Input(id="rep-export")
            yield Static(id="rep-import")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#rep-output", Input).value = default_report(self.app.path)
        self.query_one("#rep-export", Input).value = default_export(self.app.path)
        self.query_one("#rep-contents").border_title = "What the report holds"
        self.query_one("#rep-import").border_title = "Import (ImportImage)"
        self.update_view()

    def on_screen_resume(self) -> None:
        self.update_view()

    @property
    def output(self) -> str:
        return self.query_one("#rep-output", Input).value.strip()

    @property
    def export_output(self) -> str:
        return self.query_one("#rep-export", Input).value.strip()

    def update_view(self) -> None:
        if not self.is_mounted:
            return
        app = self.app.state

        t = Text()
        if app.review is None:
            t.append("Reading the image…", style="dim")
        else:
            v = verdict_for(app.review)
            style = {"ok": "bold green", "warn": "bold yellow"}.get(v.kind, "bold red")
            t.append("Verdict: ", style="bold")
            t.append(v.outcome, style=style)
            for reason in v.reasons[:6]:
                t.append(f"\n  · {printable(reason, 200)}")
            if len(v.reasons) > 6:
                t.append(f"\n  · … and {len(v.reasons) - 6} more")
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
        self.query_one("#rep-import", Static).update(self._import_text())

    def _import_text(self) -> Text:
        from workbench import importplan

        app = self.app.state
        t = Text()
        if app.review is None:
            t.append("Waiting for the review…", style="dim")
            return t
        plan = importplan.build(app.review)
        t.append("ready\n" if plan.ready else "NOT READY: the blockers below fail the import\n",
                 style="bold green" if plan.ready else "bold red")
        for key, value in plan.parameters.items():
            t.append(f"{key:<35}", style="bold")
            t.append(f"{printable(str(value), 100)}\n" if value is not None else "unknown (see the blockers)\n",
                     style="" if value is not None else "red")
        for b in plan.blockers:
            t.append(f"✘ {printable(b, 300)}\n", style="red")
        for w in plan.warnings:
            t.append(f"! {printable(w, 300)}\n", style="yellow")
        t.append("ctrl+y copies the aliyun ecs ImportImage command · ctrl+k converts the image to the path above\n",
                 style="dim")
        if self.app.ui.export_phase:
            t.append(f"export: {self.app.ui.export_phase}…\n", style="cyan")
        elif app.export_result is not None:
            r = app.export_result
            t.append(f"✔ {printable(r.output, 200)} verified · sha256 {r.sha256} · Content-MD5 {r.content_md5}\n",
                     style="green")
        elif app.export_error:
            t.append(f"export failed: {printable(app.export_error, 300)}\n", style="red")
        return t
