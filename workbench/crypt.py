"""Password hashing through the system's libxcrypt (ctypes), for any Python version.

The stdlib `crypt` module is gone in Python 3.13; libxcrypt (libcrypt.so.1)
is on every modern distribution and knows yescrypt, sha512/256-crypt,
md5-crypt, bcrypt and DES. ctypes releases the GIL during the call, so
threads hash in parallel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import secrets
import threading
from functools import lru_cache

CRYPT_DATA_SIZE = 32768  # sizeof(struct crypt_data) in libxcrypt
_B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=1)
def _lib():
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    lib = ctypes.CDLL(name)
    lib.crypt_rn.restype = ctypes.c_char_p
    lib.crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    return lib


_local = threading.local()


def _buffer():
    """One struct crypt_data per thread: crypt_rn is reentrant with its own buffer."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
    return buf


def crypt(password: str | bytes, setting: str) -> str | None:
    """The hash of password under setting (a salt string or a whole hash); None if invalid."""
    phrase = password.encode() if isinstance(password, str) else password
    if b"\0" in phrase:
        return None
    out = _lib().crypt_rn(phrase, setting.encode("ascii", "replace"), _buffer(), CRYPT_DATA_SIZE)
    if not out or out.startswith(b"*"):
        return None
    return out.decode("ascii", "replace")


def verify(password: str | bytes, hashed: str) -> bool:
    got = crypt(password, hashed)
    return got is not None and secrets.compare_digest(got, hashed)


def sha512_crypt(password: str, salt: str | None = None) -> str:
    """A $6$ hash; salt given only where a reproducible result is wanted (sample images)."""
    salt = salt or "".join(secrets.choice(_B64) for _ in range(16))
    out = crypt(password, f"$6${salt}$")
    if out is None:
        raise ValueError("libxcrypt refused the sha512-crypt setting")
    return out


def md5_crypt(password: str, salt: str) -> str:
    out = crypt(password, f"$1${salt}$")
    if out is None:
        raise ValueError("libxcrypt refused the md5-crypt setting")
    return out


# -- the cost a hash asks for, read before it is ever tried ------------------------------------------------------
# Each ceiling is about one bcrypt cost-12 try (0.3 s on a current core); a hash over it is not tried: the scan
# would take hours or days (bcrypt cost 31, rounds=999999999) or a yescrypt try gigabytes.
MAX_SHA_ROUNDS = 500_000  # sha256crypt and sha512crypt (5000 by default)
MAX_BCRYPT_COST = 12  # 2^12 rounds (10 by default)
MAX_SCRYPT_WORK = 1 << 19  # N * r * p (* (t + 1) for yescrypt): yescrypt's default j9T is 2^17, 16 MiB
MAX_SCRYPT_MEMORY = 64 << 20  # 128 * N * r bytes
MAX_SHA1_ROUNDS = 250_000  # NetBSD's sha1crypt (about 25,000 by default)
MAX_SUNMD5_ROUNDS = 10_000
MAX_BSDI_ROUNDS = 1_000_000  # BSDi extended DES (725 by default)
_A64 = {c: i for i, c in enumerate(_B64)}
_COUNT = re.compile(r"[0-9]{1,10}")


def _var_uint(s: str, at: int, minimum: int) -> tuple[int, int]:
    """yescrypt's variable-length number at s[at:]: (value, index after it); ValueError when malformed."""
    start, end, chars, bits = 0, 47, 1, 0
    c = _A64[s[at]]
    value = minimum
    while c > end:
        value += (end + 1 - start) << bits
        start, end = end + 1, end + 1 + (62 - end) // 2
        chars, bits = chars + 1, bits + 6
    value += (c - start) << bits
    for i in range(1, chars):
        bits -= 6
        value += _A64[s[at + i]] << bits
    return value, at + chars


def _yescrypt_cost(params: str) -> tuple[int, int, int, int]:
    """(N, r, p, t) from what follows $y$ or $gy$; ValueError (or KeyError, IndexError) when malformed."""
    _, at = _var_uint(params, 0, 0)  # the flavour
    n_log2, at = _var_uint(params, at, 1)
    r, at = _var_uint(params, at, 1)
    p, t = 1, 0
    if params[at] != "$":
        have, at = _var_uint(params, at, 1)
        if have & 1:
            p, at = _var_uint(params, at, 2)
        if have & 2:
            t, at = _var_uint(params, at, 1)
        if have & ~3:
            raise ValueError("upgrades or a ROM")
    if n_log2 > 63:
        raise ValueError("N")
    return 1 << n_log2, r, p, t


def _scrypt_cost(params: str) -> tuple[int, int, int, int]:
    """(N, r, p, 0) from what follows $7$: N's log2 in one character, r and p in five each (30 bits)."""
    def fixed(s: str) -> int:
        return sum(_A64[c] << (6 * i) for i, c in enumerate(s))

    if len(params) < 11:
        raise ValueError("short")
    return 1 << _A64[params[0]], fixed(params[1:6]), fixed(params[6:11]), 0


def excessive_cost(h: str) -> str | None:
    """Why trying a password against h would cost too much (its cost parameter, named), or None. A cost that
    cannot be read is excessive too: libxcrypt might read it as a huge one."""
    for prefix, scheme in (("$6$", "sha512crypt"), ("$5$", "sha256crypt")):
        if h.startswith(prefix + "rounds="):
            count = h[len(prefix) + 7:].split("$", 1)[0]
            if not _COUNT.fullmatch(count) or int(count) > MAX_SHA_ROUNDS:
                return f"{scheme} with rounds={count[:12]} (over the {MAX_SHA_ROUNDS} tried)"
            return None
    if h.startswith(("$2a$", "$2b$", "$2y$", "$2x$")):
        cost = h[4:6]
        if not re.fullmatch(r"[0-9]{2}", cost) or int(cost) > MAX_BCRYPT_COST:
            return f"bcrypt with cost {cost} (2^{cost} rounds; over the cost {MAX_BCRYPT_COST} tried)"
        return None
    for prefix, scheme, parse in (("$y$", "yescrypt", _yescrypt_cost), ("$gy$", "gost-yescrypt", _yescrypt_cost),
                                  ("$7$", "scrypt", _scrypt_cost)):
        if h.startswith(prefix):
            try:
                n, r, p, t = parse(h[len(prefix):])
            except (ValueError, KeyError, IndexError):
                return f"{scheme} with parameters that cannot be read ({h[:len(prefix) + 12]}…)"
            if n * r * max(p, 1) * (t + 1) > MAX_SCRYPT_WORK or 128 * n * r > MAX_SCRYPT_MEMORY:
                return (f"{scheme} with N={n}, r={r}, p={p}" + (f", t={t}" if t else "")
                        + f" ({128 * n * r >> 20} MiB a try; over the {MAX_SCRYPT_MEMORY >> 20} MiB and N*r*p of "
                          f"{MAX_SCRYPT_WORK} tried)")
            return None
    counted = ((r"\$sha1\$([^$]*)\$", "sha1crypt", MAX_SHA1_ROUNDS), (r"\$md5,rounds=([^$]*)\$", "sunmd5",
                                                                      MAX_SUNMD5_ROUNDS))
    for pattern, scheme, ceiling in counted:
        m = re.match(pattern, h)
        if m:
            if not _COUNT.fullmatch(m.group(1)) or int(m.group(1)) > ceiling:
                return f"{scheme} with {m.group(1)[:12]} rounds (over the {ceiling} tried)"
            return None
    if h.startswith("_") and len(h) == 20:
        count = sum(_A64.get(c, 0) << (6 * i) for i, c in enumerate(h[1:5]))
        if count > MAX_BSDI_ROUNDS:
            return f"BSDi DES with {count} rounds (over the {MAX_BSDI_ROUNDS} tried)"
    return None
