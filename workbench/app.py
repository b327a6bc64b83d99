"""WorkbenchApp: the Textual front end over the core (make_app is shared by the CLI and tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from screens.error import ErrorModal
from screens.overview import OverviewScreen
from workbench.errors import WorkbenchError
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


class WorkbenchApp(App[int]):
    TITLE = "workbench"
    BINDINGS = [
        Binding("q", "quit", "Quit", tooltip="Leave the workbench (the image is never modified)"),
    ]

    def __init__(self, path: str, facts: ImageFacts | None = None, guest_opener: GuestOpener | None = None):
        super().__init__()
        self.path = path
        self.review: Review | None = Review(facts) if facts else None
        self.guest_opener = guest_opener or open_guest
        self.session: GuestSession | None = None
        self._launch_started: float | None = None
        self._progress_phase = ""

    @property
    def overview(self) -> OverviewScreen:
        return self.get_screen("overview")  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.install_screen(OverviewScreen(), "overview")
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

    # -- results -------------------------------------------------------------------
    def on_facts_ready(self, message: FactsReady) -> None:
        self.review = Review(message.facts)
        self.sub_title = message.facts.name
        self.review.run()
        self.overview.show_facts(message.facts)
        self.overview.show_results(self.review.results)
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
        self.review.guest_error = None
        self.review.run()
        self.overview.show_guest(message.report, self.review.facts)
        self.overview.show_results(self.review.results)
        self.overview.show_progress(Progress("Ready", 1.0))

    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, severity="warning", timeout=8)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors arrive: a modal with one sentence."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, WorkbenchError) else f"Unexpected error: {type(error).__name__}: {error}"
        self._launch_started = None
        if event.worker.group == "preflight":
            self.push_screen(ErrorModal("The image cannot be opened", text), lambda _: self.exit(2, return_code=2))
            return
        if self.review is not None:
            self.review.guest_error = text
            self.review.run()
            self.overview.show_results(self.review.results)
        self.overview.show_guest_failed(text)
        self.push_screen(ErrorModal("The guest could not be read", text))

    # -- actions -------------------------------------------------------------------
    def action_reload(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
        self.review = None
        self.run_preflight()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reload":
            busy = any(w.group in ("guest", "preflight") and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
                       for w in self.workers)
            return None if busy else True  # shown greyed out while the image is being read
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Reload the image", "Read the image again and rerun every check", self.action_reload)
        if isinstance(screen, OverviewScreen):
            yield SystemCommand("Show the import limits", "Move to the limit checks", screen.action_focus_limits)
            yield SystemCommand("Show the partitions", "Move to the partition table", screen.action_focus_partitions)


def make_app(path: str, facts: ImageFacts | None = None, guest_opener: GuestOpener | None = None) -> WorkbenchApp:
    return WorkbenchApp(path, facts, guest_opener)
