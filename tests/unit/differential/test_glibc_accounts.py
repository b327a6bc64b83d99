"""/etc/passwd and /etc/shadow as glibc reads them (fgetpwent, fgetspent through ctypes) against
workbench/accounts.py and the password.empty check, over a generated corpus of hostile variations."""

from __future__ import annotations

import ctypes
import random

import pytest

from tests.unit.differential import consumers
from tests.unit.differential.consumers import report
from tests.unit.security_trees import context
from workbench.accounts import NOLOGIN_SHELLS, parse_accounts
from workbench.checks import REGISTRY, all_checks, run_check

CORPUS = 400
NAMES = ["root", "bob", "evil", "svc", "deploy", "guest", "x\rlegit", "ops"]
PASSWORDS = ["", "", "x", "x", "*", "!", "!!", "$6$salt$abc", "##bob", "*NP*", " ", "\r"]
NUMBERS = ["0", "1000", "33", " 5", "+7", "-1", "\u00b2", "", "0x10", "12a", "4294967296", "99999999999999999999",
           "\t0", "0 "]
SHELLS = ["", "/bin/bash", "/bin/sh", "/usr/sbin/nologin", "/bin/false", "/bin/sh:extra", "/usr/sbin/nologin:/bin/sh",
          "/bin/bash\r", " /bin/bash"]
HOMES = ["/root", "/home/bob", "/", "", "/srv/x", "/var/lib/svc", "/home/a b"]
LEAD = ["", "", "", " ", "\t", "\r", "\v", "\f", "  \t"]
TRAIL = ["", "", "", " ", "\r", "\t", " # c"]
BREAKS = ["\n", "\n", "\n", "\r\n", "\r"]


class Passwd(ctypes.Structure):
    _fields_ = [("pw_name", ctypes.c_char_p), ("pw_passwd", ctypes.c_char_p), ("pw_uid", ctypes.c_uint32),
                ("pw_gid", ctypes.c_uint32), ("pw_gecos", ctypes.c_char_p), ("pw_dir", ctypes.c_char_p),
                ("pw_shell", ctypes.c_char_p)]


class Spwd(ctypes.Structure):
    _fields_ = [("sp_namp", ctypes.c_char_p), ("sp_pwdp", ctypes.c_char_p)] + \
               [(n, ctypes.c_long) for n in ("lstchg", "min", "max", "warn", "inact", "expire")] + \
               [("sp_flag", ctypes.c_ulong)]


@pytest.fixture(scope="module")
def libc():
    return consumers.libc({"fopen": (ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]),
                           "fclose": (ctypes.c_int, [ctypes.c_void_p]),
                           "fgetpwent": (ctypes.POINTER(Passwd), [ctypes.c_void_p]),
                           "fgetspent": (ctypes.POINTER(Spwd), [ctypes.c_void_p])})


def _entries(libc, path, fn) -> list:
    f = libc.fopen(str(path).encode(), b"r")
    assert f, path
    out = []
    try:
        while True:
            p = fn(f)
            if not p:
                return out
            out.append({k: getattr(p.contents, k) for k, _ in p.contents._fields_})
    finally:
        libc.fclose(f)


def glibc_view(libc, tmp_path, passwd: bytes, shadow: bytes) -> tuple[list[dict], dict[str, dict]]:
    (tmp_path / "passwd").write_bytes(passwd)
    (tmp_path / "shadow").write_bytes(shadow)
    users = _entries(libc, tmp_path / "passwd", libc.fgetpwent)
    spw: dict[str, dict] = {}
    for e in _entries(libc, tmp_path / "shadow", libc.fgetspent):
        spw.setdefault(e["sp_namp"], e)  # getspnam answers with the first entry
    return users, spw


def _login(shell: str) -> bool:
    return shell not in NOLOGIN_SHELLS and not shell.endswith("/nologin")


def _passwd_line(r: random.Random) -> str:
    fields = [r.choice(NAMES), r.choice(PASSWORDS), r.choice(NUMBERS), r.choice(NUMBERS[:4]), "gecos",
              r.choice(HOMES), r.choice(SHELLS)]
    if r.random() < 0.85:
        fields[2] = r.choice(["0", "1000", "0", "1001"])
    fields = fields[:r.choice([2, 3, 4, 5, 6, 7, 7, 7, 7, 8])]
    if len(fields) == 8:
        fields[7] = "extra"
    return r.choice(LEAD) + ":".join(fields) + r.choice(TRAIL)


def _shadow_line(r: random.Random) -> str:
    nums = [r.choice(["", "", "0", "19000", " 7", "x", "-1", "\u00b2", "99999"]) for _ in range(7)]
    fields = [r.choice(NAMES), r.choice(PASSWORDS)] + nums
    fields = fields[:r.choice([2, 3, 4, 5, 5, 6, 7, 8, 9, 9, 9, 10])]
    return r.choice(LEAD) + ":".join(fields) + r.choice(TRAIL)


def corpus(n: int = CORPUS, seed: int = 22) -> list[tuple[bytes, bytes]]:
    r = random.Random(seed)
    out = []
    for _ in range(n):
        lines_p = [_passwd_line(r) for _ in range(r.randint(1, 6))]
        lines_s = [_shadow_line(r) for _ in range(r.randint(1, 6))]
        for lines in (lines_p, lines_s):
            if r.random() < 0.2:
                lines.insert(r.randrange(len(lines) + 1), r.choice(["# comment", "", "   ", "\0root::0:0::/:"]))
            if r.random() < 0.1:
                i = r.randrange(len(lines))
                lines[i] = lines[i][:5] + "\0" + lines[i][5:]
        brk = r.choice(BREAKS)
        out.append((brk.join(lines_p).encode() + (brk.encode() if r.random() < 0.8 else b""),
                    brk.join(lines_s).encode() + (brk.encode() if r.random() < 0.8 else b"")))
    return out


def _dec(b: bytes | None) -> str:
    return (b or b"").decode("utf-8", "surrogateescape")


def test_accounts_as_glibc_reads_them(libc, tmp_path):
    """Every account glibc reads, we read with the same uid, home and shell; and every login account glibc
    gives an empty password makes password.empty fail."""
    all_checks()
    check = REGISTRY["password.empty"]
    bad: list[str] = []
    items = corpus()
    for i, (passwd, shadow) in enumerate(items):
        users, spw = glibc_view(libc, tmp_path, passwd, shadow)
        ctx = context({"/etc/passwd": passwd, "/etc/shadow": shadow})
        theirs = [(_dec(u["pw_name"]), u["pw_uid"], _dec(u["pw_dir"]), _dec(u["pw_shell"])) for u in users
                  if u["pw_name"][:1] not in (b"+", b"-")]
        try:
            ours = [(a.name, a.uid, a.home, a.shell) for a in parse_accounts(ctx.tree)[0] if a.line]
        except Exception as e:  # a crash is a disagreement too
            ours = [f"{type(e).__name__}: {e}"]
        if ours != theirs:
            bad.append(f"#{i} {passwd!r}: glibc reads {theirs}; we read {ours}")
        empty = set()
        for u in users:
            name, pw, shell = _dec(u["pw_name"]), _dec(u["pw_passwd"]), _dec(u["pw_shell"])
            sp = spw.get(u["pw_name"])
            if name[:1] not in ("+", "-") and _login(shell) and (
                    pw == "" or (pw in ("x", f"##{name}") and sp is not None and _dec(sp["sp_pwdp"]) == "")):
                empty.add(name)
        result = run_check(check, ctx)
        flagged = set(result.offers.get("fix.lock-account", []))
        if result.status == "error" or not empty <= flagged:
            bad.append(f"#{i} passwd {passwd!r} shadow {shadow!r}: glibc gives {sorted(empty - flagged)} an empty "
                       f"password and a login shell; password.empty says {result.status}: {result.detail}")
    report(bad, len(items), "glibc fgetpwent/fgetspent")


@pytest.mark.parametrize("passwd, shadow, name", [
    # a shadow line with leading white space: glibc skips the blanks and reads root's empty password
    (b"root:x:0:0:root:/root:/bin/bash\n", b" root::19000:0:99999:7:::\n", "root"),
    # a passwd line with fewer fields than usual: empty password, empty shell (= /bin/sh)
    (b"root:x:0:0:root:/root:/usr/sbin/nologin\nevil::0:0\n", b"", "evil"),
    # passwd's empty field is what pam_unix takes, whatever shadow says
    (b"svc::1001:1001::/home/svc:/bin/sh\n", b"svc:$6$s$h:19000:0:99999:7:::\n", "svc"),
])
def test_empty_passwords_glibc_gives_are_found(libc, tmp_path, passwd, shadow, name):
    users, spw = glibc_view(libc, tmp_path, passwd, shadow)
    assert any(_dec(u["pw_name"]) == name for u in users)  # the consumer does read this account
    r = run_check(REGISTRY["password.empty"], context({"/etc/passwd": passwd, "/etc/shadow": shadow}))
    assert r.status == "fail" and name in r.offers["fix.lock-account"]


def test_a_uid_in_other_digits_is_not_a_crash():
    """'²'.isdigit() is true and int('²') fails: glibc rejects the line, we neither crash nor take it."""
    ctx = context({"/etc/passwd": "root:x:0:0::/root:/bin/bash\nodd:x:\u00b2:0::/home/odd:/bin/sh\n",
                   "/etc/shadow": "root:!:1::::::\nodd::1::::::\n"})
    accounts, notes = parse_accounts(ctx.tree)
    assert [a.name for a in accounts if a.uid is not None] == ["root"]
    assert any("line 2" in n for n in notes)
    for cid in ("password.empty", "ssh.authorized-keys", "ssh.user-keys"):
        assert run_check(REGISTRY[cid], ctx).status != "error"


def _glibc_empty(users: list[dict], spw: dict) -> set[str]:
    """Login accounts getpwnam/getspnam answer with an empty password (the first entry of each name)."""
    out, seen = set(), set()
    for u in users:
        name, pw, shell = _dec(u["pw_name"]), _dec(u["pw_passwd"]), _dec(u["pw_shell"])
        if name in seen:
            continue
        seen.add(name)
        sp = spw.get(u["pw_name"])
        if name[:1] not in ("+", "-") and _login(shell) and (
                pw == "" or (pw in ("x", f"##{name}") and sp is not None and _dec(sp["sp_pwdp"]) == "")):
            out.add(name)
    return out


def test_the_lock_fix_leaves_no_empty_password_glibc_grants(libc, tmp_path):
    """fix.lock-account edits the entries where glibc finds them (leading blanks, short lines, an empty passwd
    field that pam_unix takes over shadow's): after it, glibc grants no login account an empty password."""
    from workbench.fixes import build_fixes

    all_checks()
    bad: list[str] = []
    items = corpus(seed=23)
    for i, (passwd, shadow) in enumerate(items):
        if not _glibc_empty(*glibc_view(libc, tmp_path, passwd, shadow)):
            continue
        ctx = context({"/etc/passwd": passwd, "/etc/shadow": shadow})
        fixes = {f.id: f for f in build_fixes([run_check(REGISTRY["password.empty"], ctx)], ctx.tree)}
        files = {"/etc/passwd": passwd, "/etc/shadow": shadow}
        for ch in fixes["fix.lock-account"].changes:
            files[ch.path] = ch.content
        left = _glibc_empty(*glibc_view(libc, tmp_path, files["/etc/passwd"], files["/etc/shadow"]))
        if left:
            bad.append(f"#{i} passwd {passwd!r} shadow {shadow!r}: still empty for glibc after the fix: {sorted(left)}")
    report(bad, len(items), "glibc after fix.lock-account")
