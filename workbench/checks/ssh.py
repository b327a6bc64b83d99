"""SSH: host keys baked into the image, users' private keys, authorized_keys, risky sshd settings."""

from __future__ import annotations

import re

from workbench.checks import Check, CheckResult, Context, check
from workbench.image.tree import GuestTree
from workbench.sshd_config import SSHD_CONFIG, effective, read_config, sshd_settings  # noqa: F401
from workbench.sshd_start import START_FILES
from workbench.sshkeys import authorized_keys, private_key
from workbench.sshpaths import authorized_files, homes, host_key_files, ssh_dirs
from workbench.text import printable

START = tuple(p for p, _ in START_FILES)


def host_keys(tree: GuestTree) -> list[tuple[str, str]]:
    """(path, description) of private keys in /etc/ssh (by name or by content) and of every file sshd loads as
    a host key (HostKey, -h), wherever it is."""
    out = []
    for name in tree.listdir("/etc/ssh"):
        path = f"/etc/ssh/{name}"
        if not tree.is_file(path) or name.endswith(".pub"):
            continue
        key = private_key(tree.read_bytes(path, 65536) or b"")
        if key or re.fullmatch(r"ssh_host_\w+_key", name):
            kind = key.key_type if key and key.key_type else (name[9:-4] if name.startswith("ssh_host_") else "?")
            out.append((path, f"{path} ({kind})"))
    for path in host_key_files(tree):
        real = tree.resolve(path) or path
        if not tree.is_file(real) or any(p in (path, real) for p, _ in out):
            continue
        key = private_key(tree.read_bytes(real, 65536) or b"")
        kind = key.key_type if key and key.key_type else "?"
        out.append((path, f"{printable(path)} ({kind}, a HostKey of sshd)"))
    return out


def regenerates_host_keys(tree: GuestTree) -> str | None:
    """How the image would make new host keys at boot when they are missing, if it would."""
    for unit in ("sshd-keygen.service", "sshd-keygen@.service", "ssh-keygen.service", "sshd-keygen.target"):
        for base in ("/usr/lib/systemd/system", "/lib/systemd/system", "/etc/systemd/system"):
            if tree.exists(f"{base}/{unit}"):
                return f"{unit} generates missing host keys before sshd starts"
    for script in ("/etc/init.d/sshd", "/etc/init.d/ssh", "/etc/rc.d/init.d/sshd"):
        text = tree.read_text(script, 1 << 20) or ""
        if re.search(r"ssh-keygen\s+-A|do_\w*keygen|ssh-keygen", text):
            return f"{script} generates missing host keys"
    for unit in ("ssh.service", "sshd.service"):
        for base in ("/usr/lib/systemd/system", "/lib/systemd/system"):
            text = tree.read_text(f"{base}/{unit}", 1 << 20) or ""
            if re.search(r"^\s*ExecStartPre=.*ssh-keygen\s+-A", text, re.M):
                return f"{base}/{unit} runs ssh-keygen -A before sshd"
    if tree.exists("/etc/init.d/os-conf") and "ssh-keygen -A" in (tree.read_text("/etc/init.d/os-conf", 1 << 20) or ""):
        return "the injected os-conf parser runs ssh-keygen -A"
    return None


@check("ssh.host-keys", "No SSH host keys baked in", "ssh", "high", needs_guest=True,
       reads=lambda ctx: ["/etc/ssh", *START, *host_key_files(ctx.tree)])
def host_keys_check(c: Check, ctx: Context) -> CheckResult:
    keys = host_keys(ctx.tree)
    regen = regenerates_host_keys(ctx.tree)
    note = (f"if removed, they are regenerated at boot: {regen}" if regen else
            "nothing in the image regenerates missing host keys; the workbench's parser does (ssh-keygen -A) "
            "once injected")
    if keys:
        return c.result("fail", f"{len(keys)} SSH host private key(s) are in the image: every instance would "
                                "share them, so one leaked image lets anyone impersonate all of them.",
                        [d for _, d in keys] + [note],
                        "Remove them (fix.remove-host-keys); new ones are generated at first boot.",
                        offers={"fix.remove-host-keys": [p for p, _ in keys]})
    return c.result("pass", "No SSH host private keys are in the image.", [note])


def _key_places(tree: GuestTree) -> list[tuple[str, str]]:
    """(owner, directory) walked for private keys: the homes, and the .ssh of homes that are system dirs."""
    return homes(tree) + ssh_dirs(tree)


@check("ssh.user-keys", "No private keys in home directories", "ssh", "high", needs_guest=True,
       reads=lambda ctx: [h for _, h in _key_places(ctx.tree)])
def user_keys(c: Check, ctx: Context) -> CheckResult:
    tree = ctx.tree
    found = []
    places = _key_places(tree)
    for owner, home in places:
        for node in tree.walk(home):
            if node.kind != "file" or not node.data:
                continue
            key = private_key(node.data)
            if key:
                state = {True: "passphrase-protected", False: "not encrypted", None: "encryption unknown"}[key.encrypted]
                kind = key.key_type or key.format
                found.append((node.path, f"{printable(node.path)}: {kind} private key ({state}), "
                                         f"home of {printable(owner)}"))
    skipped = [s for s in tree.skipped if any(s.startswith(h + "/") for _, h in places)][:5]
    if found:
        return c.result("fail", f"{len(found)} private key(s) are stored in home directories: whoever gets the "
                                "image gets the keys, and the hosts they open.",
                        [d for _, d in found] + [f"not read: {printable(s)}" for s in skipped],
                        "Remove them (fix.remove-user-keys) and rotate them where they are authorized.",
                        offers={"fix.remove-user-keys": [p for p, _ in found]})
    return c.result("pass", "No private keys were found in home directories.",
                    [f"looked in {printable(h)}" for _, h in places][:10])


def _authorized_reads(ctx: Context) -> list[str]:
    files, _ = authorized_files(ctx.tree)
    return ["/etc/ssh", *START] + [h for _, h in homes(ctx.tree)] + [p for _, p in files]


@check("ssh.authorized-keys", "No authorized_keys baked in", "ssh", "high", needs_guest=True,
       reads=_authorized_reads)
def authorized(c: Check, ctx: Context) -> CheckResult:
    """Every file sshd may take keys from, for every account: AuthorizedKeysFile as it expands (%h %u %U %%,
    ~) in any Match block, and TrustedUserCAKeys."""
    tree = ctx.tree
    cfg = read_config(tree)
    files, cut = authorized_files(tree, cfg)
    evidence, paths = [], []
    for owner, path in files:
        data = tree.read_bytes(path)
        if data is None:
            continue
        entries = authorized_keys(data)
        if entries:
            paths.append(path)
        for e in entries:
            comment = printable(e.comment or "no comment", 120)
            opts = f" [{printable(e.options, 80)}]" if e.options else ""
            fp = f" {e.fingerprint}" if e.fingerprint else ""
            evidence.append(f"{printable(owner)}: {e.key_type}{fp} {comment}{opts} ({printable(path)} line {e.line})")
    unread = ([f"not read: more than {len(files)} authorized_keys locations (accounts x AuthorizedKeysFile); "
               "the rest was not looked at"] if cut else []) + [n for n in cfg.notes if n.startswith("not read:")]
    if evidence:
        return c.result("fail", f"{len(evidence)} authorized key(s) are baked in: their holders can log in to "
                                "every instance made from this image.", evidence + unread,
                        "Remove them (fix.remove-authorized-keys) and give keys to instances through the "
                        "platform's key pairs instead.", offers={"fix.remove-authorized-keys": paths},
                        incomplete=bool(unread))
    if unread:
        return c.result("warn", "Not fully reviewed: some places sshd takes keys from were not read; no key was "
                                "found in the rest.", unread, "Look at them by hand and review again.",
                        incomplete=True)
    return c.result("pass", "No authorized_keys entries are baked into the image.",
                    [f"looked in {len(files)} place(s) sshd takes keys from"])


RISKY = [
    # key, bad value test, severity, why
    ("permitemptypasswords", lambda v: v.lower() == "yes", "high", "accounts with empty passwords can log in"),
    ("protocol", lambda v: "1" in v.split(","), "high", "SSH protocol 1 is broken"),
    ("permitrootlogin", lambda v: v.lower() == "yes", "medium", "root can log in with a password"),
    ("hostbasedauthentication", lambda v: v.lower() == "yes", "medium", "host-based (rhosts-style) logins are allowed"),
    ("ignorerhosts", lambda v: v.lower() == "no", "medium", ".rhosts and .shosts files are honoured"),
    ("permituserenvironment", lambda v: v.lower() == "yes", "low", "users can set environment for sshd"),
    ("strictmodes", lambda v: v.lower() == "no", "low", "sshd does not check the modes of users' key files"),
    ("useprivilegeseparation", lambda v: v.lower() == "no", "low", "privilege separation is off"),
    ("ciphers", lambda v: bool(re.search(r"arcfour|3des-cbc|blowfish-cbc|cast128-cbc", v)), "low",
     "weak ciphers are offered"),
]


@check("ssh.sshd-config", "sshd settings", "ssh", "high", needs_guest=True, reads=("/etc/ssh", *START))
def sshd_config(c: Check, ctx: Context) -> CheckResult:
    tree = ctx.tree
    if not tree.exists(SSHD_CONFIG):
        return c.result("skip", "Skipped: the image has no /etc/ssh/sshd_config (no OpenSSH server).",
                        severity="info")
    cfg = read_config(tree)
    settings, notes = cfg.settings, cfg.notes
    findings: list[tuple[str, str, str]] = []  # (severity, evidence, the line as written)
    files: set[str] = set()
    password_auth = effective(settings, "passwordauthentication")
    passwords_off = (password_auth is not None and password_auth.value.lower() == "no" and not any(
        s.key == "passwordauthentication" and s.match is not None and s.value.lower() != "no" for s in settings))
    for key, bad, severity, why in RISKY:
        for s in settings:
            if s.key != key or not bad(s.value):
                continue
            first = effective(settings, key)
            if s.match is None and first is not s:
                continue  # a later global value that sshd ignores
            if key == "permitrootlogin" and passwords_off:
                continue
            quoted = printable(s.text or f"{s.key} {s.value}", 120)
            match = f" (in Match {printable(s.match, 60)})" if s.match else ""
            findings.append((severity, f"{printable(s.file)}:{s.line}: {quoted}{match}: {why}", quoted))
            files.add(s.file)
    evidence = [e for _, e, _ in findings] + notes
    if any(sev == "high" for sev, _, _ in findings):
        return c.result("fail", "sshd is configured to let attackers in: " +
                        "; ".join(q for sev, _, q in findings if sev == "high") + ".", evidence,
                        "Harden it (fix.harden-sshd sets PermitEmptyPasswords no and safe values for the others).",
                        offers={"fix.harden-sshd": sorted(files)}, incomplete=bool(cfg.unread))
    if findings:
        sev = "medium" if any(s == "medium" for s, _, _ in findings) else "low"
        return c.result("warn", f"{len(findings)} sshd setting(s) weaken the server.", evidence,
                        "Harden it (fix.harden-sshd).", severity=sev, offers={"fix.harden-sshd": sorted(files)},
                        incomplete=bool(cfg.unread))
    if cfg.unread:
        return c.result("warn", "Not fully reviewed: part of the sshd configuration was not read; nothing risky was "
                                "found in the rest.", notes, "Read the Include directives by hand and review again.",
                        incomplete=True)
    return c.result("pass", "No risky sshd settings.", notes)
