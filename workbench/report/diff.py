"""Unified diffs of a change, passwords and hashes masked (shared by the text, the documents and the TUI)."""

from __future__ import annotations

import difflib

from workbench.simulate import mask


def unified_diff(change) -> list[str]:
    """A unified diff of one change, passwords masked."""
    before = (mask(change.path, change.before) or "").splitlines(keepends=True)
    after = (mask(change.path, change.after) or "").splitlines(keepends=True)
    src = "/dev/null" if change.action == "create" else "a" + change.path
    dst = "/dev/null" if change.action == "delete" else "b" + change.path
    return [ln if ln.endswith("\n") else ln + "\n" for ln in difflib.unified_diff(before, after, src, dst)]
