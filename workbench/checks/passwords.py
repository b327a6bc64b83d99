"""Password checks: empty, default or guessable, not forced to change at first login, weak hashes."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from workbench import crypt
from workbench.accounts import Account, hash_scheme, parse_accounts, weakness
from workbench.checks import Check, CheckResult, Context, check
from workbench.paths import assets_dir
from workbench.text import printable

ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow")
CHUNK = 8  # tries per task: small enough to stop an account soon after its hit


def default_passwords() -> list[str]:
    text = (assets_dir() / "default-passwords.txt").read_text(encoding="utf-8")
    words = []
    for line in text.splitlines():
        line = line.rstrip("\n")
        if line and not line.startswith("#") and line not in words:
            words.append(line)
    return words


def name_variants(name: str) -> list[str]:
    base = [name, name.capitalize(), name.upper(), name[::-1]]
    out = []
    for b in base:
        out.append(b)
    for suffix in ("1", "12", "123", "1234", "12345", "123456", "!", "@123", "#123", "2023", "2024", "2025", "2026"):
        out.append(name + suffix)
        out.append(name.capitalize() + suffix)
    out += [name + name, "@" + name, name + "@" + name]
    seen, uniq = set(), []
    for w in out:
        if w and w not in seen:
            seen.add(w)
            uniq.append(w)
    return uniq


@dataclass
class ScanProgress:
    done: int
    total: int
    found: int


ProgressFn = Callable[[ScanProgress], None]
_cache: dict[tuple[str, str], tuple[str, bool] | None] = {}  # (hash, words digest) -> (kind, variant?) or None
_cache_lock = threading.Lock()


def scan(targets: list[tuple[str, str]], words: list[str], workers: int | None = None,
         progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> dict[str, str]:
    """{account: "list" | "name"} for each account whose hash verifies against a candidate.

    targets: (account name, hash). Work is spread over threads (libxcrypt runs without the GIL);
    each account stops at its first hit; cancel stops everything.
    """
    workers = workers or os.cpu_count() or 1
    digest = hashlib.sha256("\n".join(words).encode()).hexdigest()
    found: dict[str, str] = {}
    tasks: list[tuple[str, str, list[tuple[str, str]]]] = []
    for name, h in targets:
        if crypt.excessive_cost(h):  # never tried: the caller reports it (costly() says which)
            continue
        with _cache_lock:
            hit = _cache.get((h, digest + name), "miss")
        if hit != "miss":
            if hit:
                found[name] = hit
            continue
        cands = [(w, "list") for w in words] + [(w, "name") for w in name_variants(name) if w not in words]
        for i in range(0, len(cands), CHUNK):
            tasks.append((name, h, cands[i:i + CHUNK]))
    total = sum(len(c) for _, _, c in tasks)
    done = 0
    lock = threading.Lock()
    stop_account: set[str] = set()
    cancel = cancel or threading.Event()

    def run(task):
        nonlocal done
        name, h, cands = task
        tried = 0
        for word, kind in cands:
            if cancel.is_set() or name in stop_account:
                break
            tried += 1
            if crypt.verify(word, h):
                with lock:
                    stop_account.add(name)
                    found.setdefault(name, kind)
                break
        with lock:
            done += len(cands)  # skipped tries count as done: the bar reaches the end
            d, f = done, len(found)
        if progress:
            progress(ScanProgress(d, total, f))

    if tasks:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wb-pw") as pool:
            try:
                list(pool.map(run, tasks))
            except BaseException:  # ^C, SIGTERM: the queued tries see the cancel and end within a try each
                cancel.set()
                raise
    if not cancel.is_set():
        with _cache_lock:
            for name, h in targets:
                _cache[(h, digest + name)] = found.get(name)
    elif progress:
        progress(ScanProgress(done, total, len(found)))
    return found


def costly(targets: list[tuple[str, str]]) -> dict[str, str]:
    """{account: why} for the hashes whose cost parameter is over what the scan tries (see crypt.excessive_cost)."""
    return {name: why for name, h in targets if (why := crypt.excessive_cost(h))}


def _login_accounts(ctx: Context) -> tuple[list[Account], list[str]]:
    accounts, notes = parse_accounts(ctx.tree)
    return [a for a in accounts if a.can_login], notes


def _who(a: Account) -> str:
    return printable(a.name, 64) + (f" (uid {a.uid})" if a.uid is not None else "")


@check("password.empty", "No empty passwords", "passwords", "high", needs_guest=True,
       reads=ACCOUNT_FILES)
def empty(c: Check, ctx: Context) -> CheckResult:
    accounts, notes = _login_accounts(ctx)
    bad = [a for a in accounts if a.password_state == "empty"]
    evidence = [f"{_who(a)}: empty password field, shell {printable(a.shell or '/bin/sh')}" for a in bad] + notes
    if not ctx.tree.exists("/etc/passwd"):
        return c.result("skip", "Skipped: the image has no /etc/passwd.", severity="info")
    if bad:
        return c.result("fail", f"{len(bad)} login account(s) have an empty password: anyone can log in on the "
                                "console, and over SSH where empty passwords are permitted.", evidence,
                        "Lock these accounts (fix.lock-account) or set a password that must change at first login.",
                        offers={"fix.lock-account": [a.name for a in bad]})
    return c.result("pass", "No login account has an empty password.", evidence)


@check("password.default", "No default or guessable passwords", "passwords", "high", needs_guest=True,
       reads=ACCOUNT_FILES)
def default(c: Check, ctx: Context) -> CheckResult:
    if not ctx.tree.exists("/etc/passwd"):
        return c.result("skip", "Skipped: the image has no /etc/passwd.", severity="info")
    accounts, notes = _login_accounts(ctx)
    targets = [(a.name, a.hash) for a in accounts if a.password_state == "usable"
               and hash_scheme(a.hash) != "unknown"]
    words = default_passwords()
    too_costly = costly(targets)
    found = scan(targets, words, progress=ctx.progress, cancel=ctx.cancel)
    cancel = ctx.cancel
    if cancel is not None and cancel.is_set():
        return c.result("skip", "Skipped: the password scan was cancelled.", severity="info")
    evidence = []
    for a in accounts:
        if a.name in found:
            how = "a variant of the user name" if found[a.name] == "name" else "the bundled list"
            evidence.append(f"{_who(a)}: matches a default password ({how})")
    tried = (f"{len(targets) - len(too_costly)} account(s) tried against {len(words)} default passwords and "
             "variants of their names")
    untried = [f"{_who(a)}: not tried, its hash asks for {printable(too_costly[a.name])}" for a in accounts
               if a.name in too_costly]
    if evidence:
        return c.result("fail", f"{len(evidence)} account(s) have a default or guessable password; every instance "
                                "made from this image would share it.", evidence + untried + [tried],
                        "Lock the accounts (fix.lock-account) and let the platform set the root password.",
                        offers={"fix.lock-account": [a for a in found]}, incomplete=bool(untried))
    if untried:
        return c.result("warn", f"Not fully reviewed: {len(untried)} account(s) have a password hash so costly to "
                                "try (an extreme cost parameter) that it was not tried.", untried + [tried],
                        "Lock these accounts (fix.lock-account), or set their passwords again with the system's "
                        "default cost.", offers={"fix.lock-account": list(too_costly)}, incomplete=True)
    return c.result("pass", "No login account has a default or guessable password.", [tried])


@check("password.first-login-change", "Passwords must change at first login", "passwords", "medium",
       needs_guest=True,
       reads=ACCOUNT_FILES)
def first_login_change(c: Check, ctx: Context) -> CheckResult:
    if not ctx.tree.exists("/etc/passwd"):
        return c.result("skip", "Skipped: the image has no /etc/passwd.", severity="info")
    accounts, _ = _login_accounts(ctx)
    usable = [a for a in accounts if a.password_state == "usable"]
    bad = [a for a in usable if not a.forced_change]
    if bad:
        evidence = [f"{_who(a)}: password last changed on day {printable(a.lastchg or '(unset)')}, "
                    "not forced to change" for a in bad]
        return c.result("fail", f"{len(bad)} account(s) have a usable password that is not forced to change at "
                                "first login, as the import rules require for an initial password.", evidence,
                        "Expire them (fix.expire-passwords sets the last-change day to 0), or lock them.",
                        offers={"fix.expire-passwords": [a.name for a in bad]})
    if usable:
        return c.result("pass", "Every usable password must be changed at first login.",
                        [f"{_who(a)}: expired (last change 0)" for a in usable])
    return c.result("pass", "No login account has a usable password.")


@check("password.weak-hash", "No weak password hashes", "passwords", "medium", needs_guest=True,
       reads=ACCOUNT_FILES)
def weak_hash(c: Check, ctx: Context) -> CheckResult:
    if not ctx.tree.exists("/etc/passwd"):
        return c.result("skip", "Skipped: the image has no /etc/passwd.", severity="info")
    accounts, _ = _login_accounts(ctx)
    bad = [(a, w) for a in accounts if a.password_state == "usable" and (w := weakness(a.hash))]
    if bad:
        return c.result("fail", f"{len(bad)} account(s) use a weak password hash.",
                        [f"{_who(a)}: {w}" for a, w in bad],
                        "Expire the passwords (fix.expire-passwords): the new password is hashed with the "
                        "system's current scheme. Or lock the accounts.",
                        offers={"fix.expire-passwords": [a.name for a, _ in bad]})
    return c.result("pass", "Every usable password uses a strong hash scheme.")
