"""Accounts from /etc/passwd and /etc/shadow, parsed defensively (garbage lines, duplicates, CRLF)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.image.tree import GuestTree

NOLOGIN_SHELLS = {"/sbin/nologin", "/usr/sbin/nologin", "/bin/false", "/usr/bin/false", "/sbin/halt",
                  "/sbin/shutdown", "/bin/sync", "/usr/bin/nologin", "/dev/null"}
MAX_LINES = 50_000
MAX_READ = 8 << 20

_DES = re.compile(r"^[./0-9A-Za-z]{13}$")


@dataclass
class Account:
    name: str
    uid: int | None
    home: str
    shell: str
    hash: str  # the password field that applies (shadow's when passwd says x)
    lastchg: str = ""  # shadow field 3: "0" forces a change at the next login
    line: int = 0

    @property
    def can_login(self) -> bool:
        """A shell that gives a session (empty means /bin/sh)."""
        return self.shell not in NOLOGIN_SHELLS and not self.shell.endswith("/nologin")

    @property
    def password_state(self) -> str:
        """empty | locked | usable."""
        h = self.hash
        if h == "":
            return "empty"
        if h.startswith(("!", "*")) or h in ("x", "LK", "NP*") or h.startswith("*LK*"):
            return "locked"
        return "usable"

    @property
    def forced_change(self) -> bool:
        return self.lastchg.strip() == "0"


def hash_scheme(h: str) -> str:
    if h.startswith("$y$"):
        return "yescrypt"
    if h.startswith("$gy$"):
        return "gost-yescrypt"
    if h.startswith("$7$"):
        return "scrypt"
    if h.startswith(("$2a$", "$2b$", "$2y$", "$2x$")):
        return "bcrypt"
    if h.startswith("$6$"):
        return "sha512crypt"
    if h.startswith("$5$"):
        return "sha256crypt"
    if h.startswith("$1$"):
        return "md5crypt"
    if h.startswith("$md5"):
        return "sunmd5"
    if h.startswith("$sha1$"):
        return "sha1crypt"
    if h.startswith("$3$"):
        return "nthash"
    if h.startswith("_") and len(h) == 20:
        return "bsdi-des"
    if _DES.match(h):
        return "des"
    return "unknown"


def _rounds(h: str) -> int | None:
    m = re.match(r"^\$[56]\$rounds=(\d+)\$", h)
    return int(m.group(1)) if m else None


def weakness(h: str) -> str | None:
    """Why a usable hash is weak, or None."""
    scheme = hash_scheme(h)
    if scheme in ("des", "bsdi-des"):
        return f"{scheme} (8 significant characters, crackable in minutes)"
    if scheme == "md5crypt":
        return "md5-crypt (fast to brute-force on a GPU)"
    if scheme == "nthash":
        return "NT hash (unsalted MD4)"
    if scheme in ("sunmd5", "sha1crypt"):
        return f"{scheme} (an outdated scheme)"
    if scheme == "unknown":
        return "not a recognised crypt scheme (plain text or an unsalted digest?)"
    rounds = _rounds(h)
    if rounds is not None and rounds < 5000:
        return f"{scheme} with only {rounds} rounds"
    if scheme == "bcrypt":
        m = re.match(r"^\$2.\$(\d\d)\$", h)
        if m and int(m.group(1)) < 10:
            return f"bcrypt with cost {m.group(1)}"
    return None


def parse_accounts(tree: GuestTree) -> tuple[list[Account], list[str]]:
    """Accounts in passwd order, and notes (garbage lines, duplicates, unreadable files)."""
    notes: list[str] = []
    passwd = tree.read_text("/etc/passwd", MAX_READ)
    if passwd is None:
        return [], ["/etc/passwd is missing or unreadable"]
    shadow_text = tree.read_text("/etc/shadow", MAX_READ)
    shadow: dict[str, list[str]] = {}
    if shadow_text is not None:
        for n, line in enumerate(shadow_text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.split(":")
            if len(f) < 2 or not f[0]:
                notes.append(f"/etc/shadow line {n} is not an account entry")
                continue
            if f[0] in shadow:
                notes.append(f"/etc/shadow lists {f[0]} more than once (line {n}); the first entry counts")
                continue
            shadow[f[0]] = f
    accounts: list[Account] = []
    seen: set[str] = set()
    for n, line in enumerate(passwd.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) < 7 or not f[0] or f[0].startswith(("+", "-")):
            if not f[0].startswith(("+", "-")):
                notes.append(f"/etc/passwd line {n} is not an account entry")
            continue
        name = f[0]
        if name in seen:
            notes.append(f"/etc/passwd lists {name} more than once (line {n})")
        seen.add(name)
        uid = int(f[2]) if f[2].isdigit() else None
        field = f[1]
        lastchg = ""
        if field == "x" or (field == "" and name in shadow) or field.startswith("*NP"):
            sh = shadow.get(name)
            if sh is None:
                field = "*" if field == "x" else field
            else:
                field = sh[1]
                lastchg = sh[2] if len(sh) > 2 else ""
        accounts.append(Account(name=name, uid=uid, home=f[5], shell=f[6].strip(), hash=field,
                                lastchg=lastchg, line=n))
    return accounts, notes
