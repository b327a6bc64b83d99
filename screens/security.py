"""The security review: checks by area with severity, evidence and fix; fixes chosen for the inject plan."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from screens.journey import JourneyBar
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, SelectionList, Static
from textual.widgets.selection_list import Selection

from screens.overview import status_text
from workbench.checks import AREAS, CheckResult
from workbench.fixes import Fix
from workbench.units import printable

SEVERITY_STYLE = {"blocker": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def severity_text(sev: str) -> Text:
    return Text(sev, style=SEVERITY_STYLE.get(sev, ""))


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
            yield DataTable(id="sec-checks", cursor_type="row")
            yield Static(id="sec-detail")
            yield SelectionList[str](id="sec-fixes")
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
        app = self.app
        review = getattr(app, "review", None)
        results = [r for r in (review.results if review else []) if r.area != "limits"]
        self._show_summary(results, app)
        self._fill_checks(results)
        self._fill_fixes(getattr(app, "fixes", []), getattr(app, "chosen_fixes", set()))
        self.show_scan(getattr(app, "scan_progress", None))

    def _show_summary(self, results: list[CheckResult], app) -> None:
        t = Text()
        if not results:
            t.append("The security review starts once the appliance has read the guest…", style="dim")
        counts = {s: sum(r.status == s for r in results) for s in ("fail", "warn", "pass", "skip")}
        if results:
            t.append(f"{counts['fail']} failed", style="bold red" if counts["fail"] else "green")
            t.append(f" · {counts['warn']} warnings · {counts['pass']} passed · {counts['skip']} skipped")
            high = sum(r.status == "fail" and r.severity in ("high", "blocker") for r in results)
            if high:
                t.append(f"   {high} high-risk", style="bold red")
        if getattr(app, "guest_error", None):
            t.append(f"\n{printable(app.guest_error)}", style="red")
        self.query_one("#sec-summary", Static).update(t)

    def _fill_checks(self, results: list[CheckResult]) -> None:
        table = self.query_one("#sec-checks", DataTable)
        keep = table.cursor_row
        table.clear()
        self._results = {r.id: r for r in results}
        order = {a: i for i, a in enumerate(AREAS)}
        area = None
        for r in sorted(results, key=lambda r: order.get(r.area, 99)):
            label = AREAS.get(r.area, r.area) if r.area != area else ""
            area = r.area
            table.add_row(Text(label, style="bold"), status_text(r.status), severity_text(r.severity), r.id,
                          printable(r.detail, 160), key=r.id)
        if results:
            table.move_cursor(row=min(keep, len(results) - 1))
            row = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self._show_detail(row)

    def _fill_fixes(self, fixes: list[Fix], chosen: set[str]) -> None:
        sl = self.query_one("#sec-fixes", SelectionList)
        if [f.id for f in fixes] == list(self._fixes) and set(sl.selected) == chosen:
            return
        self._fixes = {f.id: f for f in fixes}
        with sl.prevent(SelectionList.SelectedChanged):
            sl.clear_options()
            sl.add_options([Selection(f"{f.title}  ({f.id}, {len(f.changes)} file"
                                      f"{'' if len(f.changes) == 1 else 's'})", f.id, f.id in chosen)
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
            f"Password scan: {progress.done} of {progress.total} tries, {progress.found} found (c cancels)")
        self.query_one("#scan-progress", ProgressBar).update(total=max(1, progress.total), progress=progress.done)

    # -- interaction -----------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self._show_detail(event.row_key.value)

    def _show_detail(self, check_id: str | None) -> None:
        r = self._results.get(check_id)
        box = self.query_one("#sec-detail", Static)
        if r is None:
            box.update("")
            return
        box.border_title = r.title
        t = Text()
        t.append_text(status_text(r.status))
        t.append("  ")
        t.append_text(severity_text(r.severity))
        t.append(f"  {printable(r.detail, 800)}")
        for ev in r.evidence[:30]:
            t.append(f"\n  · {printable(ev, 400)}", style="dim" if r.status == "pass" else "")
        if len(r.evidence) > 30:
            t.append(f"\n  · … and {len(r.evidence) - 30} more", style="dim")
        if r.fix:
            t.append("\nFix: ", style="bold cyan")
            t.append(printable(r.fix, 600))
        if r.offers:
            t.append("\nOffered: " + ", ".join(r.offers), style="cyan")
        box.update(t)

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
            t.append(f"\n  {ch.action:<7} {printable(ch.path, 200)}", style={"delete": "red", "modify": "yellow",
                                                                              "create": "green"}[ch.action])
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
