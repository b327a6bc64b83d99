"""Account fixes: lock accounts, force a password change at first login."""

from __future__ import annotations

from workbench.accounts import C_SPACE
from workbench.changes import Change
from workbench.fixes import Fix, View, register_fix


def _edit_account_file(tree: View, path: str, names: set[str], edit) -> Change | None:
    """Edit every entry of each named account, wherever glibc finds one (a line ends at LF; leading blanks are
    skipped; a short line is an entry too) and wherever a lenient reader does (a CR ends a line there): which of
    several entries a reader takes depends on which lines it rejects, so all of them change; every other byte
    stays as it was."""
    text = tree.read_raw(path)
    if text is None:
        return None

    def one(segment: str, strip: bool) -> str:
        body = segment.lstrip(C_SPACE)
        fields = body.split(":")
        name = fields[0].strip(C_SPACE) if strip else fields[0]
        if len(fields) < 2 or name not in names:
            return segment
        return segment[:len(segment) - len(body)] + ":".join(edit(fields))

    # glibc's entry first (its name may hold a CR), then the lenient reader's (each CR-separated piece)
    after = "\n".join("\r".join(one(seg, True) for seg in one(line, False).split("\r"))
                      for line in text.split("\n"))
    return Change(path, "modify", text, after) if after != text else None


@register_fix("fix.lock-account", "Lock accounts with empty or default passwords")
def _lock(fix: Fix, tree: View) -> None:
    def lock(f):
        f[1] = "!" if f[1] == "" else (f[1] if f[1].startswith("!") else "!" + f[1])
        return f
    names = set(fix.targets)
    shadow_names = {ln.lstrip(C_SPACE).split(":")[0].strip(C_SPACE)
                    for ln in (tree.read_raw("/etc/shadow") or "").replace("\r", "\n").split("\n")}

    def defer(f):
        """passwd's own field: empty means no password to pam_unix whatever shadow says; x defers to shadow (locked
        above), and an account without a shadow entry is locked here."""
        if f[1] == "":
            f[1] = "x" if f[0].strip(C_SPACE) in shadow_names else "!"
        elif f[0].strip(C_SPACE) not in shadow_names:
            f = lock(f)
        return f
    for path, who, edit in (("/etc/shadow", names & shadow_names, lock), ("/etc/passwd", names, defer)):
        if who:
            ch = _edit_account_file(tree, path, who, edit)
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


