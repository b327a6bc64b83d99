"""The boot rehearsal in the App: start, live console, stop (ctrl+x or quitting), and the comparison."""

from __future__ import annotations

from textual import work
from textual.worker import get_current_worker

from screens.messages import ConsoleLine, Notice, RehearsalDone, RehearsalProgress
from workbench import osconf


class RehearsalFlow:
    """Mixin for WorkbenchApp: the rehearsal worker and its messages."""

    @work(thread=True, exclusive=True, exit_on_error=False, group="rehearse")
    def run_rehearsal(self) -> None:
        # cancelled by ctrl+x, and by Textual when the app quits: the guest is killed then, not left running
        result = self.state.compute_rehearsal(progress=lambda p: self.post_message(RehearsalProgress(p.phase)),
                                              console=lambda line: self.post_message(ConsoleLine(line)),
                                              notify=lambda t: self.post_message(Notice(t)),
                                              cancel=get_current_worker().cancelled_event)
        self.post_message(RehearsalDone(result))

    # -- rehearsal ---------------------------------------------------------------------------------
    def action_rehearse(self) -> None:
        st = self.state
        if not st.guest_ready:
            self.notify("The rehearsal needs the guest read first", severity="warning")
            return
        conf, _ = osconf.from_values(st.osconf_values)
        if conf is None:
            self.notify("The rehearsal needs a valid os.conf (step 3)", severity="warning")
            return
        st.take_rehearsal(None)
        self.ui.console_lines = []
        self.ui.rehearsal_phase = "starting"
        self.ui.rehearsal_stopped = False
        self._refresh_screens()
        self.run_rehearsal()

    def action_stop_rehearsal(self) -> None:
        if self._busy("rehearse"):
            self.ui.rehearsal_phase = "stopping"
            self.ui.rehearsal_stopped = True
            self.workers.cancel_group(self, "rehearse")
            self._refresh_screens()

    def on_rehearsal_progress(self, message: RehearsalProgress) -> None:
        self.ui.rehearsal_phase = message.phase
        self._refresh_screens()

    def on_console_line(self, message: ConsoleLine) -> None:
        self.ui.add_console_line(message.line)
        if self.is_screen_installed("simulation") and self.screen is self.get_screen("simulation"):
            self.screen.show_console()

    def on_rehearsal_done(self, message: RehearsalDone) -> None:
        self.state.take_rehearsal(message.result)
        self.ui.rehearsal_phase = None
        self.get_screen("simulation").show_rehearsal = True  # the comparison first; v goes back
        self._refresh_screens()
        verdict = "matches the simulation" if message.result.matches_simulation else "differs from the simulation"
        self.notify(f"Rehearsal done: the boot {verdict}")
