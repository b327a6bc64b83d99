"""inject: the plan written into a new image (a staged copy, renamed only after verification) or in place."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable

from workbench.errors import UsageError
from workbench.fixes import Fix
from workbench.image.appliance import software_emulation
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestSession, Progress
from workbench.inject.plan import InjectError, InjectionPlan, build_plan
from workbench.inject.verify import VerifyItem, verify_mounted
from workbench.inject.writer import apply_plan
from workbench.staging import Staged, copy_image, same_file


@dataclass
class InjectResult:
    output: str
    in_place: bool
    plan: InjectionPlan
    written: list[str]
    unchanged: list[str]
    verified: list[VerifyItem]
    labelling: str
    seconds: float

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verified)

    def to_json(self) -> dict:
        return {"schema": "workbench.inject/1", "output": self.output, "in_place": self.in_place,
                "plan": self.plan.to_json(), "written": self.written, "unchanged": self.unchanged,
                "labelling": self.labelling, "verified": [v.__dict__ for v in self.verified], "ok": self.ok,
                "seconds": round(self.seconds, 2)}


def output_room(facts: ImageFacts) -> int:
    """Bytes a full copy of the image needs, with some slack."""
    return int((facts.actual_size or facts.virtual_size) * 1.1) + (64 << 20)


def staged_target(facts: ImageFacts, output: str | None, in_place: bool, force: bool):
    """A Staged output for a copy, or a no-op context for an in-place write."""
    if in_place:
        return contextlib.nullcontext(None)
    if same_file(output, facts.path):
        raise UsageError("--output is the source image; use --in-place --yes to write into it")
    return Staged(output, force, output_room(facts))


def _chosen_fixes(facts: ImageFacts, report, fix_ids: tuple[str, ...]) -> tuple[list[Fix], list[str]]:
    """The fixes asked for that the checks offer on this image, and those nothing offers (already applied?)."""
    from workbench.checks import Context, run_checks
    from workbench.fixes import build_fixes, known_fixes

    if not fix_ids:
        return [], []
    known = known_fixes()
    unknown = [f for f in fix_ids if f not in known]
    if unknown:
        raise UsageError(f"{unknown[0]} is not a fix the workbench knows (known: {', '.join(known)})")
    available = {f.id: f for f in build_fixes(run_checks(Context(facts, report)), report.tree)}
    return [available[f] for f in fix_ids if f in available], [f for f in fix_ids if f not in available]


def inject(src_path: str, output: str | None = None, in_place: bool = False, force: bool = False,
           flavor: str | None = None, script: str | None = None, fix_ids: tuple[str, ...] = (),
           osconf_text: str | None = None, output_format: str | None = None,
           progress: Callable[[Progress], None] | None = None, notify: Callable[[str], None] | None = None,
           plan_only: bool = False, allow_backing: bool = False) -> InjectResult | InjectionPlan:
    """Write the parser (and the chosen fixes) into a new image, or in place; verify; rename into place."""
    started = time.monotonic()
    progress = progress or (lambda p: None)
    facts = preflight(src_path, allow_backing)
    if not in_place and not output and not plan_only:
        raise UsageError("say where to write: --output OUT (a new image), or --in-place --yes")
    fmt = output_format or facts.format
    with staged_target(facts, output, in_place or plan_only, force) as staged:
        target = src_path
        if staged is not None:
            progress(Progress("Copying the image", None))
            copy_image(facts.path, facts.format, staged.path, fmt)
            target = staged.path
        work_facts = ImageFacts(**{**facts.__dict__, "format": fmt if staged else facts.format})
        with GuestSession(work_facts, progress, notify, writable_path=None if plan_only else target) as s:
            report = s.open(pull="all" if fix_ids else "system")
            fixes, idle = _chosen_fixes(work_facts, report, fix_ids)
            plan = build_plan(work_facts, report, flavor, script, fixes, osconf_text)
            plan.notes += [f"{f}: nothing to do, no check offers it for this image (already applied?)" for f in idle]
            if plan_only:
                return plan
            progress(Progress("Writing", None))
            slow = " (minutes without KVM)" if software_emulation() else ""
            writer, labelling = apply_plan(
                s, plan, work_facts, report.tree,
                on_command=lambda shown: progress(Progress(f"Running {shown} in the appliance{slow}", None)))
            # verify what reached the disk: unmount, flush, drop the guest's caches, mount read-only, read back
            progress(Progress("Verifying", None))
            s.remount_readonly(report.mounts)
            items = verify_mounted(s, work_facts, plan, writer.expected_labels)
            s.unmount_all()
            s.close()
        result = InjectResult(output or src_path, in_place, plan, writer.written, writer.unchanged, items,
                              labelling, 0.0)
        if not result.ok:
            bad = next(v for v in items if not v.ok)
            raise InjectError(f"verification failed for {bad.path}: {bad.detail}; "
                              + ("the output was not created" if staged else "the image was written in place"))
        if staged is not None:
            staged.commit()
    result.seconds = time.monotonic() - started
    progress(Progress("Done", 1.0))
    return result
