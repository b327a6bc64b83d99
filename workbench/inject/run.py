"""inject: the plan written into a new image (a staged copy, renamed only after verification) or in place."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from workbench.errors import UsageError
from workbench.image.appliance import software_emulation
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestReport, GuestSession, Progress
from workbench.image.tree import GuestTree
from workbench.inject.plan import NOTHING_WRITTEN, InjectError, InjectionPlan
from workbench.inject.verify import VerifyItem, verify_mounted
from workbench.inject.writer import apply_plan
from workbench.staging import Staged, copy_image, same_file

if TYPE_CHECKING:
    from workbench.state import InjectTarget


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


def inject(facts: ImageFacts, target: InjectTarget,
           plan_for: Callable[[GuestReport, ImageFacts], tuple[InjectionPlan, GuestTree]], pull: str = "system",
           progress: Callable[[Progress], None] | None = None,
           notify: Callable[[str], None] | None = None) -> InjectResult | InjectionPlan:
    """Write a plan into a new image (a staged copy, renamed only once verified), or in place.

    plan_for(report, facts) makes the plan once the image being written is open (report: what the appliance read
    from it, as much as pull asks), and gives the tree whose SELinux file contexts label the writes."""
    started = time.monotonic()
    progress = progress or (lambda p: None)
    if not target.in_place and not target.output and not target.plan_only:
        raise UsageError("say where to write: --output OUT (a new image), or --in-place --yes")
    fmt = target.output_format or facts.format
    with staged_target(facts, target.output, target.in_place or target.plan_only, target.force) as staged:
        dst = facts.path
        if staged is not None:
            progress(Progress("Copying the image", None))
            copy_image(facts.path, facts.format, staged.path, fmt)
            dst = staged.path
        work_facts = ImageFacts(**{**facts.__dict__, "format": fmt if staged else facts.format})
        with GuestSession(work_facts, progress, notify, writable_path=None if target.plan_only else dst) as s:
            report = s.open(pull=pull)
            plan, tree = plan_for(report, work_facts)
            if target.plan_only:
                return plan
            progress(Progress("Writing", None))
            slow = " (minutes without KVM)" if software_emulation() else ""
            writer, labelling = apply_plan(
                s, plan, work_facts, tree,
                on_command=lambda shown: progress(Progress(f"Running {shown} in the appliance{slow}", None)))
            # verify what reached the disk: unmount, flush, drop the guest's caches, mount read-only, read back
            progress(Progress("Verifying", None))
            s.remount_readonly(report.mounts)
            items = verify_mounted(s, work_facts, plan, writer.expected_labels)
            s.unmount_all()
            s.close()
        result = InjectResult(target.output or facts.path, target.in_place, plan, writer.written, writer.unchanged,
                              items, labelling, 0.0)
        if not result.ok:
            bad = next(v for v in items if not v.ok)
            raise InjectError(f"verification failed for {bad.path}: {bad.detail}; "
                              + ("the output was not created" if staged else "the image was written in place"),
                              title=NOTHING_WRITTEN if staged else None)
        if staged is not None:
            staged.commit()
    result.seconds = time.monotonic() - started
    progress(Progress("Done", 1.0))
    return result
