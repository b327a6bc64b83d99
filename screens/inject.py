"""Inject: the plan (per-file diffs), where it goes, a confirmation, progress, the verification."""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Label, ProgressBar, Static

from screens.widgets.marked import MarkedCheckbox
from screens.widgets.diff_view import command_text, diff_text
from screens.widgets.journey import JourneyBar
from screens.widgets.result_table import ResultTable
from workbench.report.style import ACTION_STYLE
from workbench.text import printable


def default_output(path: str) -> str:
    stem, ext = os.path.splitext(path)
    return f"{stem}-ecs{ext or '.qcow2'}"


class InjectScreen(Screen):
    CSS_PATH = "inject.tcss"
    BINDINGS = [
        Binding("ctrl+w", "app.write_image", "Write image", tooltip="Write the plan into a new image (asks first)"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield JourneyBar("inject")
        with Horizontal(id="inj-top"):
            with Vertical(id="inj-where"):
                with Horizontal(classes="inj-row"):
                    yield Label("Output image", classes="inj-label")
                    yield Input(id="inj-output")
                yield MarkedCheckbox("Write into the source image itself (asks you to type its name)", id="inj-in-place")
                yield MarkedCheckbox("Also place the current os.conf on the first partition (to test with)",
                               id="inj-osconf")
            yield Static(id="inj-summary")
        with Horizontal(id="inj-body"):
            yield ResultTable(id="inj-writes", cursor_type="row")
            with ScrollableContainer(id="inj-diff-box"):
                yield Static(id="inj-diff")
        with Horizontal(id="inj-progress-row"):
            yield Label("", id="inj-progress-label")
            yield ProgressBar(total=None, show_eta=False, id="inj-progress")
        yield Static(id="inj-result")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#inj-writes", DataTable)
        table.border_title = "The plan"
        table.add_columns("action", "path", "why")
        self.query_one("#inj-diff-box").border_title = "Change"
        self.query_one("#inj-result").border_title = "Verification"
        self.query_one("#inj-output", Input).value = default_output(self.app.path)
        self._changes = {}
        self.update_view()
        table.focus()

    def on_screen_resume(self) -> None:
        self.update_view()

    @property
    def output(self) -> str:
        return self.query_one("#inj-output", Input).value.strip()

    @property
    def in_place(self) -> bool:
        return self.query_one("#inj-in-place", Checkbox).value

    @property
    def with_osconf(self) -> bool:
        return self.query_one("#inj-osconf", Checkbox).value

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.query_one("#inj-output", Input).disabled = self.in_place
        if event.checkbox.id == "inj-osconf":
            self.update_view()

    def update_view(self) -> None:
        if not self.is_mounted:
            return
        app = self.app.state
        plan, why = app.injection_plan(self.with_osconf)
        summary = Text()
        if plan is None:
            summary.append(printable(why or "waiting for the appliance…", 300), style="yellow")
        else:
            step = app.step("inject")
            if step.state == "blocked":
                summary.append(f"Writing is disabled: {printable(step.reason, 200)}\n", style="bold yellow")
            summary.append(f"parser {plan.flavor} · init {plan.init}\n", style="bold")
            summary.append(f"{len(plan.writes)} writes · fixes: {', '.join(plan.fixes) or 'none chosen (2 Security)'}")
            for note in plan.notes:
                summary.append(f"\n{printable(note, 200)}", style="dim")
        self.query_one("#inj-summary", Static).update(summary)
        shown = plan.shown() if plan else []
        self._changes = {str(i): ch for i, ch in enumerate(shown)}
        rows = [(str(i), (Text(ch.action, style=ACTION_STYLE.get(ch.action, "")), Text(printable(ch.path, 100)),
                          Text(printable(ch.reason, 60)))) for i, ch in enumerate(shown)]
        for n, (fix_id, cmd) in enumerate(plan.commands if plan else []):
            key = f"cmd{n}"  # a command: what runs in the appliance and what it replaces, said as it is
            self._changes[key] = (cmd.shown(), plan.command_text(cmd))
            rows.append((key, (Text("run", style="magenta"), Text(printable(cmd.shown(), 100)),
                               Text(printable(fix_id, 60)))))
        shown = self.query_one("#inj-writes", ResultTable).refill(rows)
        if shown is not None:
            self._show(shown)
        self.show_progress(self.app.ui.inject_phase)
        self.show_result(app.inject_result, app.inject_error)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self._show(event.row_key.value)

    def _show(self, key: str | None) -> None:
        ch = self._changes.get(key)
        if isinstance(ch, tuple):
            shown, text = ch
            self.query_one("#inj-diff-box").border_title = Text(f"run {printable(shown, 80)}")
            self.query_one("#inj-diff", Static).update(command_text(text))
        elif ch is not None:
            self.query_one("#inj-diff-box").border_title = Text(f"{ch.action} {printable(ch.path, 80)}")
            self.query_one("#inj-diff", Static).update(diff_text(ch))

    def show_progress(self, phase: str | None) -> None:
        row = self.query_one("#inj-progress-row")
        row.display = bool(phase)
        if phase:
            self.query_one("#inj-progress-label", Label).update(Text(printable(phase, 100)))

    def show_result(self, result, error: str | None) -> None:
        box = self.query_one("#inj-result", Static)
        if error:
            box.display = True
            box.update(Text(printable(error, 500), style="bold red"))
            return
        if result is None:
            box.display = False
            return
        box.display = True
        t = Text()
        t.append("✔ verified: " if result.ok else "✘ verification failed: ", style="green" if result.ok else "bold red")
        t.append(f"{printable(result.output, 200)} ({len(result.written)} written, {len(result.unchanged)} already "
                 f"in place, {result.seconds:.0f} s)\nSELinux: {printable(result.labelling, 200)}")
        for v in result.verified:
            t.append(f"\n  {'✔' if v.ok else '✘'} {printable(v.path, 100)}: {printable(v.detail, 120)}",
                     style="" if v.ok else "red")
        box.update(t)
