"""Fixes for failing checks, as file changes the simulation and inject screens preview and apply.

A check offers a fix id with its targets (accounts, paths, service enablements);
build_fixes merges the offers of all results and computes each fix's changes
from the pulled guest tree. Nothing here writes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workbench.image.tree import GuestTree

FIX_TITLES = {
    "fix.lock-account": "Lock accounts with empty or default passwords",
    "fix.expire-passwords": "Force a password change at first login",
    "fix.remove-host-keys": "Remove SSH host keys (regenerated at first boot)",
    "fix.remove-user-keys": "Remove private keys from home directories",
    "fix.remove-authorized-keys": "Remove baked-in authorized_keys",
    "fix.disable-service": "Disable risky network services",
    "fix.harden-sshd": "Harden sshd_config",
}
SSHD_SAFE = {"permitemptypasswords": "no", "protocol": "2", "permitrootlogin": "prohibit-password",
             "hostbasedauthentication": "no", "ignorerhosts": "yes", "permituserenvironment": "no",
             "strictmodes": "yes", "useprivilegeseparation": "sandbox"}
SSHD_NAMES = {"permitemptypasswords": "PermitEmptyPasswords", "protocol": "Protocol",
              "permitrootlogin": "PermitRootLogin", "hostbasedauthentication": "HostbasedAuthentication",
              "ignorerhosts": "IgnoreRhosts", "permituserenvironment": "PermitUserEnvironment",
              "strictmodes": "StrictModes", "useprivilegeseparation": "UsePrivilegeSeparation"}


@dataclass
class FileChange:
    path: str
    action: str  # create | modify | delete
    before: str | None
    after: str | None
    kind: str = "file"  # file | link
    mode: int | None = None  # for created files

    def to_json(self) -> dict:
        return {"path": self.path, "action": self.action, "kind": self.kind, "before": self.before,
                "after": self.after}


@dataclass
class Fix:
    id: str
    title: str
    checks: list[str]
    targets: list[str]
    changes: list[FileChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self, with_text: bool = False) -> dict:
        return {"id": self.id, "title": self.title, "checks": self.checks, "targets": self.targets,
                "changes": [c.to_json() if with_text else {"path": c.path, "action": c.action} for c in self.changes],
                "notes": self.notes}


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

    def node(self, path: str, follow: bool = True):
        if path in self.texts and self.texts[path] is None:
            return None
        return self.tree.node(path, follow=follow)

    def record(self, change: "FileChange") -> None:
        self.texts[change.path] = change.after if change.action != "delete" else None
        if change.mode is not None:
            self.modes[change.path] = change.mode

    def __getattr__(self, name):  # listdir, exists, resolve...: as the image has them
        return getattr(self.tree, name)


def build_fixes(results, tree: GuestTree | None) -> list[Fix]:
    """One Fix per offered fix id, each computed on the image as it is (for preview and choice)."""
    if tree is None:
        return []
    merged: dict[str, Fix] = {}
    for r in results:
        if r.status not in ("fail", "warn"):
            continue
        for fix_id, targets in r.offers.items():
            fix = merged.setdefault(fix_id, Fix(fix_id, FIX_TITLES.get(fix_id, fix_id), [], []))
            fix.checks.append(r.id)
            fix.targets += [t for t in targets if t not in fix.targets]
    for fix in merged.values():
        BUILDERS[fix.id](fix, View(tree))
    return list(merged.values())


def combined_changes(fixes: list[Fix], tree: GuestTree) -> list[FileChange]:
    """The chosen fixes applied one after another: one change per path, from the original to the end."""
    view = View(tree)
    order: list[str] = []
    for fix in fixes:
        again = Fix(fix.id, fix.title, fix.checks, fix.targets)
        BUILDERS[fix.id](again, view)
        for ch in again.changes:
            view.record(ch)
            if ch.path not in order:
                order.append(ch.path)
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
        out.append(FileChange(path, action, before, after, kind, view.modes.get(path)))
    return out


# -- account fixes -----------------------------------------------------------------------------------
def _edit_account_file(tree: "View", path: str, names: set[str], edit) -> FileChange | None:
    text = tree.read_text(path)
    if text is None:
        return None
    lines = text.split("\n")
    done: set[str] = set()
    for i, line in enumerate(lines):
        f = line.split(":")
        if len(f) >= 2 and f[0] in names and f[0] not in done:
            lines[i] = ":".join(edit(f))
            done.add(f[0])
    after = "\n".join(lines)
    return FileChange(path, "modify", text, after) if after != text else None


def _lock(fix: Fix, tree: GuestTree) -> None:
    def lock(f):
        f[1] = "!" if f[1] == "" else (f[1] if f[1].startswith("!") else "!" + f[1])
        return f
    names = set(fix.targets)
    shadow_names = {ln.split(":")[0] for ln in (tree.read_text("/etc/shadow") or "").splitlines()}
    for path, who in (("/etc/shadow", names & shadow_names), ("/etc/passwd", names - shadow_names)):
        if who:
            ch = _edit_account_file(tree, path, who, lock)
            if ch:
                fix.changes.append(ch)
    fix.notes.append("locked accounts keep their files; the platform sets root's password from os.conf")


def _expire(fix: Fix, tree: GuestTree) -> None:
    def expire(f):
        while len(f) < 3:
            f.append("")
        f[2] = "0"
        return f
    ch = _edit_account_file(tree, "/etc/shadow", set(fix.targets), expire)
    if ch:
        fix.changes.append(ch)
    fix.notes.append("a last-change day of 0 makes login require a new password first")


# -- removals ---------------------------------------------------------------------------------------
def _remove(fix: Fix, tree: GuestTree, with_pub: bool = False) -> None:
    for path in fix.targets:
        for p in [path] + ([path + ".pub"] if with_pub else []):
            node = tree.node(p, follow=False)
            if node is None:
                continue
            before = tree.read_text(p) if node.kind == "file" else f"-> {node.target}"
            fix.changes.append(FileChange(p, "delete", before, None, "link" if node.kind == "link" else "file"))


def _remove_host_keys(fix: Fix, tree: GuestTree) -> None:
    _remove(fix, tree, with_pub=True)
    fix.notes.append("new host keys are generated at first boot (ssh-keygen -A in the workbench's parser)")


def _remove_user_keys(fix: Fix, tree: GuestTree) -> None:
    _remove(fix, tree)
    fix.notes.append("rotate these keys wherever their public halves are authorized")


def _remove_authorized(fix: Fix, tree: GuestTree) -> None:
    _remove(fix, tree)


# -- services ---------------------------------------------------------------------------------------
def _disable(fix: Fix, tree: GuestTree) -> None:
    edits: dict[str, str] = {}
    for target in fix.targets:
        kind, _, rest = target.partition(":")
        if kind == "link":
            node = tree.node(rest, follow=False)
            if node is not None:
                fix.changes.append(FileChange(rest, "delete", f"-> {node.target}" if node.target else None, None,
                                              "link" if node.kind == "link" else "file"))
        elif kind == "mask":
            path = f"/etc/systemd/system/{rest}"
            fix.changes.append(FileChange(path, "create", None, "-> /dev/null", "link"))
        elif kind == "upstart":
            path = f"/etc/init/{rest}.override"
            before = tree.read_text(path)
            fix.changes.append(FileChange(path, "modify" if before is not None else "create", before,
                                          (before or "") + "manual\n", mode=0o644))
        elif kind in ("xinetd", "inetd"):
            path, _, service = rest.rpartition(":")
            text = edits.get(path, tree.read_text(path))
            if text is None:
                continue
            if kind == "xinetd":
                edits[path] = _xinetd_disable(text, service)
            else:
                edits[path] = re.sub(rf"^(\s*{re.escape(service)}(?::\S+)?\s)", r"#\1", text, flags=re.M)
    for path, after in edits.items():
        fix.changes.append(FileChange(path, "modify", tree.read_text(path), after))


def _xinetd_disable(text: str, service: str) -> str:
    def block(m: re.Match) -> str:
        body = m.group(2)
        if re.search(r"^\s*disable\s*=", body, re.M):
            body = re.sub(r"^(\s*disable\s*=\s*)\S+", r"\1yes", body, flags=re.M)
        else:
            body = body.rstrip() + "\n        disable         = yes\n"
        return m.group(1) + body + "}"
    return re.sub(rf"^(\s*service\s+{re.escape(service)}\s*\n?\s*\{{)(.*?)\}}", block, text, flags=re.M | re.S)


# -- sshd ---------------------------------------------------------------------------------------------
def _harden_sshd(fix: Fix, tree: GuestTree) -> None:
    from workbench.checks.ssh import RISKY, SSHD_CONFIG, sshd_settings

    settings, _ = sshd_settings(tree)
    bad = [s for s in settings for key, test, _, _ in RISKY if s.key == key and test(s.value)]
    by_file: dict[str, list] = {}
    for s in bad:
        by_file.setdefault(s.file, []).append(s)
    keys = sorted({s.key for s in bad if s.key in SSHD_SAFE})
    for path in sorted(set(by_file) | {SSHD_CONFIG}):
        text = tree.read_text(path)
        if text is None:
            continue
        lines = text.split("\n")
        for s in by_file.get(path, []):
            if 0 < s.line <= len(lines) and not lines[s.line - 1].lstrip().startswith("#"):
                lines[s.line - 1] = "# disabled by workbench (fix.harden-sshd): " + lines[s.line - 1]
        if path == SSHD_CONFIG and keys:
            head = ["# workbench (fix.harden-sshd): sshd keeps the first value it reads, so these come first"]
            head += [f"{SSHD_NAMES[k]} {SSHD_SAFE[k]}" for k in keys]
            lines = head + lines
        after = "\n".join(lines)
        if after != text:
            fix.changes.append(FileChange(path, "modify", text, after))


BUILDERS = {
    "fix.lock-account": _lock, "fix.expire-passwords": _expire, "fix.remove-host-keys": _remove_host_keys,
    "fix.remove-user-keys": _remove_user_keys, "fix.remove-authorized-keys": _remove_authorized,
    "fix.disable-service": _disable, "fix.harden-sshd": _harden_sshd,
}
