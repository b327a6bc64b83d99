"""Password hashing through the system's libxcrypt (ctypes), for any Python version.

The stdlib `crypt` module is gone in Python 3.13; libxcrypt (libcrypt.so.1)
is on every modern distribution and knows yescrypt, sha512/256-crypt,
md5-crypt, bcrypt and DES. ctypes releases the GIL during the call, so
threads hash in parallel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
