"""WorkbenchApp: the Textual front end over the core (make_app is shared by the CLI and tests).

The App holds one ReviewState (workbench/state.py); thin thread workers call the
core and post typed messages (screens/messages.py); handlers update the state and
redraw the screens, which only read it. Worker errors arrive in one handler.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

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
from screens.widgets.journey import JourneyBar
from workbench.checks import run_checks
from workbench.errors import WorkbenchError
from workbench.fixes import build_fixes
from workbench.image.appliance import expected_launch_seconds
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestReport, GuestSession, Progress
from workbench.review import Review
from workbench.simulate import simulate_image
from workbench.state import ReviewState
from workbench.text import printable

# (facts, progress callback, notify callback) -> (report, session kept open or None)
GuestOpener = Callable[[ImageFacts, Callable[[Progress], None], Callable[[str], None]],
                       tuple[GuestReport, GuestSession | None]]


def open_guest(facts, progress, notify):
    session = GuestSession(facts, progress, notify)
    try:
        return session.open(), session
    except BaseException:
        session.close()
        raise


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

    def __init__(self, path: str, facts: ImageFacts | None = None, guest_opener: GuestOpener | None = None,
                 options: dict | None = None):
        super().__init__()
        self.path = path
        self.state = ReviewState(path, dict(options or {}))
        if facts is not None:
            self.state.review = Review(facts, options=self.state.options)
        self.guest_opener = guest_opener or open_guest
        self.session: GuestSession | None = None
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
        if self.state.review is not None:
            self.post_message(FactsReady(self.state.review.facts))
        else:
            self.run_preflight()

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.close()

    # -- workers: thin wrappers over the core ---------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight")
    def run_preflight(self) -> None:
        self.post_message(FactsReady(preflight(self.path, bool(self.state.options.get("allow_backing")))))

    @work(thread=True, exclusive=True, exit_on_error=False, group="guest")
    def run_guest(self, facts: ImageFacts) -> None:
        report, session = self.guest_opener(
            facts, lambda p: self.post_message(GuestProgress(p)), lambda text: self.post_message(Notice(text)))
        self.post_message(GuestReady(report, session))

    @work(thread=True, exclusive=True, exit_on_error=False, group="checks")
    def run_review(self, review: Review) -> None:
        """Every check, off the UI thread: the password scan alone can take a while (yescrypt)."""
        self._cancel_scan = cancel = threading.Event()
        ctx = review.context()
        ctx.options = {**ctx.options, "password_progress": lambda p: self.post_message(ChecksProgress(p)),
                       "password_cancel": cancel}
        results = run_checks(ctx)
        fixes = build_fixes(results, review.guest.tree if review.guest else None)
        self.post_message(ChecksDone(results, fixes))

    @work(thread=True, exclusive=True, exit_on_error=False, group="simulate")
    def run_simulation(self, text: str, flavor: str | None, script: str | None) -> None:
        review = self.state.review
        self.post_message(SimulationDone(simulate_image(review.facts, review.guest, text, flavor, script)))

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
        review = Review(message.facts, options=self.state.options)
        self.state.review = review
        self.sub_title = message.facts.name
        review.run()  # host side only until the guest is read: instant
        self._refresh_screens()
        self.run_guest(message.facts)

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
        if self.session is not None and self.session is not message.session:
            self.session.close()
        self.session = message.session
        self._launch_started = None
        review = self.state.review
        assert review is not None
        review.guest = message.report
        review.guest_error = self.state.guest_error = None
        self.overview.show_progress(Progress("Ready", 1.0))
        self.state.checks_running = True
        self.run_review(review)
        self._refresh_screens()
        self.simulate_now()

    def on_checks_progress(self, message: ChecksProgress) -> None:
        self.state.scan_progress = message.progress
        security = self.get_screen("security")
        if security.is_mounted:
            security.show_scan(message.progress)

    def on_checks_done(self, message: ChecksDone) -> None:
        st = self.state
        st.review.results = message.results
        st.fixes = message.fixes
        st.chosen_fixes &= {f.id for f in message.fixes}
        st.scan_progress = None
        st.checks_running = False
        self._refresh_screens()

    def on_simulation_done(self, message: SimulationDone) -> None:
        self.state.changeset = message.changeset
        self.state.simulation_error = None
        self._refresh_screens()

    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, severity="warning", timeout=8)

    def choose_fixes(self, chosen: set[str]) -> None:
        """The fixes the inject step will apply (chosen on the security screen)."""
        self.state.chosen_fixes = set(chosen)
        self._refresh_journey()

    # -- os.conf and the simulation --------------------------------------------------------------
    def set_osconf(self, values: dict[str, str]) -> None:
        """The form changed: keep the values and simulate again once typing pauses."""
        self.state.osconf_values = dict(values)
        if self._sim_timer is not None:
            self._sim_timer.stop()
        self._sim_timer = self.set_timer(0.3, self.simulate_now)

    def choose_parser(self, flavor: str) -> None:
        self.state.flavor_override = flavor
        self.state.custom_script = None
        self.simulate_now()

    def load_custom_script(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
        except OSError as e:
            self.notify(f"{path} cannot be read ({e.strerror})", severity="error")
            return
        self.state.custom_script = data.decode("utf-8", "replace")
        self.simulate_now()

    def action_simulate_now(self) -> None:
        self.simulate_now()

    def simulate_now(self) -> None:
        st = self.state
        if not st.guest_ready:
            return
        self.run_simulation(st.osconf_text(), st.effective_flavor(), st.custom_script)

    # -- errors ------------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors arrive: a modal with one sentence."""
        st = self.state
        if event.state == WorkerState.CANCELLED and event.worker.group == "rehearse" and st.rehearsal_stopped:
            # the worker's thread kills the guest and removes the overlay as soon as it sees the cancel
            st.rehearsal_phase = None
            self._refresh_screens()
            self.notify("Rehearsal stopped: the guest is being killed and the throwaway copy removed")
            return
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, WorkbenchError) else f"Unexpected error: {type(error).__name__}: {error}"
        self._launch_started = None
        group = event.worker.group
        if group == "preflight":
            self.push_screen(ErrorModal("The image cannot be opened", text), lambda _: self.exit(2, return_code=2))
        elif group == "checks":
            st.checks_running = False
            self._refresh_screens()
            self.push_screen(ErrorModal("The checks could not finish", text))
        elif group == "inject":
            st.inject_phase = None
            st.inject_error = text
            self._refresh_screens()
            self.push_screen(ErrorModal("Nothing was written" if "nothing was written" in text.lower()
                                        else "The image could not be written", text))
        elif group == "rehearse":
            st.rehearsal_phase = None
            st.rehearsal_error = text
            self._refresh_screens()
            self.push_screen(ErrorModal("The rehearsal boot could not be done", text))
        elif group == "simulate":  # shown on the simulation screen, not as a modal
            st.simulation_error = text
            st.changeset = None
            self._refresh_screens()
        else:
            st.guest_error = text
            if st.review is not None:
                st.review.guest_error = text
                st.review.run()
            self._refresh_screens()
            self.push_screen(ErrorModal("The guest could not be read", text))

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
        if self.session is not None:
            self.session.close()
            self.session = None
        self.state.reset_guest()
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
            return self._busy("rehearse") and self.state.rehearsal_phase != "stopping"  # shown only while one runs
        if action == "write_image":
            ready = self.state.step("inject").state != "blocked" and not self._busy("inject")
            return True if ready else None
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from review_commands(self, screen)


def make_app(path: str, facts: ImageFacts | None = None, guest_opener: GuestOpener | None = None,
             options: dict | None = None) -> WorkbenchApp:
    return WorkbenchApp(path, facts, guest_opener, options)
