"""WorkbenchApp: the Textual front end over the core's review session (make_app is shared by the CLI and tests).

The App holds one ReviewSession (workbench/state.py, the same the CLI drives) and the UI's own progress
(screens/ui_state.py); thin thread workers call the session's compute_* steps and post typed messages
(screens/messages.py) whose handlers give the outcome to the session's take_* and redraw the screens, which
only read. Worker errors arrive in one handler.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from screens.error import ErrorModal
from screens.flow_inject import InjectFlow
from screens.flow_rehearsal import RehearsalFlow
from screens.help import HelpScreen
from screens.inject import InjectScreen
from screens.messages import (ChecksDone, ChecksProgress, FactsReady, GuestProgress, GuestReady,
                              Notice, SimulationDone)
from screens.osconf import OsConfScreen
from screens.palette import review_commands
from screens.overview import OverviewScreen
from screens.report import ReportScreen
from screens.security import SecurityScreen
from screens.simulation import SimulationScreen
from screens.ui_state import UiState
from screens.widgets.journey import JourneyBar
from workbench import osconf
from workbench.errors import WorkbenchError
from workbench.image.appliance import expected_launch_seconds
from workbench.image.preflight import ImageFacts
from workbench.image.session import Progress
from workbench.state import Opener, ReviewOptions, ReviewSession
from workbench.text import printable

SCREENS = {"overview": OverviewScreen, "security": SecurityScreen, "osconf": OsConfScreen,
           "simulation": SimulationScreen, "inject": InjectScreen, "report": ReportScreen}


class WorkbenchApp(InjectFlow, RehearsalFlow, App[int]):
    TITLE = "workbench"
    BINDINGS = [
        Binding("1", "show('overview')", "Limits", tooltip="Image facts, partitions and import limits"),
        Binding("2", "show('security')", "Security", tooltip="Passwords, SSH, services and vulnerabilities"),
        Binding("3", "show('osconf')", "os.conf", tooltip="Write and check the os.conf the platform provides"),
        Binding("4", "show('simulation')", "Simulation", tooltip="What the parser would change at first boot"),
        Binding("5", "show('inject')", "Inject", tooltip="Write the parser and the chosen fixes into an image"),
        Binding("6", "show('report')", "Report", tooltip="Export the whole review as a document"),
        Binding("question_mark", "help", "Help", tooltip="Each step in two lines"),
        Binding("o", "show('overview')", "Overview", show=False),
        Binding("s", "show('security')", "Security", show=False),
        Binding("q", "quit", "Quit", tooltip="Leave the workbench (the image is never modified)"),
    ]

    def __init__(self, path: str, facts: ImageFacts | None = None, guest_opener: Opener | None = None,
                 options: ReviewOptions | None = None):
        super().__init__()
        self.path = path
        self.state = ReviewSession(path, options or ReviewOptions(), opener=guest_opener)
        self.state.set_osconf_values(osconf.parse_text(osconf.EXAMPLE_VPC)[0])
        self.ui = UiState()
        self._facts = facts
        self._cancel_scan = threading.Event()
        self._launch_started: float | None = None
        self._progress_phase = ""
        self._sim_timer = None

    @property
    def overview(self) -> OverviewScreen:
        return self.get_screen("overview")  # type: ignore[return-value]

    def on_mount(self) -> None:
        for name, cls in SCREENS.items():
            self.install_screen(cls(), name)
        self.push_screen("overview")
        self.sub_title = self.path
        self.set_interval(0.5, self._tick_launch)
        if self._facts is not None:
            self.post_message(FactsReady(self._facts))
        else:
            self.run_preflight()

    def on_unmount(self) -> None:
        self.state.close()

    # -- workers: thin wrappers over the session's steps ----------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight")
    def run_preflight(self) -> None:
        self.post_message(FactsReady(self.state.preflight()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="guest")
    def run_guest(self) -> None:
        report, appliance = self.state.read_guest(lambda p: self.post_message(GuestProgress(p)),
                                                  lambda text: self.post_message(Notice(text)), keep=True)
        self.post_message(GuestReady(report, appliance))

    @work(thread=True, exclusive=True, exit_on_error=False, group="checks")
    def run_review(self) -> None:
        """Every check, off the UI thread: the password scan alone can take a while (yescrypt)."""
        self._cancel_scan = cancel = threading.Event()
        results, fixes = self.state.compute_checks(lambda p: self.post_message(ChecksProgress(p)), cancel)
        self.post_message(ChecksDone(results, fixes))

    @work(thread=True, exclusive=True, exit_on_error=False, group="simulate")
    def run_simulation(self) -> None:
        self.post_message(SimulationDone(self.state.compute_simulation()))

    # -- redrawing -------------------------------------------------------------------
    def _mounted_screens(self) -> list[Screen]:
        """The screens to redraw; none once the app is closing (a worker's late message may still arrive then)."""
        return [self.get_screen(name) for name in SCREENS
                if self.is_screen_installed(name) and self.get_screen(name).is_mounted]

    def _refresh_screens(self) -> None:
        for screen in self._mounted_screens():
            screen.update_view()
            for bar in screen.query(JourneyBar):
                bar.refresh()

    def _refresh_journey(self) -> None:
        for screen in self._mounted_screens():
            for bar in screen.query(JourneyBar):
                bar.refresh()

    # -- results -------------------------------------------------------------------
    def on_facts_ready(self, message: FactsReady) -> None:
        self.state.take_facts(message.facts)
        self.sub_title = message.facts.name
        self.state.check()  # host side only until the guest is read: instant
        self._refresh_screens()
        self.run_guest()

    def on_guest_progress(self, message: GuestProgress) -> None:
        p = message.progress
        if p.phase.startswith("Starting") and self._launch_started is None:
            self._launch_started = time.monotonic()
        elif not p.phase.startswith("Starting"):
            self._launch_started = None
        self._progress_phase = p.phase
        self.overview.show_progress(p)

    def _tick_launch(self) -> None:
        """The appliance reports little while it boots: estimate from the expected launch time."""
        if self._launch_started is None:
            return
        elapsed = time.monotonic() - self._launch_started
        expected = expected_launch_seconds()
        self.overview.show_progress(Progress(self._progress_phase, min(0.95, elapsed / expected),
                                             f"{elapsed:.0f} s of about {expected:.0f} s"))

    def on_guest_ready(self, message: GuestReady) -> None:
        self._launch_started = None
        self.state.take_guest(message.report, message.session)
        self.overview.show_progress(Progress("Ready", 1.0))
        self.state.checks_running = True
        self.run_review()
        self._refresh_screens()
        self.simulate_now()

    def on_checks_progress(self, message: ChecksProgress) -> None:
        self.ui.scan_progress = message.progress
        security = self.get_screen("security")
        if security.is_mounted:
            security.show_scan(message.progress)

    def on_checks_done(self, message: ChecksDone) -> None:
        self.state.take_checks(message.results, message.fixes)
        self.ui.scan_progress = None
        self._refresh_screens()

    def on_simulation_done(self, message: SimulationDone) -> None:
        self.state.take_simulation(message.changeset)
        self._refresh_screens()

    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, severity="warning", timeout=8)

    def choose_fixes(self, chosen: set[str]) -> None:
        """The fixes the inject step will apply (chosen on the security screen)."""
        self.state.choose_fixes(chosen)
        self._refresh_journey()

    # -- os.conf and the simulation --------------------------------------------------------------
    def set_osconf(self, values: dict[str, str]) -> None:
        """The form changed: keep the values and simulate again once typing pauses."""
        self.state.set_osconf_values(values)
        if self._sim_timer is not None:
            self._sim_timer.stop()
        self._sim_timer = self.set_timer(0.3, self.simulate_now)

    def choose_parser(self, flavor: str) -> None:
        self.state.choose_parser(flavor)
        self.simulate_now()

    def load_custom_script(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
        except OSError as e:
            self.notify(f"{path} cannot be read ({e.strerror})", severity="error")
            return
        self.state.choose_parser(None, data.decode("utf-8", "replace"))
        self.simulate_now()

    def action_simulate_now(self) -> None:
        self.simulate_now()

    def simulate_now(self) -> None:
        if self.state.guest_ready:
            self.run_simulation()

    # -- errors ------------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors arrive: a modal with the error's own title and one sentence."""
        group = event.worker.group
        if event.state == WorkerState.CANCELLED and group == "rehearse" and self.ui.rehearsal_stopped:
            # the worker's thread kills the guest and removes the overlay as soon as it sees the cancel
            self.ui.rehearsal_phase = None
            self._refresh_screens()
            self.notify("Rehearsal stopped: the guest is being killed and the throwaway copy removed")
            return
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        known = isinstance(error, WorkbenchError)
        text = str(error) if known else f"Unexpected error: {type(error).__name__}: {error}"
        title = error.title if known else f"The {group or 'background'} step failed unexpectedly"
        self._launch_started = None
        on_error = self.ERROR_HANDLERS.get(group)
        if on_error is not None and on_error(self, text):
            return  # the handler showed it its own way
        if group == "preflight":
            self.push_screen(ErrorModal(title, text), lambda _: self.exit(2, return_code=2))
            return
        self._refresh_screens()
        self.push_screen(ErrorModal(title, text))

    def _guest_failed(self, text: str) -> bool:
        """The guest could not be read: the checks that need it say so (skip), the rest stand."""
        self.state.take_guest(None, None, text)
        self.state.check()
        return False

    def _checks_failed(self, text: str) -> bool:
        self.state.checks_running = False
        return False

    def _simulation_failed(self, text: str) -> bool:
        self.state.take_simulation(None, text)  # shown on the simulation screen, not as a modal
        self._refresh_screens()
        return True

    def _inject_failed(self, text: str) -> bool:
        self.ui.inject_phase = None
        self.state.take_inject(None, text)
        return False

    def _rehearsal_failed(self, text: str) -> bool:
        self.ui.rehearsal_phase = None
        self.state.take_rehearsal(None, text)
        return False

    def _export_failed(self, text: str) -> bool:
        self.ui.export_phase = None
        self.state.take_export(None, text)
        return False

    ERROR_HANDLERS = {"guest": _guest_failed, "checks": _checks_failed, "simulate": _simulation_failed,
                      "inject": _inject_failed, "rehearse": _rehearsal_failed, "export": _export_failed}

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification is plain text (it may carry a path or a message from the image): never markup."""
        super().notify(printable(message, 600), title=printable(title, 100), severity=severity, timeout=timeout,
                       markup=False)

    # -- actions -------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_show(self, name: str) -> None:
        if self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def action_reload(self) -> None:
        self._cancel_scan.set()
        self.state.reset_guest()
        self.ui.scan_progress = None
        self.run_preflight()

    def action_cancel_scan(self) -> None:
        self._cancel_scan.set()

    def _busy(self, *groups: str) -> bool:
        return any(w.group in groups and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in self.workers)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reload":
            return None if self._busy("guest", "preflight") else True  # greyed out while the image is read
        if action == "cancel_scan":
            return True if self._busy("checks") else None
        if action == "rehearse":
            return None if self._busy("rehearse") or not self.state.guest_ready else True
        if action == "stop_rehearsal":
            return self._busy("rehearse") and self.ui.rehearsal_phase != "stopping"  # shown only while one runs
        if action == "write_image":
            ready = self.state.step("inject").state != "blocked" and not self._busy("inject")
            return True if ready else None
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from review_commands(self, screen)


def make_app(path: str, facts: ImageFacts | None = None, guest_opener: Opener | None = None,
             options: ReviewOptions | None = None) -> WorkbenchApp:
    return WorkbenchApp(path, facts, guest_opener, options)
