"""The review's verdict, as the documents and the terminal show it (the rules are in workbench/verdict.py)."""

from __future__ import annotations

from workbench.review import Review
from workbench.verdict import Verdict, verdict_of


def verdict_for(review: Review) -> Verdict:
    return verdict_of(review.results)


def verdict(review: Review) -> str:
    """The verdict in one line: the outcome and its reasons."""
    return verdict_for(review).line()
