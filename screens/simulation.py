"""What the parser would change: files with their action, a coloured diff each, commands and log."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static

from screens.modals import PathModal
from screens.widgets.diff_view import diff_text
from screens.widgets.journey import JourneyBar
from screens.widgets.result_table import ResultTable
from workbench.parsers import FLAVORS
from workbench.report.style import ACTION_STYLE
from workbench.simulate import mask
from workbench.text import printable

AUTO = "auto"
CUSTOM = "custom"


class SimulationScreen(Screen):
    CSS_PATH = "simulation.tcss"
    BINDINGS = [
        Binding("ctrl+l", "load_script", "Load script", tooltip="Simulate a parser script of your own"),
        Binding("ctrl+r", "app.simulate_now", "Rerun", tooltip="Run the simulation again"),
        Binding("ctrl+b", "app.rehearse", "Rehearse", tooltip="Boot a throwaway copy for real and compare (minutes)"),
        Binding("ctrl+x", "app.stop_rehearsal", "Stop rehearsal", tooltip="Kill the boot, remove the throwaway copy"),
        Binding("v", "toggle_view", "Simulated/booted", tooltip="Show the simulated or the rehearsed changes"),
    ]
    show_rehearsal = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield JourneyBar("simulation")
        with Horizontal(id="sim-top"):
            yield Select([(f"{f.name}: {f.description}", f.name) for f in FLAVORS.values()], prompt="parser flavour",
                         allow_blank=True, id="sim-flavor")
            yield Static(id="sim-status")
        with Horizontal(id="sim-body"):
            yield ResultTable(id="sim-changes", cursor_type="row")
            with ScrollableContainer(id="sim-diff-box"):
                yield Static(id="sim-diff")
        with Horizontal(id="sim-bottom"):
            yield Static(id="sim-commands")
            yield Static(id="sim-log")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sim-changes", DataTable)
        table.border_title = "Changed files"
        table.add_columns("action", "path")
        self.query_one("#sim-diff-box").border_title = "Diff"
        self.query_one("#sim-commands").border_title = "Commands"
        self.query_one("#sim-log").border_title = "Parser log"
        self._changes = {}
        self.update_view()
        table.focus()

    def on_screen_resume(self) -> None:
        self.update_view()
        self.query_one("#sim-changes").focus()

    def update_view(self) -> None:
        if not self.is_mounted:
            return
        app = self.app.state
        choice = app.parser_choice()
        select = self.query_one("#sim-flavor", Select)
        with select.prevent(Select.Changed):
            if app.options.script is None and select.value != choice.flavor:
                select.value = choice.flavor
        cs = app.changeset
        reh = app.rehearsal
        if self.show_rehearsal and reh is not None:
            cs = reh.real
        status = Text()
        if app.options.script is not None:
            status.append("custom script", style="bold magenta")
        else:
            status.append(f"{choice.flavor}", style="bold")
            status.append(f" ({printable(choice.reason, 100)})", style="dim")
        if app.simulation_error:
            status.append(f"\n{printable(app.simulation_error, 300)}", style="red")
        elif cs is None:
            status.append("\nwaiting for the appliance to read the guest…", style="dim")
        else:
            code = "timed out" if cs.exit_code is None else str(cs.exit_code)
            status.append("\nexit code ")
            status.append(code, style="green" if cs.exit_code == 0 else "bold red")
            status.append(f" · {len(cs.changes)} changes · {len(cs.commands)} commands")
        ui = self.app.ui
        phase = ui.rehearsal_phase
        if phase:
            status.append(f"\nrehearsal: {printable(phase, 80)}…", style="cyan")
        elif reh is not None:
            status.append("\nrehearsal: ")
            status.append("matches the simulation" if reh.matches_simulation else
                          f"{len(reh.mismatches)} mismatch(es)", style="green" if reh.matches_simulation else "bold red")
            status.append(" · ")
            status.append("network as the os.conf says" if reh.network_matches else
                          f"{len(reh.network_mismatches)} network mismatch(es)",
                          style="green" if reh.network_matches else "bold red")
            status.append(f" · host name {printable(reh.hostname_seen or 'not seen', 40)} · "
                          + ("showing the booted changes (v: simulated)" if self.show_rehearsal
                             else "v shows the booted changes"))
        elif app.rehearsal_error:
            status.append(f"\nrehearsal failed: {printable(app.rehearsal_error, 200)}", style="red")
        elif ui.rehearsal_stopped:
            status.append("\nrehearsal: stopped · ctrl+b starts another")
        self.query_one("#sim-status", Static).update(status)
        self.refresh_bindings()
        self._fill(cs)
        if phase or (self.show_rehearsal and reh is not None):
            self.show_console()

    def _fill(self, cs) -> None:
        self._changes = {str(i): ch for i, ch in enumerate(cs.changes if cs else [])}
        shown = self.query_one("#sim-changes", ResultTable).refill(
            (key, (Text(ch.action, style=ACTION_STYLE.get(ch.action, "")),
                   Text(printable(ch.path, 120) + ("/" if ch.kind == "dir" else ""))))
            for key, ch in self._changes.items())
        if shown is not None:
            self._show(shown)
        else:
            self.query_one("#sim-diff", Static).update("")
        commands = Text()
        for argv in (cs.commands if cs else [])[:50]:
            commands.append(printable(" ".join(argv), 200) + "\n")
        self.query_one("#sim-commands", Static).update(commands)
        log = mask("os.conf", cs.log) if cs else ""
        self.query_one("#sim-log", Static).border_title = "Parser log"
        self.query_one("#sim-log", Static).update(Text("\n".join(printable(ln, 300) for ln in log.splitlines()[-40:]),
                                                       style="dim"))

    def show_console(self) -> None:
        """During a rehearsal the log pane follows the guest's console; after it, the comparison."""
        app = self.app.state
        reh = app.rehearsal
        boxes = self.query("#sim-log").results(Static)
        box = next(boxes, None)
        if box is None:  # the app is quitting while the guest still prints
            return
        ui = self.app.ui
        if ui.rehearsal_phase or reh is None:
            box.border_title = "Console (rehearsal boot)"
            box.update(Text("\n".join(printable(ln, 200) for ln in ui.console_lines[-30:]), style="dim"))
            return
        box.border_title = "Rehearsal compared with the simulation"
        t = Text()
        if reh.failure:
            t.append(f"why: {printable(reh.failure, 300)}\n", style="bold red")
        # the live network beside the os.conf's intent, what does not match first
        t.append("live network ", style="bold")
        t.append("matches the os.conf\n" if reh.network_matches else "does NOT match the os.conf\n",
                 style="green" if reh.network_matches else "bold red")
        for m in reh.network_mismatches:
            t.append(f"✘ {printable(m, 200)}\n", style="red")
        if reh.network:
            t.append(f"  {'':<30} {'os.conf wants':<34} live guest\n", style="bold dim")
        for row in sorted(reh.network, key=lambda r: r.problem is None):
            t.append("✘ " if row.problem else "✔ ", style="red" if row.problem else "green")
            t.append(f"{printable(row.item, 30):<30} {printable(row.intent, 34):<34} {printable(row.seen, 80)}\n")
        for m in reh.mismatches:
            t.append(f"✘ {printable(m, 200)}\n", style="red")
        if not reh.mismatches:
            t.append("✔ every file changed as simulated\n", style="green")
        if len(reh.boots) > 1:
            from workbench.rehearse.reboots import boot_line

            for held, words in map(boot_line, reh.boots):
                t.append("✔ " if held else "✘ ", style="green" if held else "red")
                t.append(printable(words, 200) + "\n", style="" if held else "red")
        t.append(f"os.conf {'removed' if reh.os_conf_removed else 'NOT removed'} · parser "
                 f"{'finished' if reh.parser_finished else 'did not finish'}\n")
        for ln in reh.console_tail[-12:]:
            t.append(printable(ln, 200) + "\n", style="dim")
        box.update(t)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "toggle_view":
            return self.app.state.rehearsal is not None
        return True

    def action_toggle_view(self) -> None:
        self.show_rehearsal = not self.show_rehearsal and self.app.state.rehearsal is not None
        self.update_view()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self._show(event.row_key.value)

    def _show(self, key: str | None) -> None:
        ch = self._changes.get(key)
        box = self.query_one("#sim-diff", Static)
        if ch is None:
            box.update("")
            return
        self.query_one("#sim-diff-box").border_title = Text(f"{ch.action} {printable(ch.path, 80)}")
        box.update(diff_text(ch))

    def on_select_changed(self, event: Select.Changed) -> None:
        value = event.value
        if value is Select.BLANK:
            return
        self.app.choose_parser(str(value))

    def action_load_script(self) -> None:
        def done(path: str | None) -> None:
            if path:
                self.app.load_custom_script(path)

        self.app.push_screen(PathModal("Simulate this parser script"), done)
