"""What workers post to the App: one typed message per result or progress step (workers never touch widgets)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from workbench.checks import CheckResult
from workbench.checks.passwords import ScanProgress
from workbench.export import ExportResult
from workbench.fixes import Fix
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestReport, GuestSession, Progress
from workbench.inject import InjectResult
from workbench.rehearse import RehearsalResult
from workbench.simulate import ChangeSet


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
class InjectDone(Message):
    result: InjectResult


@dataclass
class ConsoleLine(Message):
    line: str


@dataclass
class RehearsalProgress(Message):
    phase: str


@dataclass
class RehearsalDone(Message):
    result: RehearsalResult


@dataclass
class ExportProgress(Message):
    phase: str
    done: int
    total: int


@dataclass
class ExportDone(Message):
    result: ExportResult | None
    error: str | None = None
