"""Account fixes: lock accounts, force a password change at first login."""

from __future__ import annotations

from workbench.changes import Change
from workbench.fixes import Fix, View, register_fix


def _edit_account_file(tree: View, path: str, names: set[str], edit) -> Change | None:
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
    return Change(path, "modify", text, after) if after != text else None


@register_fix("fix.lock-account", "Lock accounts with empty or default passwords")
def _lock(fix: Fix, tree: View) -> None:
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


@register_fix("fix.expire-passwords", "Force a password change at first login")
def _expire(fix: Fix, tree: View) -> None:
    def expire(f):
        while len(f) < 3:
            f.append("")
        f[2] = "0"
        return f
    ch = _edit_account_file(tree, "/etc/shadow", set(fix.targets), expire)
    if ch:
        fix.changes.append(ch)
    fix.notes.append("a last-change day of 0 makes login require a new password first")


