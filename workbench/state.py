"""ReviewSession: one review of one image, driven by both doors (the CLI's commands and the TUI's workers).

It holds the operator's typed options, the one Review (facts, guest report, check results, the fixes they
offer), the chosen fixes, the os.conf, and the outcome of every step: the simulation, the injection, the
rehearsal, the export. Each step is a method; a step that takes long has a compute half that changes nothing
here (compute_*: a TUI worker calls it off the UI thread) and a half that takes its outcome (take_*),
which the plain method does both of, as the CLI uses it. The documents are made from the session alone, so a
report is the same whichever door made it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from workbench import osconf
from workbench.checks import CheckResult, run_checks
from workbench.fixes import Fix, build_fixes, known_fixes
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestReport, GuestSession, Progress
from workbench.parsers import ParserChoice, ParserScript, choose_flavor, script_for
from workbench.review import Review
from workbench.state_steps import LaterSteps

# the checks judged with the parser that will run (checks/network.py: chosen_flavor); a new choice judges them again
PARSER_CHECKS = ("net.interface-names", "net.conflicts")

if TYPE_CHECKING:
    from workbench.export import ExportResult
    from workbench.inject import InjectionPlan, InjectResult
    from workbench.journey import Step
    from workbench.rehearse import RehearsalResult
    from workbench.simulate import ChangeSet

Notify = Callable[[str], None]
ProgressFn = Callable[[Progress], None]
# (facts, progress, notify) -> (the guest's report, the appliance kept open or None); tests give a recorded report
Opener = Callable[[ImageFacts, ProgressFn, Notify], tuple[GuestReport, GuestSession | None]]


@dataclass
class ReviewOptions:
    """What the operator asked for, from the command line or the TUI's controls."""
    allow_backing: bool = False
    """Read an image that is an overlay on local backing files."""
    advisories: tuple[str, ...] = ()
    """More OSV advisory directories for vuln.remote."""
    quick: bool = False
    """Host-side preflight only: no appliance, guest checks skip."""
    flavor: str | None = None
    """The parser flavour asked for (None: the one the image's network stack needs)."""
    script: str | None = None
    """The operator's own parser script, instead of the workbench's."""
    boot: str = "auto"
    disk: str = "virtio"
    firmware: str = "auto"
    timeout: float = 600
    """The rehearsal's boot: by the bootloader or the kernel, the disk bus, the firmware, its time limit."""
    later: tuple[str, ...] = ("reboot", "change")
    """The rehearsal's later boots from the same overlay (rehearse/reboots.py: KINDS, in its order); () boots once.
    Spelled out here so that a review does not import the rehearsal (tests/unit/test_rehearse_boots.py holds the
    two equal)."""


@dataclass
class InjectTarget:
    """Where inject writes: a new image (output) or the source itself (in_place)."""
    output: str | None = None
    in_place: bool = False
    force: bool = False
    output_format: str | None = None
    with_osconf: bool = False
    """Also place the session's os.conf on the first partition (to test the image with)."""
    plan_only: bool = False


def open_guest(facts: ImageFacts, progress: ProgressFn | None, notify: Notify | None, keep: bool = False
               ) -> tuple[GuestReport, GuestSession | None]:
    """One appliance launch; the handle is kept open (and returned) only when asked."""
    session = GuestSession(facts, progress, notify)
    try:
        report = session.open()
    except BaseException:
        session.close()
        raise
    if keep:
        return report, session
    session.close()
    return report, None


@dataclass
class ReviewSession(LaterSteps):
    """The steps after the plan (inject, rehearse, export, the documents) are in state_steps.LaterSteps."""
    path: str
    options: ReviewOptions = field(default_factory=ReviewOptions)
    review: Review | None = None
    """The image facts, the guest report, the check results and the fixes they offer (None before preflight)."""
    opener: Opener | None = None
    guest_error: str | None = None
    """Why the appliance could not read the guest, if it could not."""
    checks_running: bool = False
    chosen_fixes: set[str] = field(default_factory=set)
    """The fix ids the operator chose (on the security screen, or --fix)."""
    osconf: str | None = None
    """The os.conf as the operator wrote it (None: none given)."""
    changeset: ChangeSet | None = None
    simulation_error: str | None = None
    inject_result: InjectResult | None = None
    inject_error: str | None = None
    rehearsal: RehearsalResult | None = None
    rehearsal_error: str | None = None
    export_result: ExportResult | None = None
    export_error: str | None = None
    report_path: str | None = None
    _appliance: GuestSession | None = None
    _plans: dict = field(default_factory=dict)

    # -- open ---------------------------------------------------------------------------------------------------
    @property
    def facts(self) -> ImageFacts | None:
        return self.review.facts if self.review else None

    @property
    def guest(self) -> GuestReport | None:
        return self.review.guest if self.review else None

    @property
    def guest_ready(self) -> bool:
        return self.guest is not None

    def preflight(self) -> ImageFacts:
        """The host-side facts (one sentence and exit 2 for an image that cannot be opened)."""
        return preflight(self.path, self.options.allow_backing)

    def take_facts(self, facts: ImageFacts) -> None:
        self.close()
        self.review = Review(facts, quick=self.options.quick)
        self.guest_error = None
        self._plans.clear()

    def read_guest(self, progress: ProgressFn | None = None, notify: Notify | None = None, keep: bool = False
                   ) -> tuple[GuestReport, GuestSession | None]:
        """The appliance reads the guest (one launch). keep: leave the appliance open (the TUI does)."""
        if self.opener is not None:
            return self.opener(self.facts, progress, notify)
        return open_guest(self.facts, progress, notify, keep)

    def take_guest(self, report: GuestReport | None, appliance: GuestSession | None = None,
                   error: str | None = None) -> None:
        if self._appliance is not None and self._appliance is not appliance:
            self._appliance.close()
        self._appliance = appliance
        self.review.guest = report
        self.review.guest_error = self.guest_error = error
        self._plans.clear()

    def open(self, progress: ProgressFn | None = None, notify: Notify | None = None) -> Review:
        """Preflight, then (unless quick) the guest read by the appliance."""
        self.take_facts(self.preflight())
        if not self.options.quick:
            self.take_guest(*self.read_guest(progress, notify))
        return self.review

    def close(self) -> None:
        if self._appliance is not None:
            self._appliance.close()
            self._appliance = None

    # -- check --------------------------------------------------------------------------------------------------
    def compute_checks(self, progress: Callable | None = None, cancel: threading.Event | None = None
                   ) -> tuple[list[CheckResult], list[Fix]]:
        """Every check, then the fixes the failing ones offer: the one check run of a review."""
        r = self.review
        ctx = r.context(self.options.advisories, progress, cancel)
        ctx.flavor, ctx.script = self.options.flavor, self.options.script  # the parser that will run
        results = run_checks(ctx)
        return results, build_fixes(results, r.guest.tree if r.guest else None)

    def take_checks(self, results: list[CheckResult], fixes: list[Fix]) -> None:
        self.review.results, self.review.fixes = results, fixes
        self.checks_running = False
        self._plans.clear()

    def check(self, progress: Callable | None = None, cancel: threading.Event | None = None) -> list[CheckResult]:
        self.take_checks(*self.compute_checks(progress, cancel))
        return self.review.results

    @property
    def fixes(self) -> list[Fix]:
        """The fixes the failing checks offer."""
        return self.review.fixes if self.review else []

    def choose_fixes(self, ids) -> None:
        """ids: fix ids (the CLI's --fix: an id the workbench does not know is bad input)."""
        ids = list(ids)
        known = known_fixes()
        unknown = [f for f in ids if f not in known]
        if unknown:
            from workbench.errors import UsageError

            raise UsageError(f"{unknown[0]} is not a fix the workbench knows (known: {', '.join(known)})")
        self.chosen_fixes = set(ids)
        self._plans.clear()

    def chosen(self) -> list[Fix]:
        """The chosen fixes the checks offer, as they built them (nothing is checked again)."""
        return [f for f in self.fixes if f.id in self.chosen_fixes]

    def idle_fixes(self) -> list[str]:
        """Chosen fix ids no check offers for this image (already applied?)."""
        offered = {f.id for f in self.fixes}
        return sorted(f for f in self.chosen_fixes if f not in offered)

    # -- the parser and the os.conf ------------------------------------------------------------------------------
    def parser_choice(self) -> ParserChoice:
        """The flavour the operator chose, or the one the image's network stack needs."""
        if self.options.flavor:
            return ParserChoice(self.options.flavor, "chosen by you")
        return choose_flavor(self.guest.os if self.guest else None)

    def choose_parser(self, flavor: str | None = None, script: str | None = None) -> None:
        """A flavour, or the operator's own script (which then runs instead). The checks judged with the parser that
        will run are judged again with this one, so the document is the one `check --flavor` or `--script` makes."""
        self.options.flavor, self.options.script = flavor, script
        self._plans.clear()
        if self.review is not None and self.review.results and not self.checks_running:
            from workbench.checks import REGISTRY, run_check

            ctx = self.review.context(self.options.advisories)
            ctx.flavor, ctx.script = flavor, script
            results = [run_check(REGISTRY[r.id], ctx) if r.id in PARSER_CHECKS else r for r in self.review.results]
            self.take_checks(results, build_fixes(results, self.review.guest.tree if self.review.guest else None))

    def parser(self) -> ParserScript:
        """The script the simulation runs, inject writes and the rehearsal boots (one function makes it)."""
        return script_for(self.facts, self.guest, self.options.flavor, self.options.script)

    @property
    def osconf_values(self) -> dict[str, str]:
        return osconf.parse_text(self.osconf)[0] if self.osconf is not None else {}

    def set_osconf_values(self, values: dict[str, str]) -> None:
        """The TUI's form: the os.conf it renders."""
        self.osconf = osconf.render_values(values)
        self._plans.clear()

    def set_osconf(self, text: str | None) -> None:
        self.osconf = text
        self._plans.clear()

    def osconf_text(self) -> str:
        return self.osconf or ""

    # -- simulate, plan --------------------------------------------------------------------------------------------
    def _simulation_basis(self) -> tuple:
        return (self.osconf, self.options.flavor, self.options.script, id(self.guest))

    def compute_simulation(self) -> ChangeSet:
        from workbench.simulate import simulate_image

        basis = self._simulation_basis()
        cs = simulate_image(self.facts, self.guest, self.osconf, self.parser())
        cs.basis = basis
        return cs

    def simulation_current(self) -> bool:
        """Whether the simulation held was made for the os.conf and parser the session has now."""
        return self.changeset is not None and self.changeset.basis == self._simulation_basis()

    def take_simulation(self, changeset: ChangeSet | None, error: str | None = None) -> None:
        self.changeset, self.simulation_error = changeset, error

    def simulate(self) -> ChangeSet | None:
        """The parser run in the sandbox on a copy of the guest's files; its failure is kept, not raised."""
        from workbench.simulate import SimulationError

        try:
            self.take_simulation(self.compute_simulation())
        except SimulationError as e:
            self.take_simulation(None, str(e))
        return self.changeset

    def plan(self, with_osconf: bool = False) -> InjectionPlan:
        """Every write inject would make (InjectError when there can be none), kept until an input changes."""
        from workbench.inject import build_plan

        key = (with_osconf, with_osconf and self.osconf)
        if key not in self._plans:
            self._plans[key] = build_plan(self.facts, self.guest, self.parser(), self.chosen(),
                                          self.osconf if with_osconf else None)
        return self._plans[key]

    def injection_plan(self, with_osconf: bool = False) -> tuple[InjectionPlan | None, str | None]:
        """(plan, None) or (None, why there is none yet)."""
        from workbench.inject import InjectError

        if not self.guest_ready:
            return None, "The plan is made once the appliance has read the guest."
        try:
            return self.plan(with_osconf), None
        except (InjectError, ValueError) as e:
            return None, str(e)

    # -- the journey ---------------------------------------------------------------------------------------------
    def steps(self) -> list[Step]:
        from workbench.journey import steps

        return steps(self)

    def step(self, key: str) -> Step:
        return next(s for s in self.steps() if s.key == key)

    def reset_guest(self) -> None:
        """Forget what was read from the guest (a reload)."""
        self.close()
        self.review = None
        self.guest_error = None
        self.checks_running = False
        self._plans.clear()


ReviewState = ReviewSession  # the name the journey and the screens read it by
