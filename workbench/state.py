"""ReviewState: everything one interactive review knows, held by the TUI and read by its screens.

It lives in the core (no Textual) so that the journey, the report and tests can
read it without an App. The App's workers fill it; screens only read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench import osconf
from workbench.fixes import Fix
from workbench.parsers import ParserChoice, choose_flavor
from workbench.review import Review

if TYPE_CHECKING:
    from workbench.checks.passwords import ScanProgress
    from workbench.export import ExportResult
    from workbench.inject import InjectionPlan, InjectResult
    from workbench.journey import Step
    from workbench.rehearse import RehearsalResult
    from workbench.simulate import ChangeSet

MAX_CONSOLE_LINES = 200


@dataclass
class ReviewState:
    path: str
    options: dict = field(default_factory=dict)
    review: Review | None = None
    """The image facts, the guest report and the check results (None until preflight answered)."""
    guest_error: str | None = None
    """Why the appliance could not read the guest, if it could not."""
    fixes: list[Fix] = field(default_factory=list)
    """The fixes the failing checks offer."""
    chosen_fixes: set[str] = field(default_factory=set)
    """Fix ids the operator chose on the security screen, for the inject plan."""
    scan_progress: ScanProgress | None = None
    checks_running: bool = False
    osconf_values: dict[str, str] = field(default_factory=lambda: osconf.parse_text(osconf.EXAMPLE_VPC)[0])
    """The os.conf form's values, as typed."""
    flavor_override: str | None = None
    custom_script: str | None = None
    """A parser script the operator loaded instead of the workbench's own."""
    changeset: ChangeSet | None = None
    simulation_error: str | None = None
    inject_phase: str | None = None
    inject_result: InjectResult | None = None
    inject_error: str | None = None
    report_path: str | None = None
    export_phase: str | None = None  # "Converting 40%" while the image is being exported
    export_result: ExportResult | None = None
    export_error: str | None = None
    rehearsal: RehearsalResult | None = None
    rehearsal_phase: str | None = None
    rehearsal_error: str | None = None
    rehearsal_stopped: bool = False
    console_lines: list[str] = field(default_factory=list)

    # -- the parser ----------------------------------------------------------------------------------
    def parser_choice(self) -> ParserChoice:
        """The flavour the operator chose, or the one the image's network stack needs."""
        if self.flavor_override:
            return ParserChoice(self.flavor_override, "chosen by you")
        guest = self.review.guest if self.review else None
        return choose_flavor(guest.os if guest else None)

    def effective_flavor(self) -> str | None:
        """The flavour to build the parser from; None when the operator's own script runs instead."""
        return None if self.custom_script is not None else self.parser_choice().flavor

    def osconf_text(self) -> str:
        return osconf.render_values(self.osconf_values)

    # -- derived ---------------------------------------------------------------------------------------
    @property
    def guest_ready(self) -> bool:
        return self.review is not None and self.review.guest is not None

    def chosen(self) -> list[Fix]:
        return [f for f in self.fixes if f.id in self.chosen_fixes]

    def injection_plan(self, with_osconf: bool = False) -> tuple[InjectionPlan | None, str | None]:
        """(plan, None) or (None, why there is none yet)."""
        from workbench.inject import InjectError, build_plan

        if not self.guest_ready:
            return None, "The plan is made once the appliance has read the guest."
        text = self.osconf_text() if with_osconf else None
        try:
            return build_plan(self.review.facts, self.review.guest, self.effective_flavor(), self.custom_script,
                              self.chosen(), text), None
        except (InjectError, ValueError) as e:
            return None, str(e)

    def steps(self) -> list[Step]:
        from workbench.journey import steps

        return steps(self)

    def step(self, key: str) -> Step:
        return next(s for s in self.steps() if s.key == key)

    def add_console_line(self, line: str) -> None:
        self.console_lines = (self.console_lines + [line])[-MAX_CONSOLE_LINES:]

    def reset_guest(self) -> None:
        """Forget what was read from the guest (a reload)."""
        self.review = None
        self.guest_error = None
        self.fixes = []
        self.scan_progress = None
        self.checks_running = False
