"""One image's review: preflight, the guest session, the checks, the check JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from workbench import __version__
from workbench.checks import CheckResult, Context, Status, run_checks
from workbench.fixes import Fix, build_fixes
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestReport, GuestSession, Progress
from workbench.verdict import verdict_of

CHECK_SCHEMA = "workbench.check/1"


@dataclass
class Review:
    facts: ImageFacts
    guest: GuestReport | None = None
    quick: bool = False
    guest_error: str | None = None
    options: dict = field(default_factory=dict)
    results: list[CheckResult] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)

    def context(self) -> Context:
        return Context(self.facts, self.guest, self.quick, self.guest_error, self.options)

    def run(self) -> list[CheckResult]:
        self.results = run_checks(self.context())
        self.fixes = build_fixes(self.results, self.guest.tree if self.guest else None)
        return self.results

    @property
    def errored(self) -> list[CheckResult]:
        """Checks that raised: nothing was decided by them."""
        return [r for r in self.results if r.status == Status.ERROR]

    @property
    def exit_code(self) -> int:
        """2 when a check could not finish, 1 when one failed, 0 otherwise."""
        if self.errored:
            return 2
        return 1 if any(r.status == Status.FAIL for r in self.results) else 0

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
                 notify: Callable[[str], None] | None = None, options: dict | None = None) -> Review:
    """The whole headless review. Raises WorkbenchError (one sentence) when the image cannot be opened."""
    facts = preflight(path, allow_backing=bool((options or {}).get("allow_backing")))
    review = Review(facts, quick=quick, options=options or {})
    if not quick:
        with GuestSession(facts, progress, notify) as session:
            review.guest = session.open()
    review.run()
    return review


__all__ = ["Review", "review_image", "CHECK_SCHEMA"]
