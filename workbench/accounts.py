"""Accounts from /etc/passwd and /etc/shadow, read as glibc's nss_files reads them (getpwnam, getspnam:
lines end at LF only, leading white space is skipped, a short passwd line still makes an account), plus a
lenient reading (split on ':', CR and blanks trimmed, as musl or busybox would) so that an empty password
either reader would see is reported. Tested against glibc's fgetpwent/fgetspent (tests/unit/differential)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.image.tree import GuestTree

NOLOGIN_SHELLS = {"/sbin/nologin", "/usr/sbin/nologin", "/bin/false", "/usr/bin/false", "/sbin/halt",
                  "/sbin/shutdown", "/bin/sync", "/usr/bin/nologin", "/dev/null"}
MAX_READ = 8 << 20  # the whole file as pulled (the tree keeps at most 4 MiB and marks a bigger one not read)
C_SPACE = " \t\n\v\f\r"  # isspace() in the C locale
ULONG = (1 << 64) - 1
U32 = (1 << 32) - 1

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
    gid: int | None = None

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


def ascii_int(text: str) -> int | None:
    """A number written in ASCII digits only (never '²' or other Unicode digits), or None."""
    return int(text) if text and text.isascii() and text.isdigit() else None


def strtoul(s: str, at: int = 0) -> tuple[int | None, int]:
    """C strtoul(s + at, &end, 10): (value or None when no digits, end index). White space and one sign may
    lead; ASCII digits only; a negative number wraps as in C, an overflow gives ULONG_MAX."""
    i = at
    while i < len(s) and s[i] in C_SPACE:
        i += 1
    neg = i < len(s) and s[i] == "-"
    if i < len(s) and s[i] in "+-":
        i += 1
    j = i
    while j < len(s) and "0" <= s[j] <= "9":
        j += 1
    if j == i:
        return None, at
    value = min(int(s[i:j]), ULONG)
    return ((-value) & ULONG if neg else value), j


def _c_lines(data: bytes) -> list[tuple[int, str]]:
    """(line number, text) of each line nss_files parses: LF ends a line, the line ends at a NUL, leading
    white space (C isspace) is skipped, empty and '#' lines are left out. glibc 2.36 repeats the last k
    characters of a last line that has no LF and k leading blanks: so do we (it can turn a shell into another)."""
    out = []
    raws = data.split(b"\n")
    for n, raw in enumerate(raws, 1):
        full = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        line = full.lstrip(C_SPACE)
        skipped = len(full) - len(line)
        if n == len(raws) and skipped and line:
            line += line[-skipped:]
        if line and not line.startswith("#"):
            out.append((n, line))
    return out


def _string_fields(line: str, count: int) -> tuple[list[str], str]:
    """glibc's STRING_FIELD count times: fields up to ':', empty once the line has ended; and the rest."""
    out = []
    for _ in range(count):
        head, sep, line = line.partition(":")
        out.append(head)
    return out, line


def parse_passwd_line(line: str) -> tuple[str, str, int, int, str, str, str] | None:
    """(name, password, uid, gid, gecos, home, shell) as glibc's passwd parser reads one line, or None where it
    rejects the line. The shell is the rest of the line (colons included); +/- entries are left out (nss
    files never answers a lookup by those names)."""
    (name, pw), rest = _string_fields(line, 2)
    if not name or name[0] in "+-":
        return None
    ids = []
    for _ in range(2):  # INT_FIELD: digits that fit 32 bits, then ':' or the end of the line
        value, end = strtoul(rest)
        if value is None or value > U32 or (end < len(rest) and rest[end] != ":"):
            return None
        ids.append(value)
        rest = rest[end + 1:]
    (gecos, home), shell = _string_fields(rest, 2)
    return name, pw, ids[0], ids[1], gecos, home, shell


def _maybe_int(rest: str, last: bool = False) -> tuple[bool, int | None, str]:
    """glibc's INT_FIELD_MAYBE_NULL: (ok, value or None, rest). The line must not have ended; a number must fit
    32 bits; then ':' (nothing at all after the last field)."""
    if rest == "":
        return False, None, rest
    value, end = strtoul(rest)
    if (value is not None and value > U32) or (end < len(rest) and (last or rest[end] != ":")):
        return False, None, rest
    return True, value, rest[end + 1:]


def parse_shadow_line(line: str) -> tuple[str, str, str] | None:
    """(name, password, last change as written) as glibc's shadow parser reads one line, or None."""
    (name, pw), rest = _string_fields(line, 2)
    if not name or name[0] in "+-":
        return None
    lastchg = rest.split(":", 1)[0]
    for _ in range(3):  # last change, min, max
        ok, _v, rest = _maybe_int(rest)
        if not ok:
            return None
    rest = rest.lstrip(C_SPACE)
    if rest != "":
        for _ in range(3):  # warn, inactive, expire
            ok, _v, rest = _maybe_int(rest)
            if not ok:
                return None
        if rest != "":
            ok, _v, rest = _maybe_int(rest, last=True)  # flag
            if not ok:
                return None
    return name, pw, lastchg


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
    m = re.match(r"^\$[56]\$rounds=([0-9]+)\$", h)
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
        m = re.match(r"^\$2.\$([0-9][0-9])\$", h)
        if m and int(m.group(1)) < 10:
            return f"bcrypt with cost {m.group(1)}"
    return None


def _shadow_entries(data: bytes | None, notes: list[str]) -> dict[str, tuple[str, str]]:
    """name -> (password, last change) of the first entry for each name, as getspnam finds it."""
    shadow: dict[str, tuple[str, str]] = {}
    for n, line in _c_lines(data or b""):
        entry = parse_shadow_line(line)
        if entry is None:
            notes.append(f"/etc/shadow line {n} is not an account entry (glibc skips it)")
            continue
        if entry[0] in shadow:
            notes.append(f"/etc/shadow lists {entry[0]} more than once (line {n}); the first entry counts")
            continue
        shadow[entry[0]] = entry[1:]
    return shadow


def _applies(name: str, field: str, shadow: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(password, last change) that applies. pam_unix takes shadow's when passwd says x (or ##name) and the
    passwd field otherwise; sshd without PAM takes shadow's whenever there is an entry: an empty one in
    either place is empty."""
    sh = shadow.get(name)
    if field == "x" or field == f"##{name}" or field.startswith("*NP"):
        return (sh if sh is not None else ("*" if field == "x" else field, ""))
    if sh is not None and sh[0] == "":
        return sh
    return field, (sh[1] if sh is not None else "")


def _lenient_empty(passwd: bytes, shadow: bytes | None) -> list[tuple[str, str, str, str]]:
    """(name, home, shell, where) of accounts with an empty password as a lenient reader sees them (CR as a
    line break, blanks trimmed, short lines padded): what glibc rejects, another libc or busybox may take."""
    def rows(data: bytes) -> list[list[str]]:
        text = data.decode("utf-8", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n")
        return [[f.strip(C_SPACE) for f in ln.split(":")] for ln in text.split("\n")
                if ln.strip(C_SPACE) and not ln.strip(C_SPACE).startswith("#")]
    empty_shadow = {r[0] for r in rows(shadow or b"") if len(r) > 1 and r[1] == ""}
    out = []
    for r in rows(passwd):
        r += [""] * (7 - len(r))
        if not r[0] or r[0][0] in "+-":
            continue
        if r[1] == "" or (r[0] in empty_shadow and r[1] in ("x", "")):
            out.append((r[0], r[5], r[6], "passwd" if r[1] == "" else "shadow"))
    return out


def parse_accounts(tree: GuestTree) -> tuple[list[Account], list[str]]:
    """Accounts in passwd order as glibc sees them (then any account only a lenient reader sees with an empty
    password), and notes (rejected lines, duplicates, unreadable files)."""
    notes: list[str] = []
    passwd = tree.read_bytes("/etc/passwd", MAX_READ)
    if passwd is None:
        return [], ["/etc/passwd is missing or unreadable"]
    shadow_data = tree.read_bytes("/etc/shadow", MAX_READ)
    shadow = _shadow_entries(shadow_data, notes)
    accounts: list[Account] = []
    seen: set[str] = set()
    for n, line in _c_lines(passwd):
        entry = parse_passwd_line(line)
        if entry is None:
            if line[0] not in "+-":
                notes.append(f"/etc/passwd line {n} is not an account entry (glibc skips it)")
            continue
        name, field, uid, gid, _gecos, home, shell = entry
        if name in seen:
            notes.append(f"/etc/passwd lists {name} more than once (line {n})")
        seen.add(name)
        pw, lastchg = _applies(name, field, shadow)
        accounts.append(Account(name=name, uid=uid, home=home, shell=shell, hash=pw, lastchg=lastchg, line=n,
                                gid=gid))
    empty = {a.name for a in accounts if a.password_state == "empty"}
    for name, home, shell, where in _lenient_empty(passwd, shadow_data):
        if name not in empty:
            empty.add(name)
            accounts.append(Account(name=name, uid=None, home=home, shell=shell, hash=""))
            notes.append(f"{name}: glibc reads this account differently, but a lenient reader (musl, busybox) "
                         f"sees an empty password in {where}")
    return accounts, notes
