"""The security review: checks by area with severity, evidence and fix; fixes chosen for the inject plan."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, SelectionList, Static
from textual.widgets.selection_list import Selection

from screens.widgets.marked import MarkedSelectionList
from screens.widgets.check_detail import CheckDetail, severity_text, status_text
from screens.widgets.journey import JourneyBar
from screens.widgets.result_table import ResultTable
from workbench.checks import AREAS, SECURITY_AREAS, CheckResult
from workbench.fixes import Fix
from workbench.report.style import ACTION_STYLE
from workbench.text import printable


class SecurityScreen(Screen):
    CSS_PATH = "security.tcss"
    BINDINGS = [
        Binding("c", "app.cancel_scan", "Cancel scan", tooltip="Stop the password scan (its check then skips)"),
        Binding("f", "focus_fixes", "Fixes", tooltip="Choose the fixes the inject step will apply"),
        Binding("k", "focus_checks", "Checks", tooltip="Move to the list of checks"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield JourneyBar("security")
        with VerticalScroll(id="sec-body"):
            yield Static(id="sec-summary")
            yield ResultTable(id="sec-checks", cursor_type="row")
            yield CheckDetail(id="sec-detail", evidence_limit=30, with_severity=True, with_offers=True,
                              detail_limit=800, dim_evidence=False)
            yield MarkedSelectionList(id="sec-fixes")
            yield Static(id="sec-fix-changes")
        with Horizontal(id="scan-row"):
            yield Label("", id="scan-label")
            yield ProgressBar(total=1.0, show_eta=False, id="scan-progress")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sec-checks", DataTable)
        table.border_title = "Security checks"
        table.add_columns("area", "status", "severity", "check", "finding")
        self.query_one("#sec-detail").border_title = "Detail"
        self.query_one("#sec-fixes").border_title = "Fixes for the inject plan (space toggles)"
        self.query_one("#sec-fix-changes").border_title = "What the highlighted fix changes"
        self._results: dict[str, CheckResult] = {}
        self._fixes: dict[str, Fix] = {}
        self.update_view()
        table.focus()

    def on_screen_resume(self) -> None:
        self.update_view()

    # -- state from the app -----------------------------------------------------------------
    def update_view(self) -> None:
        if not self.is_mounted:
            return
        state = self.app.state
        review = state.review
        results = [r for r in (review.results if review else []) if r.area in SECURITY_AREAS]
        self._show_summary(results, state)
        self._fill_checks(results)
        self._fill_fixes(state.fixes, state.chosen_fixes)
        self.show_scan(self.app.ui.scan_progress)

    def _show_summary(self, results: list[CheckResult], state) -> None:
        t = Text()
        if not results:
            t.append("The security review starts once the appliance has read the guest…", style="dim")
        counts = {s: sum(r.status == s for r in results) for s in ("fail", "warn", "pass", "skip", "error")}
        if results:
            t.append(f"{counts['fail']} failed", style="bold red" if counts["fail"] else "green")
            t.append(f" · {counts['warn']} warnings · {counts['pass']} passed · {counts['skip']} skipped")
            if counts["error"]:
                t.append(f" · {counts['error']} could not finish", style="bold magenta")
            high = sum(r.status == "fail" and r.severity in ("high", "blocker") for r in results)
            if high:
                t.append(f"   {high} high-risk", style="bold red")
        if state.guest_error:
            t.append(f"\n{printable(state.guest_error)}", style="red")
        self.query_one("#sec-summary", Static).update(t)

    def _fill_checks(self, results: list[CheckResult]) -> None:
        self._results = {r.id: r for r in results}
        order = {a: i for i, a in enumerate(AREAS)}
        rows = []
        area = None
        for r in sorted(results, key=lambda r: order.get(r.area, 99)):
            label = AREAS.get(r.area, r.area) if r.area != area else ""
            area = r.area
            rows.append((r.id, (Text(label, style="bold"), status_text(r.status), severity_text(r.severity), r.id,
                                Text(printable(r.detail, 160)))))
        shown = self.query_one("#sec-checks", ResultTable).refill(rows)
        if shown is not None:
            self._show_detail(shown)

    def _fill_fixes(self, fixes: list[Fix], chosen: set[str]) -> None:
        sl = self.query_one("#sec-fixes", SelectionList)
        if [f.id for f in fixes] == list(self._fixes) and set(sl.selected) == chosen:
            return
        self._fixes = {f.id: f for f in fixes}
        with sl.prevent(SelectionList.SelectedChanged):
            sl.clear_options()
            sl.add_options([Selection(Text(f"{f.title}  ({f.id}, {len(f.changes)} file"
                                           f"{'' if len(f.changes) == 1 else 's'})"), f.id, f.id in chosen)
                            for f in fixes])
        if not fixes:
            self.query_one("#sec-fix-changes", Static).update(Text("No fixes are offered yet.", style="dim"))
        else:
            self._show_fix(fixes[0].id)

    def show_scan(self, progress) -> None:
        row = self.query_one("#scan-row")
        if progress is None or progress.done >= progress.total:
            row.display = False
            return
        row.display = True
        self.query_one("#scan-label", Label).update(
            Text(f"Password scan: {progress.done} of {progress.total} tries, {progress.found} found (c cancels)"))
        self.query_one("#scan-progress", ProgressBar).update(total=max(1, progress.total), progress=progress.done)

    # -- interaction -----------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self._show_detail(event.row_key.value)

    def _show_detail(self, check_id: str | None) -> None:
        self.query_one("#sec-detail", CheckDetail).show(self._results.get(check_id))

    def on_selection_list_selection_highlighted(self, event: SelectionList.SelectionHighlighted) -> None:
        self._show_fix(event.selection.value)

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        self.app.choose_fixes(set(event.selection_list.selected))

    def _show_fix(self, fix_id: str) -> None:
        fix = self._fixes.get(fix_id)
        if fix is None:
            return
        t = Text()
        t.append(printable(fix.title), style="bold")
        t.append(f"  for {', '.join(fix.checks)}")
        for ch in fix.changes[:40]:
            t.append(f"\n  {ch.action:<7} {printable(ch.path, 200)}", style=ACTION_STYLE[ch.action])
        for cmd in fix.commands:
            t.append(f"\n  {'run':<7} {printable(cmd.shown(), 200)}", style="magenta")
            t.append(f"  (in the appliance; replaces {printable(', '.join(cmd.replaces), 200)})", style="dim")
        for note in fix.notes:
            t.append(f"\n  {printable(note)}", style="dim")
        self.query_one("#sec-fix-changes", Static).update(t)

    def action_focus_fixes(self) -> None:
        sl = self.query_one("#sec-fixes", SelectionList)
        if sl.highlighted is None and sl.option_count:
            sl.highlighted = 0
        sl.focus()

    def action_focus_checks(self) -> None:
        self.query_one("#sec-checks").focus()
