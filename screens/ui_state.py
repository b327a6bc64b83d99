"""What only the TUI keeps while steps run: progress phases, the password scan's progress and the rehearsal's
console. The review itself (results, fixes, os.conf, outcomes) is the core's ReviewSession (workbench/state.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.checks.passwords import ScanProgress

MAX_CONSOLE_LINES = 200


@dataclass
class UiState:
    scan_progress: ScanProgress | None = None
    inject_phase: str | None = None
    export_phase: str | None = None  # "Converting 40%" while the image is being exported
    rehearsal_phase: str | None = None
    rehearsal_stopped: bool = False
    console_lines: list[str] = field(default_factory=list)

    def add_console_line(self, line: str) -> None:
        self.console_lines = (self.console_lines + [line])[-MAX_CONSOLE_LINES:]
