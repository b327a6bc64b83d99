"""The review's one-line verdict."""

from __future__ import annotations

from workbench.review import Review


def verdict(review: Review) -> str:
    """One line: ready to import / will be rejected: ... / importable with N high-risk findings."""
    failed_limits = [r for r in review.results if r.area == "limits" and r.status == "fail"]
    if failed_limits:
        what = "; ".join(r.title.lower() for r in failed_limits)
        return f"will be rejected: {what}"
    high = [r for r in review.results if r.area != "limits" and r.status == "fail" and r.severity in ("high", "blocker")]
    if high:
        return f"importable with {len(high)} high-risk finding{'s' if len(high) != 1 else ''}"
    return "ready to import"
