"""One image's review: the facts, the guest's report, the check results and the fixes they offer; the check JSON
document and the exit code its verdict gives. A ReviewSession (state.py) makes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from workbench import __version__
from workbench.checks import CheckResult, Context, Status
from workbench.fixes import Fix
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestReport, Progress
from workbench.verdict import EXIT_CODES, verdict_of

if TYPE_CHECKING:
    from workbench.state import ReviewOptions

CHECK_SCHEMA = "workbench.check/1"


@dataclass
class Review:
    facts: ImageFacts
    guest: GuestReport | None = None
    quick: bool = False
    guest_error: str | None = None
    results: list[CheckResult] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)

    def context(self, advisories: tuple[str, ...] = (), progress=None, cancel=None) -> Context:
        """What the checks look at (ReviewSession.compute_checks adds the operator's options)."""
        return Context(self.facts, self.guest, self.quick, self.guest_error, advisories, progress, cancel)

    @property
    def errored(self) -> list[CheckResult]:
        """Checks that raised: nothing was decided by them."""
        return [r for r in self.results if r.status == Status.ERROR]

    @property
    def exit_code(self) -> int:
        """2 when a check could not finish; otherwise as the verdict says (verdict.EXIT_CODES): 0 ready (with or
        without warnings), 1 not ready or will be rejected, 3 not fully reviewed."""
        if self.errored:
            return 2
        return EXIT_CODES[verdict_of(self.results).outcome]

    def counts(self) -> dict[str, int]:
        out = {str(s): 0 for s in Status}
        for r in self.results:
            out[str(r.status)] += 1
        return out

    def mountpoint(self, device: str) -> str | None:
        return self.guest.mountpoint(device) if self.guest is not None else None

    def to_json(self) -> dict:
        os_json = self.guest.os.to_json() if self.guest and self.guest.os else None
        doc = {
            "schema": CHECK_SCHEMA,
            "workbench_version": __version__,
            "image": self.facts.to_json(self.mountpoint),
            "os": os_json,
            "checks": [r.to_json() for r in self.results],
            "verdict": verdict_of(self.results).to_json(),
            "fixes": [f.to_json() for f in self.fixes],
        }
        if self.guest is not None:
            doc["guest"] = {"accel": self.guest.accel, "root_device": self.guest.root_device,
                            "mounts": [{"device": m.device, "mountpoint": m.mountpoint} for m in self.guest.mounts],
                            "notes": self.guest.notes, "injected": self.guest.injected,
                            "not_read": [{"path": p, "why": w} for p, w in list(self.guest.tree.unread.items())[:200]]}
        return doc


def review_image(path: str, quick: bool = False, progress: Callable[[Progress], None] | None = None,
                 notify: Callable[[str], None] | None = None, options: ReviewOptions | None = None) -> Review:
    """The whole headless review (a ReviewSession opened and checked). Raises WorkbenchError (one sentence) when
    the image cannot be opened."""
    from dataclasses import replace

    from workbench.state import ReviewOptions, ReviewSession

    session = ReviewSession(path, replace(options or ReviewOptions(), quick=quick))
    session.open(progress, notify)
    session.check()
    return session.review


__all__ = ["Review", "review_image", "CHECK_SCHEMA"]
