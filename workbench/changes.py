"""Change: the one type for "a change to one path", from the fix builders through the injection plan, the
simulation's and the boot's view, to the writer that applies it and the verification that reads it back.

A fix builder makes it with the text it wants (after); the plan adds why, mode and owner; the simulation and a
rehearsed boot report what they saw with it; the writer writes `content` (the exact bytes). Links carry their
target as "-> target", as every view shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

ACTIONS = ("create", "modify", "delete")
KINDS = ("file", "dir", "link")
LINK = "-> "


@dataclass
class Change:
    path: str
    action: str  # create | modify | delete
    before: str | None = None  # as the image has it (text; "-> target" for a link), for the views
    after: str | None = None  # what it becomes (None: deleted, or a directory)
    kind: str = "file"  # file | dir | link: what is (or, for a delete, was) at the path
    mode: int | None = None  # for a created file or directory; None: the writer's default (0644 / 0755)
    uid: int = 0
    gid: int = 0
    reason: str = ""  # why it is written (the plan's column)
    data: bytes | None = None  # the exact bytes to write, when they are not after's UTF-8 text (or not text)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown change action {self.action!r}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown change kind {self.kind!r}")

    @property
    def content(self) -> bytes:
        """What the writer puts in a file."""
        return self.data if self.data is not None else (self.after or "").encode("utf-8")

    @property
    def target(self) -> str | None:
        """A link's target."""
        if self.kind == "link" and self.after is not None and self.after.startswith(LINK):
            return self.after[len(LINK):]
        return None

    @property
    def file_mode(self) -> int:
        return self.mode if self.mode is not None else (0o755 if self.kind == "dir" else 0o644)

    def to_json(self) -> dict:
        return {"path": self.path, "action": self.action, "before": self.before, "after": self.after}


def file_write(path: str, data: bytes, reason: str, mode: int = 0o644) -> Change:
    """A file the workbench writes whole (the parser, its unit, an os.conf): after is its text for the views."""
    return Change(path, "create", None, data.decode("utf-8", "replace"), "file", mode, reason=reason, data=data)


def link_write(path: str, target: str, reason: str) -> Change:
    return Change(path, "create", None, LINK + target, "link", reason=reason)


def dir_write(path: str, reason: str, mode: int = 0o755) -> Change:
    return Change(path, "create", None, None, "dir", mode, reason=reason)
