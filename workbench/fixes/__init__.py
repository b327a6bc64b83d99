"""Fixes for failing checks, as file changes the simulation and inject screens preview and apply.

A check offers a fix id with its targets (accounts, paths, service enablements);
build_fixes merges the offers of all results and computes each fix's changes
from the pulled guest tree. Each fix is registered with @register_fix next to its builder,
in the module of its area. Nothing here writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from workbench.changes import Change
from workbench.image.tree import GuestTree


@dataclass
class FixCommand:
    """A program of the image run inside the appliance (never on the host) after the file changes, such as the
    image's own update-initramfs. The files it replaces are saved first (uninject restores them) and checked
    after it ran."""
    argv: list[str]
    replaces: list[str]  # guest paths it rewrites
    why: str
    verify: dict = field(default_factory=dict)  # {"initramfs": path, "modules": [...]} or {"boot_config": path}

    def to_json(self) -> dict:
        return {"argv": list(self.argv), "replaces": list(self.replaces), "why": self.why}

    def shown(self) -> str:
        return " ".join(self.argv)


@dataclass
class Fix:
    id: str
    title: str
    checks: list[str]
    targets: list[str]
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[FixCommand] = field(default_factory=list)

    def to_json(self, with_text: bool = False) -> dict:
        return {"id": self.id, "title": self.title, "checks": self.checks, "targets": self.targets,
                "changes": [c.to_json() if with_text else {"path": c.path, "action": c.action} for c in self.changes],
                "commands": [c.to_json() for c in self.commands], "notes": self.notes}


class View:
    """The guest tree as the fixes applied so far have left it (reads only; nothing is written)."""

    def __init__(self, tree: GuestTree) -> None:
        self.tree = tree
        self.texts: dict[str, str | None] = {}  # path -> new text, None when deleted
        self.modes: dict[str, int] = {}

    def read_text(self, path: str, limit: int | None = None) -> str | None:
        if path in self.texts:
            text = self.texts[path]
            return text if text is None or limit is None else text[:limit]
        return self.tree.read_text(path, limit)

    def read_raw(self, path: str) -> str | None:
        """The text with its line breaks as written (a CR is kept, not made a line break): for edits that must
        leave every other byte as the image's own program reads it."""
        if path in self.texts:
            return self.texts[path]
        data = self.tree.read_bytes(path)
        return None if data is None else data.decode("utf-8", "replace")

    def node(self, path: str, follow: bool = True):
        if path in self.texts and self.texts[path] is None:
            return None
        return self.tree.node(path, follow=follow)

    def record(self, change: Change) -> None:
        self.texts[change.path] = change.after if change.action != "delete" else None
        if change.mode is not None:
            self.modes[change.path] = change.mode

    def __getattr__(self, name):  # listdir, exists, resolve...: as the image has them
        return getattr(self.tree, name)


@dataclass(frozen=True)
class FixSpec:
    id: str
    title: str
    build: Callable[[Fix, "View"], None]


REGISTRY: dict[str, FixSpec] = {}


def register_fix(id: str, title: str):
    """Register a builder `(fix, view) -> None` that appends the fix's Changes; ids are unique."""
    def deco(func):
        if id in REGISTRY:
            raise RuntimeError(f"fix id {id} is registered twice")
        REGISTRY[id] = FixSpec(id, title, func)
        return func
    return deco


def _load() -> None:
    from workbench.fixes import accounts, boot, guest, network, ssh, services  # noqa: F401


def known_fixes() -> dict[str, FixSpec]:
    """Every fix the workbench can make, by id, in registration order."""
    _load()
    return dict(REGISTRY)


def build_fixes(results, tree: GuestTree | None) -> list[Fix]:
    """One Fix per offered fix id, each computed on the image as it is (for preview and choice)."""
    if tree is None:
        return []
    merged: dict[str, Fix] = {}
    for r in results:
        if r.status not in ("fail", "warn"):
            continue
        for fix_id, targets in r.offers.items():
            known = known_fixes()[fix_id]  # a check offering an unknown fix is a bug: KeyError
            fix = merged.setdefault(fix_id, Fix(fix_id, known.title, [], []))
            fix.checks.append(r.id)
            fix.targets += [t for t in targets if t not in fix.targets]
    for f in merged.values():
        REGISTRY[f.id].build(f, View(tree))
    return list(merged.values())


def combine(fixes: list[Fix], tree: GuestTree) -> tuple[list[Change], list[tuple[str, FixCommand]]]:
    """The chosen fixes applied one after another: one change per path, from the original to the end, and their
    commands (each once), as (fix id, command).

    Each fix was built on the image as it is (build_fixes); it is built again on what the fixes before it left
    only when one of them changed a path it changes too (the accounts in /etc/shadow, say)."""
    view = View(tree)
    order: list[str] = []
    commands: list[tuple[str, FixCommand]] = []
    seen: set[tuple[str, ...]] = set()
    for chosen in fixes:
        built = chosen
        if any(c.path in view.texts for c in chosen.changes):
            built = Fix(chosen.id, chosen.title, chosen.checks, chosen.targets)
            REGISTRY[chosen.id].build(built, view)
        for ch in built.changes:
            view.record(ch)
            if ch.path not in order:
                order.append(ch.path)
        for cmd in built.commands:
            if tuple(cmd.argv) not in seen:
                seen.add(tuple(cmd.argv))
                commands.append((chosen.id, cmd))
    out = []
    for path in order:
        node = tree.node(path, follow=False)
        before = tree.read_text(path) if node is not None and node.kind == "file" else (
            f"-> {node.target}" if node is not None and node.kind == "link" else None)
        after = view.texts[path]
        kind = "link" if (node is not None and node.kind == "link") or (after or "").startswith("-> ") else "file"
        if node is None and after is None:
            continue
        action = "delete" if after is None else ("create" if node is None else "modify")
        out.append(Change(path, action, before, after, kind, view.modes.get(path)))
    return out, commands
