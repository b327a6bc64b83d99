"""WorkbenchApp: the Textual front end over the core (make_app is shared by the CLI and tests)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from screens.error import ErrorModal
from screens.help import HelpScreen
from screens.journey import JourneyBar
from screens.report import ReportScreen
from screens.inject import InjectScreen, TypedConfirmModal
from screens.modals import ConfirmModal
from screens.osconf import OsConfScreen
from screens.overview import OverviewScreen
from screens.security import SecurityScreen
from screens.simulation import SimulationScreen
from workbench import osconf
from workbench.parsers import ParserChoice, choose_flavor
from workbench.simulate import ChangeSet, simulate_image
from workbench.checks import CheckResult, run_checks
from workbench.checks.passwords import ScanProgress
from workbench.errors import WorkbenchError
from workbench.fixes import Fix, build_fixes
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestReport, GuestSession, Progress, expected_launch_seconds
from workbench.review import Review

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


@dataclass
class FactsReady(Message):
    facts: ImageFacts


@dataclass
class GuestProgress(Message):
    progress: Progress


@dataclass
class GuestReady(Message):
    report: GuestReport
    session: GuestSession | None


@dataclass
class Notice(Message):
    text: str


@dataclass
class ChecksProgress(Message):
    progress: ScanProgress


@dataclass
class ChecksDone(Message):
    results: list[CheckResult]
    fixes: list[Fix]


@dataclass
class SimulationDone(Message):
    changeset: ChangeSet


@dataclass
class InjectProgress(Message):
    phase: str


@dataclass
class ConsoleLine(Message):
    line: str


@dataclass
class RehearsalProgress(Message):
    phase: str


@dataclass
class RehearsalDone(Message):
    result: object


@dataclass
class InjectDone(Message):
    result: object


SCREENS = {"overview": OverviewScreen, "security": SecurityScreen, "osconf": OsConfScreen,
           "simulation": SimulationScreen, "inject": InjectScreen, "report": ReportScreen}


class WorkbenchApp(App[int]):
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
        self.options = dict(options or {})
        self.review: Review | None = Review(facts, options=self.options) if facts else None
        self.guest_opener = guest_opener or open_guest
        self.session: GuestSession | None = None
        self.guest_error: str | None = None
        self.fixes: list[Fix] = []
        self.chosen_fixes: set[str] = set()
        self.scan_progress: ScanProgress | None = None
        self._cancel_scan = threading.Event()
        self._launch_started: float | None = None
        self._progress_phase = ""
        self.osconf_values: dict[str, str] = osconf.parse_text(osconf.EXAMPLE_VPC)[0]
        self.flavor_override: str | None = None
        self.custom_script: str | None = None
        self.changeset: ChangeSet | None = None
        self.simulation_error: str | None = None
        self._sim_timer = None
        self.inject_phase: str | None = None
        self.inject_result = None
        self.inject_error: str | None = None
        self.report_path: str | None = None
        self.rehearsal = None
        self.rehearsal_phase: str | None = None
        self.rehearsal_error: str | None = None
        self.rehearsal_stopped = False
        self.console_lines: list[str] = []

    @property
    def overview(self) -> OverviewScreen:
        return self.get_screen("overview")  # type: ignore[return-value]

    def on_mount(self) -> None:
        for name, cls in SCREENS.items():
            self.install_screen(cls(), name)
        self.push_screen("overview")
        self.sub_title = self.path
        self.set_interval(0.5, self._tick_launch)
        if self.review is not None:
            self.post_message(FactsReady(self.review.facts))
        else:
            self.run_preflight()

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.close()

    # -- workers: thin wrappers over the core ---------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight")
    def run_preflight(self) -> None:
        self.post_message(FactsReady(preflight(self.path)))

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

    # -- results -------------------------------------------------------------------
    def _mounted_screens(self) -> list[Screen]:
        """The screens to redraw; none once the app is closing (a worker's late message may still arrive then)."""
        return [self.get_screen(name) for name in SCREENS
                if self.is_screen_installed(name) and self.get_screen(name).is_mounted]

    def _refresh_screens(self) -> None:
        for screen in self._mounted_screens():
            screen.update_view()
            for bar in screen.query(JourneyBar):
                bar.refresh()

    def journey(self):
        """The six steps with their states, from the current results."""
        from workbench.journey import steps

        return steps(self.review, self.osconf_values, self.changeset, self.simulation_error, self.chosen_fixes,
                     self.inject_result, self.report_path, self._busy("checks"))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_export_report(self) -> None:
        if self.review is None:
            self.notify("Nothing to report yet", severity="warning")
            return
        screen = self.get_screen("report")
        out = screen.output if screen.is_mounted else None
        if not out:
            self.notify("Say where to write the report", severity="warning")
            return
        import os

        from workbench import document

        suffix = os.path.splitext(out)[1].lower()
        if suffix not in document.RENDERERS:
            self.notify("The report's file name must end in .md, .html or .json", severity="error")
            return
        plan, _ = self.injection_plan(False)
        doc = document.ReviewDocument(self.review, osconf.render_values(self.osconf_values),
                                      osconf.from_values(self.osconf_values)[1], self.changeset, plan,
                                      self.inject_result)
        try:
            text = document.render(doc, suffix)
            with open(out + ".wb-partial", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(out + ".wb-partial", out)
        except OSError as e:
            self.notify(f"{out} cannot be written ({e.strerror})", severity="error")
            return
        self.report_path = out
        self._refresh_screens()
        self.notify(f"Report written to {out}")

    def on_facts_ready(self, message: FactsReady) -> None:
        self.review = Review(message.facts, options=self.options)
        self.sub_title = message.facts.name
        self.review.run()  # host side only until the guest is read: instant
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
        assert self.review is not None
        self.review.guest = message.report
        self.review.guest_error = self.guest_error = None
        self.overview.show_progress(Progress("Ready", 1.0))
        self._refresh_screens()
        self.run_review(self.review)
        self.simulate_now()

    def on_checks_progress(self, message: ChecksProgress) -> None:
        self.scan_progress = message.progress
        security = self.get_screen("security")
        if security.is_mounted:
            security.show_scan(message.progress)

    def on_checks_done(self, message: ChecksDone) -> None:
        assert self.review is not None
        self.review.results = message.results
        self.fixes = message.fixes
        offered = {f.id for f in message.fixes}
        self.chosen_fixes &= offered
        self.scan_progress = None
        self._refresh_screens()

    def choose_fixes(self, chosen: set[str]) -> None:
        """The fixes the inject step will apply (chosen on the security screen)."""
        self.chosen_fixes = set(chosen)
        for screen in self._mounted_screens():
            for bar in screen.query(JourneyBar):
                bar.refresh()

    # -- os.conf and the simulation --------------------------------------------------------------
    def parser_choice(self) -> ParserChoice:
        if self.flavor_override:
            return ParserChoice(self.flavor_override, "chosen by you")
        guest = self.review.guest if self.review else None
        return choose_flavor(guest.os if guest else None)

    def set_osconf(self, values: dict[str, str]) -> None:
        """The form changed: keep the values and simulate again once typing pauses."""
        self.osconf_values = dict(values)
        if self._sim_timer is not None:
            self._sim_timer.stop()
        self._sim_timer = self.set_timer(0.3, self.simulate_now)

    def choose_parser(self, flavor: str) -> None:
        self.flavor_override = flavor
        self.custom_script = None
        self.simulate_now()

    def load_custom_script(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
        except OSError as e:
            self.notify(f"{path} cannot be read ({e.strerror})", severity="error")
            return
        self.custom_script = data.decode("utf-8", "replace")
        self.simulate_now()

    def action_simulate_now(self) -> None:
        self.simulate_now()

    def simulate_now(self) -> None:
        if self.review is None or self.review.guest is None:
            return
        script = self.custom_script
        flavor = None if script is not None else self.parser_choice().flavor
        self.run_simulation(osconf.render_values(self.osconf_values), flavor, script)

    @work(thread=True, exclusive=True, exit_on_error=False, group="simulate")
    def run_simulation(self, text: str, flavor: str | None, script: str | None) -> None:
        review = self.review
        cs = simulate_image(review.facts, review.guest, text, flavor, script)
        self.post_message(SimulationDone(cs))

    # -- inject ------------------------------------------------------------------------------------
    def injection_plan(self, with_osconf: bool = False):
        """(plan, None) or (None, why there is none yet)."""
        from workbench.inject import InjectError, build_plan

        if self.review is None or self.review.guest is None:
            return None, "The plan is made once the appliance has read the guest."
        chosen = [f for f in self.fixes if f.id in self.chosen_fixes]
        script = self.custom_script
        flavor = None if script is not None else self.parser_choice().flavor
        text = osconf.render_values(self.osconf_values) if with_osconf else None
        try:
            return build_plan(self.review.facts, self.review.guest, flavor, script, chosen, text), None
        except (InjectError, ValueError) as e:
            return None, str(e)

    def action_write_image(self) -> None:
        screen = self.get_screen("inject")
        plan, why = self.injection_plan(screen.with_osconf)
        if plan is None:
            self.notify(why or "no plan yet", severity="warning")
            return
        name = self.review.facts.name
        writes = f"{len(plan.writes)} writes ({', '.join(plan.fixes) or 'no fixes'}), then a verification"
        if screen.in_place:
            self.push_screen(TypedConfirmModal(name, f"The parser and {writes} go into {self.path} itself. "
                                                     "There is no copy to fall back on."),
                             lambda ok: ok and self._start_inject(plan, None, screen.with_osconf))
            return
        out = screen.output
        if not out:
            self.notify("Say where to write the new image", severity="warning")
            return
        self.push_screen(ConfirmModal("Write a new image?", f"{out} will be a copy of {name} with the parser "
                                      f"and {writes}. {name} itself is not modified.", "Write"),
                         lambda ok: ok and self._start_inject(plan, out, screen.with_osconf))

    def _start_inject(self, plan, output: str | None, with_osconf: bool) -> None:
        if output is None and self.session is not None:  # in place: our read-only handle holds the image
            self.session.close()
            self.session = None
        self.inject_result = self.inject_error = None
        self.run_inject(output, plan.fixes, osconf.render_values(self.osconf_values) if with_osconf else None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="inject")
    def run_inject(self, output: str | None, fix_ids: list[str], osconf_text: str | None) -> None:
        from workbench.inject import inject

        script = self.custom_script
        flavor = None if script is not None else self.parser_choice().flavor
        result = inject(self.path, output, output is None, False, flavor, script, tuple(fix_ids), osconf_text,
                        progress=lambda p: self.post_message(InjectProgress(p.phase)),
                        notify=lambda t: self.post_message(Notice(t)))
        self.post_message(InjectDone(result))

    # -- rehearsal ---------------------------------------------------------------------------------
    def action_rehearse(self) -> None:
        if self.review is None or self.review.guest is None:
            self.notify("The rehearsal needs the guest read first", severity="warning")
            return
        conf, _ = osconf.from_values(self.osconf_values)
        if conf is None:
            self.notify("The rehearsal needs a valid os.conf (step 3)", severity="warning")
            return
        self.rehearsal = self.rehearsal_error = None
        self.console_lines = []
        self.rehearsal_phase = "starting"
        self.rehearsal_stopped = False
        self._refresh_screens()
        script = self.custom_script
        self.run_rehearsal(conf.render(), None if script is not None else self.parser_choice().flavor, script)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rehearse")
    def run_rehearsal(self, text: str, flavor: str | None, script: str | None) -> None:
        from workbench.rehearse import rehearse

        # cancelled by ctrl+x, and by Textual when the app quits: the guest is killed then, not left running
        result = rehearse(self.path, text, flavor, script,
                          progress=lambda p: self.post_message(RehearsalProgress(p.phase)),
                          console=lambda line: self.post_message(ConsoleLine(line)),
                          notify=lambda t: self.post_message(Notice(t)),
                          cancel=get_current_worker().cancelled_event)
        self.post_message(RehearsalDone(result))

    def action_stop_rehearsal(self) -> None:
        if self._busy("rehearse"):
            self.rehearsal_phase = "stopping"
            self.rehearsal_stopped = True
            self.workers.cancel_group(self, "rehearse")
            self._refresh_screens()

    def on_rehearsal_progress(self, message: RehearsalProgress) -> None:
        self.rehearsal_phase = message.phase
        self._refresh_screens()

    def on_console_line(self, message: ConsoleLine) -> None:
        self.console_lines = (self.console_lines + [message.line])[-200:]
        if self.is_screen_installed("simulation") and self.screen is self.get_screen("simulation"):
            self.screen.show_console()

    def on_rehearsal_done(self, message: RehearsalDone) -> None:
        self.rehearsal = message.result
        self.rehearsal_phase = None
        self.get_screen("simulation").show_rehearsal = True  # the comparison first; v goes back
        self._refresh_screens()
        verdict = "matches the simulation" if message.result.matches_simulation else "differs from the simulation"
        self.notify(f"Rehearsal done: the boot {verdict}")

    def on_inject_progress(self, message: InjectProgress) -> None:
        self.inject_phase = message.phase if message.phase != "Done" else None
        screen = self.get_screen("inject")
        if screen.is_mounted:
            screen.show_progress(self.inject_phase)

    def on_inject_done(self, message: InjectDone) -> None:
        self.inject_phase = None
        self.inject_result = message.result
        self._refresh_screens()
        self.notify(f"Written and verified: {message.result.output}")

    def on_simulation_done(self, message: SimulationDone) -> None:
        self.changeset = message.changeset
        self.simulation_error = None
        self._refresh_screens()

    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, severity="warning", timeout=8)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors arrive: a modal with one sentence."""
        if event.state == WorkerState.CANCELLED and event.worker.group == "rehearse" and self.rehearsal_stopped:
            # the worker's thread kills the guest and removes the overlay as soon as it sees the cancel
            self.rehearsal_phase = None
            self._refresh_screens()
            self.notify("Rehearsal stopped: the guest is being killed and the throwaway copy removed")
            return
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, WorkbenchError) else f"Unexpected error: {type(error).__name__}: {error}"
        self._launch_started = None
        if event.worker.group == "preflight":
            self.push_screen(ErrorModal("The image cannot be opened", text), lambda _: self.exit(2, return_code=2))
            return
        if event.worker.group == "checks":
            self.push_screen(ErrorModal("The checks could not finish", text))
            return
        if event.worker.group == "inject":
            self.inject_phase = None
            self.inject_error = text
            self._refresh_screens()
            self.push_screen(ErrorModal("Nothing was written" if "nothing was written" in text.lower()
                                        else "The image could not be written", text))
            return
        if event.worker.group == "rehearse":
            self.rehearsal_phase = None
            self.rehearsal_error = text
            self._refresh_screens()
            self.push_screen(ErrorModal("The rehearsal boot could not be done", text))
            return
        if event.worker.group == "simulate":  # shown on the simulation screen, not as a modal
            self.simulation_error = text
            self.changeset = None
            self._refresh_screens()
            return
        self.guest_error = text
        if self.review is not None:
            self.review.guest_error = text
            self.review.run()
        self._refresh_screens()
        self.push_screen(ErrorModal("The guest could not be read", text))

    # -- actions -------------------------------------------------------------------
    def action_show(self, name: str) -> None:
        if self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def action_reload(self) -> None:
        self._cancel_scan.set()
        if self.session is not None:
            self.session.close()
            self.session = None
        self.review = None
        self.guest_error = None
        self.fixes = []
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
            return None if self._busy("rehearse") or self.review is None or self.review.guest is None else True
        if action == "stop_rehearsal":
            return self._busy("rehearse") and self.rehearsal_phase != "stopping"  # shown only while one runs
        if action == "write_image":
            inject_step = self.journey()[4]
            ready = inject_step.state != "blocked" and not self._busy("inject")
            return True if ready else None
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Reload the image", "Read the image again and rerun every check", self.action_reload)
        yield SystemCommand("Overview", "Image facts, partitions and import limits", lambda: self.action_show("overview"))
        yield SystemCommand("Security review", "Passwords, SSH, services, vulnerabilities and fixes",
                            lambda: self.action_show("security"))
        yield SystemCommand("Edit os.conf", "The form, its validation and a preview", lambda: self.action_show("osconf"))
        yield SystemCommand("Simulation", "What the parser would change, file by file",
                            lambda: self.action_show("simulation"))
        if isinstance(screen, OsConfScreen):
            yield SystemCommand("Fill in the documented example", "The VPC example of the cloud documentation",
                                screen.action_example)
            yield SystemCommand("Load os.conf", "Read an os.conf file into the form", screen.action_load)
            yield SystemCommand("Save os.conf", "Write the os.conf to a file", screen.action_save)
        if isinstance(screen, SimulationScreen):
            yield SystemCommand("Load a parser script", "Simulate your own parser", screen.action_load_script)
        yield SystemCommand("Rehearse the first boot", "Boot a throwaway copy for real and compare with the "
                            "simulation", self.action_rehearse)
        yield SystemCommand("Inject", "The plan, and writing it into an image", lambda: self.action_show("inject"))
        yield SystemCommand("Report", "The verdict, and exporting the review", lambda: self.action_show("report"))
        yield SystemCommand("Export the report", "Write the review as .md, .html or .json", self.action_export_report)
        yield SystemCommand("Help", "Each step of the review in two lines", self.action_help)
        if self.review is not None and self.review.guest is not None:
            yield SystemCommand("Write the image", "Write the parser and the chosen fixes (asks first)",
                                self.action_write_image)
        if self._busy("rehearse"):
            yield SystemCommand("Stop the rehearsal", "Kill the boot and remove the throwaway copy",
                                self.action_stop_rehearsal)
        if self._busy("checks"):
            yield SystemCommand("Cancel the password scan", "Stop trying default passwords", self.action_cancel_scan)
        if isinstance(screen, SecurityScreen):
            yield SystemCommand("Choose fixes", "Move to the fixes for the inject plan", screen.action_focus_fixes)
        if isinstance(screen, OverviewScreen):
            yield SystemCommand("Show the import limits", "Move to the limit checks", screen.action_focus_limits)
            yield SystemCommand("Show the partitions", "Move to the partition table", screen.action_focus_partitions)


def make_app(path: str, facts: ImageFacts | None = None, guest_opener: GuestOpener | None = None,
             options: dict | None = None) -> WorkbenchApp:
    return WorkbenchApp(path, facts, guest_opener, options)
