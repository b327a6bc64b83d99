"""The review session's later steps: inject, rehearse, export, the import plan and the document.

A mixin of ReviewSession (state.py), which holds what they read: the options, the review, the chosen fixes,
the os.conf and the earlier steps' outcomes. Each long step has a compute half (compute_*, which a TUI worker
calls) and a take half; the plain method does both.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from workbench.export import ExportResult
    from workbench.image.session import Progress
    from workbench.importplan import ImportPlan
    from workbench.importrules import Given
    from workbench.inject import InjectionPlan, InjectResult
    from workbench.rehearse import RehearsalResult
    from workbench.report.document import ReviewDocument
    from workbench.state import InjectTarget


class LaterSteps:
    # -- inject ----------------------------------------------------------------------------------------------------
    def compute_inject(self, target: InjectTarget, progress: Callable[[Progress], None] | None = None,
                         notify: Callable[[str], None] | None = None) -> InjectResult | InjectionPlan:
        """Write the plan into a new image (or in place) and verify it; or, with plan_only, only make the plan.

        When the session has read the guest already (the TUI), the plan is made from it and the chosen Fix
        objects: nothing is checked again. Otherwise (the CLI) the image being written is read once, in the same
        launch, and checked once if fixes were asked for."""
        from workbench.inject import inject

        known = self.guest is not None

        def plan_for(report, work_facts):
            if not known:
                self.take_guest(report)
                if self.chosen_fixes:
                    self.check()
            plan = self.plan(target.with_osconf)
            plan.notes += [f"{f}: nothing to do, no check offers it for this image (already applied?)"
                           for f in self.idle_fixes() if not any(f in n for n in plan.notes)]
            return plan, self.guest.tree

        pull = "none" if known else ("all" if self.chosen_fixes else "system")
        return inject(self.facts, target, plan_for, pull, progress, notify)

    def take_inject(self, result: InjectResult | None, error: str | None = None) -> None:
        self.inject_result, self.inject_error = result, error

    def inject(self, target: InjectTarget, progress=None, notify=None) -> InjectResult | InjectionPlan:
        result = self.compute_inject(target, progress, notify)
        if not target.plan_only:
            self.take_inject(result)
        return result

    # -- rehearse --------------------------------------------------------------------------------------------------
    def compute_rehearsal(self, progress=None, console=None, notify=None,
                         cancel: threading.Event | None = None) -> RehearsalResult:
        """Boot a throwaway overlay with the parser and the session's os.conf (the image itself is never written)."""
        from workbench.rehearse import RehearsalHooks, RehearsalRequest, rehearse

        o = self.options
        request = RehearsalRequest(self.osconf or "", o.flavor, o.script, o.boot, o.disk, o.firmware, o.timeout,
                                   o.allow_backing, later=o.later)
        return rehearse(self.path, request, RehearsalHooks(progress, console, notify, cancel))

    def take_rehearsal(self, result: RehearsalResult | None, error: str | None = None) -> None:
        self.rehearsal, self.rehearsal_error = result, error

    def rehearse(self, progress=None, console=None, notify=None, cancel=None) -> RehearsalResult:
        self.take_rehearsal(self.compute_rehearsal(progress, console, notify, cancel))
        return self.rehearsal

    # -- export and the import -------------------------------------------------------------------------------------
    def compute_export(self, output: str, out_format: str | None = None, force: bool = False, compress: bool = False,
                      progress: Callable[[str, int, int], None] | None = None) -> ExportResult:
        from workbench.export import export

        return export(self.path, output, out_format, force, compress, progress, self.options.allow_backing)

    def take_export(self, result: ExportResult | None, error: str | None = None) -> None:
        self.export_result, self.export_error = result, error

    def export(self, output: str, out_format: str | None = None, force: bool = False, compress: bool = False,
               progress=None) -> ExportResult:
        result = self.compute_export(output, out_format, force, compress, progress)
        self.take_export(result)
        return result

    def import_plan(self, given: Given | None = None) -> tuple[ImportPlan, dict[str, str]]:
        """The ImportImage request the review implies (with what the operator gave: region, bucket, object, name,
        tags...), and the ossutil / aliyun / Terraform commands."""
        from workbench import importplan

        plan = importplan.build(self.review, given)
        return plan, importplan.commands(plan, self.path)

    # -- the document ------------------------------------------------------------------------------------------------
    def document(self) -> ReviewDocument:
        """The whole review as one document, the same from either door: checks, every fix offered, the os.conf
        and its simulation, the plan with the chosen fixes (or the injection made), the import."""
        from workbench import osconf as osconf_mod
        from workbench.report.document import ReviewDocument

        doc = ReviewDocument(self.review)
        if self.osconf is not None:
            doc.osconf_text = self.osconf
            doc.osconf_problems = osconf_mod.validate(self.osconf)[1]
            if self.guest is not None and not self.simulation_current():
                self.simulate()  # none yet, or made for another os.conf or parser
            if self.simulation_error:
                doc.notes.append(f"simulation: {self.simulation_error}")
            doc.changeset = self.changeset
        else:
            doc.notes.append("no os.conf was given, so the first boot was not simulated")
        doc.notes += [f"{f}: not offered for this image" for f in self.idle_fixes()]
        doc.inject_result = self.inject_result
        if self.guest is not None:
            plan, why = self.injection_plan(False)
            doc.plan = plan
            if why:
                doc.notes.append(f"injection: {why}")
        doc.import_plan, doc.import_commands = self.import_plan()
        return doc
