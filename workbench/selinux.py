"""SELinux file contexts from an image's own policy files, looked up with the host's libselinux.

No policy is loaded and nothing is validated against one: selabel_lookup reads the
image's file_contexts (and its .local/.homedirs companions) exactly as setfiles would,
so written files get the label the image's policy gives them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat
import tempfile
from functools import lru_cache

from workbench.image.tree import GuestTree

SELABEL_CTX_FILE = 0
SELABEL_OPT_PATH = 3
COMPANIONS = ("", ".local", ".homedirs", ".subs", ".subs_dist")
MODES = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "link": stat.S_IFLNK}


class _Opt(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("value", ctypes.c_char_p)]


@lru_cache(maxsize=1)
def _lib():
    name = ctypes.util.find_library("selinux") or "libselinux.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.selabel_open.restype = ctypes.c_void_p
    lib.selabel_open.argtypes = [ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint]
    lib.selabel_lookup.restype = ctypes.c_int
    lib.selabel_lookup.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_char_p, ctypes.c_int]
    lib.selabel_close.argtypes = [ctypes.c_void_p]
    lib.freecon.argtypes = [ctypes.c_char_p]
    return lib


class Labeler:
    """Context lookups against the image's file_contexts; use as a context manager."""

    def __init__(self, tree: GuestTree, policy_type: str):
        self.tree = tree
        self.spec = f"/etc/selinux/{policy_type}/contexts/files/file_contexts"
        self.handle = None
        self._tmp = None

    def __enter__(self) -> "Labeler | None":
        lib = _lib()
        if lib is None or self.tree.read_bytes(self.spec) is None:
            return None
        self._tmp = tempfile.TemporaryDirectory(prefix="wb-selinux-")
        local = os.path.join(self._tmp.name, "file_contexts")
        for suffix in COMPANIONS:
            data = self.tree.read_bytes(self.spec + suffix)
            if data is not None:
                with open(local + suffix, "wb") as f:
                    f.write(data)
        opts = (_Opt * 1)(_Opt(SELABEL_OPT_PATH, local.encode()))
        self.handle = lib.selabel_open(SELABEL_CTX_FILE, opts, 1)
        if not self.handle:
            self._tmp.cleanup()
            return None
        return self

    def __exit__(self, *exc) -> None:
        if self.handle:
            _lib().selabel_close(self.handle)
        if self._tmp is not None:
            self._tmp.cleanup()

    def context(self, path: str, kind: str = "file") -> str | None:
        con = ctypes.c_char_p()
        if _lib().selabel_lookup(self.handle, ctypes.byref(con), path.encode(), MODES.get(kind, stat.S_IFREG)) != 0:
            return None
        return con.value.decode("ascii", "replace") if con.value else None
