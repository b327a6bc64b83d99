"""SSH fixes: remove host keys, users' private keys and authorized_keys; harden sshd_config."""

from __future__ import annotations

from workbench.changes import Change
from workbench.fixes import Fix, View, register_fix

SSHD_SAFE = {"permitemptypasswords": "no", "protocol": "2", "permitrootlogin": "prohibit-password",
             "hostbasedauthentication": "no", "ignorerhosts": "yes", "permituserenvironment": "no",
             "strictmodes": "yes", "useprivilegeseparation": "sandbox"}
SSHD_NAMES = {"permitemptypasswords": "PermitEmptyPasswords", "protocol": "Protocol",
              "permitrootlogin": "PermitRootLogin", "hostbasedauthentication": "HostbasedAuthentication",
              "ignorerhosts": "IgnoreRhosts", "permituserenvironment": "PermitUserEnvironment",
              "strictmodes": "StrictModes", "useprivilegeseparation": "UsePrivilegeSeparation"}


def _remove(fix: Fix, tree: View, with_pub: bool = False) -> None:
    for path in fix.targets:
        for p in [path] + ([path + ".pub"] if with_pub else []):
            node = tree.node(p, follow=False)
            if node is None:
                continue
            before = tree.read_text(p) if node.kind == "file" else f"-> {node.target}"
            fix.changes.append(Change(p, "delete", before, None, "link" if node.kind == "link" else "file"))


@register_fix("fix.remove-host-keys", "Remove SSH host keys (regenerated at first boot)")
def _remove_host_keys(fix: Fix, tree: View) -> None:
    _remove(fix, tree, with_pub=True)
    fix.notes.append("new host keys are generated at first boot (ssh-keygen -A in the workbench's parser)")


@register_fix("fix.remove-user-keys", "Remove private keys from home directories")
def _remove_user_keys(fix: Fix, tree: View) -> None:
    _remove(fix, tree)
    fix.notes.append("rotate these keys wherever their public halves are authorized")


@register_fix("fix.remove-authorized-keys", "Remove baked-in authorized_keys")
def _remove_authorized(fix: Fix, tree: View) -> None:
    _remove(fix, tree)


@register_fix("fix.harden-sshd", "Harden sshd_config")
def _harden_sshd(fix: Fix, tree: View) -> None:
    from workbench.checks.ssh import RISKY, SSHD_CONFIG, sshd_settings

    settings, _ = sshd_settings(tree)
    bad = [s for s in settings for key, test, _, _ in RISKY if s.key == key and test(s.value)]
    by_file: dict[str, list] = {}
    for s in bad:
        by_file.setdefault(s.file, []).append(s)
    keys = sorted({s.key for s in bad if s.key in SSHD_SAFE})
    for path in sorted(set(by_file) | {SSHD_CONFIG}):
        text = tree.read_raw(path)  # sshd's lines end at LF only: a lone CR is part of its line
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
            fix.changes.append(Change(path, "modify", text, after))
