"""SSH: host keys baked into the image, users' private keys, authorized_keys, risky sshd settings."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass

from workbench.accounts import parse_accounts
from workbench.checks import Check, CheckResult, Context, check
from workbench.image.tree import GuestTree
from workbench.sshkeys import authorized_keys, private_key
from workbench.text import printable

SSHD_CONFIG = "/etc/ssh/sshd_config"
SYSTEM_DIRS = {"/", "/bin", "/sbin", "/usr", "/etc", "/var", "/lib", "/lib64", "/proc", "/sys", "/dev", "/boot",
               "/run", "/tmp", "/opt", "/srv", "/nonexistent", "/var/empty", "/var/run"}
MAX_INCLUDE_DEPTH = 16  # sshd's own limit
MAX_INCLUDED = 256  # files read through Include, in all: include fan-out cannot grow without bound
MAX_SETTINGS = 20_000


def homes(tree: GuestTree) -> list[tuple[str, str]]:
    """(owner, home) for /root, the login accounts' homes and /home/*; system directories left out."""
    accounts, _ = parse_accounts(tree)
    cands: list[tuple[str, str]] = [("root", "/root")]
    for a in accounts:
        if a.home and (a.uid == 0 or (a.uid is not None and 1000 <= a.uid < 65534) or a.can_login):
            cands.append((a.name, a.home))
    cands += [(n, f"/home/{n}") for n in tree.listdir("/home")]
    out, seen = [], set()
    for owner, home in cands:
        real = tree.resolve(home)
        if real is None or real in seen or real in SYSTEM_DIRS or not tree.is_dir(real):
            continue
        seen.add(real)
        out.append((owner, real))
    return out


def host_keys(tree: GuestTree) -> list[tuple[str, str]]:
    """(path, description) of private keys in /etc/ssh, found by name or by content."""
    out = []
    for name in tree.listdir("/etc/ssh"):
        path = f"/etc/ssh/{name}"
        if not tree.is_file(path) or name.endswith(".pub"):
            continue
        key = private_key(tree.read_bytes(path, 65536) or b"")
        if key or re.fullmatch(r"ssh_host_\w+_key", name):
            kind = key.key_type if key and key.key_type else (name[9:-4] if name.startswith("ssh_host_") else "?")
            out.append((path, f"{path} ({kind})"))
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


@check("ssh.host-keys", "No SSH host keys baked in", "ssh", "high", needs_guest=True, reads=("/etc/ssh",))
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


@check("ssh.user-keys", "No private keys in home directories", "ssh", "high", needs_guest=True,
       reads=lambda ctx: [h for _, h in homes(ctx.tree)])
def user_keys(c: Check, ctx: Context) -> CheckResult:
    tree = ctx.tree
    found = []
    for owner, home in homes(tree):
        for node in tree.walk(home):
            if node.kind != "file" or not node.data:
                continue
            key = private_key(node.data)
            if key:
                state = {True: "passphrase-protected", False: "not encrypted", None: "encryption unknown"}[key.encrypted]
                kind = key.key_type or key.format
                found.append((node.path, f"{printable(node.path)}: {kind} private key ({state}), "
                                         f"home of {printable(owner)}"))
    skipped = [s for s in tree.skipped if any(s.startswith(h + "/") for _, h in homes(tree))][:5]
    if found:
        return c.result("fail", f"{len(found)} private key(s) are stored in home directories: whoever gets the "
                                "image gets the keys, and the hosts they open.",
                        [d for _, d in found] + [f"not read: {printable(s)}" for s in skipped],
                        "Remove them (fix.remove-user-keys) and rotate them where they are authorized.",
                        offers={"fix.remove-user-keys": [p for p, _ in found]})
    return c.result("pass", "No private keys were found in home directories.",
                    [f"looked in {printable(h)}" for _, h in homes(tree)][:10])


def _authorized_files(tree: GuestTree, settings) -> list[tuple[str, str]]:
    files = []
    patterns = [s.value for s in settings if s.key == "authorizedkeysfile" and s.match is None][:1]
    patterns = (patterns[0].split() if patterns else [".ssh/authorized_keys", ".ssh/authorized_keys2"])
    for owner, home in homes(tree):
        for pat in patterns:
            p = pat.replace("%h", home).replace("%u", owner).replace("%%", "%")
            if not p.startswith("/"):
                p = posixpath.join(home, p)
            files.append((owner, p))
    return files


@check("ssh.authorized-keys", "No authorized_keys baked in", "ssh", "high", needs_guest=True,
       reads=lambda ctx: ["/etc/ssh"] + [h for _, h in homes(ctx.tree)])
def authorized(c: Check, ctx: Context) -> CheckResult:
    tree = ctx.tree
    settings, _ = sshd_settings(tree)
    evidence, paths = [], []
    for owner, path in _authorized_files(tree, settings):
        text = tree.read_text(path, 1 << 20)
        if text is None:
            continue
        entries = authorized_keys(text)
        if entries:
            paths.append(path)
        for e in entries:
            comment = printable(e.comment or "no comment", 120)
            opts = f" [{printable(e.options, 80)}]" if e.options else ""
            evidence.append(f"{printable(owner)}: {e.key_type} {comment}{opts} ({printable(path)} line {e.line})")
    if evidence:
        return c.result("fail", f"{len(evidence)} authorized key(s) are baked in: their holders can log in to "
                                "every instance made from this image.", evidence,
                        "Remove them (fix.remove-authorized-keys) and give keys to instances through the "
                        "platform's key pairs instead.", offers={"fix.remove-authorized-keys": paths})
    return c.result("pass", "No authorized_keys entries are baked into the image.")


@dataclass(frozen=True)
class Setting:
    key: str
    value: str
    file: str
    line: int
    match: str | None
    text: str = ""  # the line as the file has it (indentation stripped)


def sshd_settings(tree: GuestTree) -> tuple[list[Setting], list[str]]:
    """Every setting in sshd_config and its Includes, in the order sshd reads them."""
    out: list[Setting] = []
    notes: list[str] = []
    active: list[str] = []
    count = [0]

    def note(text: str, always: bool = False) -> None:
        if text not in notes and (always or len(notes) < 16):
            notes.append(text)

    def read(path: str, depth: int, match: str | None) -> str | None:
        if path in active:
            note(f"Include loop at {printable(path)}; not followed again (sshd refuses such a configuration)")
            return match
        if depth > MAX_INCLUDE_DEPTH:
            note(f"not read: {printable(path)} (Include nested deeper than {MAX_INCLUDE_DEPTH})")
            return match
        count[0] += 1
        if count[0] > MAX_INCLUDED:
            note(f"not read: more than {MAX_INCLUDED} files are included; the rest was not read", always=True)
            return match
        text = tree.read_text(path, 1 << 20)
        if text is None:
            return match
        active.append(path)
        for n, raw in enumerate(text.splitlines(), 1):
            if len(out) >= MAX_SETTINGS:
                note(f"not read: more than {MAX_SETTINGS} settings; the rest was not read", always=True)
                break
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^(\S+?)(?:\s*=\s*|\s+)(.*)$", line)
            if not m:
                continue
            key, value = m.group(1).lower(), m.group(2).strip().strip('"')
            if key == "match":
                match = value
                continue
            if key == "include":
                for pat in value.split():
                    pat = pat if pat.startswith("/") else f"/etc/ssh/{pat}"
                    for inc in _glob(tree, pat):
                        match = read(inc, depth + 1, match)
                continue
            out.append(Setting(key, value, path, n, match, line))
        active.pop()
        return match

    read(SSHD_CONFIG, 0, None)
    return out, notes


def _glob(tree: GuestTree, pattern: str) -> list[str]:
    d, _, name = pattern.rpartition("/")
    if not any(ch in name for ch in "*?["):
        return [pattern]
    return [f"{d}/{n}" for n in sorted(tree.listdir(d)) if fnmatch.fnmatch(n, name)]


def effective(settings: list[Setting], key: str) -> Setting | None:
    """sshd keeps the first value it reads for a keyword (outside Match blocks)."""
    return next((s for s in settings if s.key == key and s.match is None), None)


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


@check("ssh.sshd-config", "sshd settings", "ssh", "high", needs_guest=True, reads=("/etc/ssh",))
def sshd_config(c: Check, ctx: Context) -> CheckResult:
    tree = ctx.tree
    if not tree.exists(SSHD_CONFIG):
        return c.result("skip", "Skipped: the image has no /etc/ssh/sshd_config (no OpenSSH server).",
                        severity="info")
    settings, notes = sshd_settings(tree)
    findings: list[tuple[str, str, str]] = []  # (severity, evidence, the line as written)
    files: set[str] = set()
    password_auth = effective(settings, "passwordauthentication")
    for key, bad, severity, why in RISKY:
        for s in settings:
            if s.key != key or not bad(s.value):
                continue
            first = effective(settings, key)
            if s.match is None and first is not s:
                continue  # a later global value that sshd ignores
            if key == "permitrootlogin" and password_auth and password_auth.value.lower() == "no":
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
                        offers={"fix.harden-sshd": sorted(files)})
    if findings:
        sev = "medium" if any(s == "medium" for s, _, _ in findings) else "low"
        return c.result("warn", f"{len(findings)} sshd setting(s) weaken the server.", evidence,
                        "Harden it (fix.harden-sshd).", severity=sev, offers={"fix.harden-sshd": sorted(files)})
    if any(n.startswith("not read:") for n in notes):
        return c.result("warn", "Not fully reviewed: part of the sshd configuration was not read; nothing risky was "
                                "found in the rest.", notes, "Read the Include directives by hand and review again.", incomplete=True)
    return c.result("pass", "No risky sshd settings.", notes)

