"""The real programs our readers are compared with, found on the host (scripts/bootstrap.sh installs them).

A test that needs one and does not find it skips, saying which program and package are missing."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess

import pytest

PACKAGES = {"sshd": "openssh-server", "ssh-keygen": "openssh-client", "dpkg-query": "dpkg",
            "systemctl": "systemd", "systemd-analyze": "systemd", "findmnt": "util-linux"}


def need(program: str) -> str:
    """The path of program, or skip the test with the reason printed."""
    path = shutil.which(program) or next((p for p in (f"/usr/sbin/{program}", f"/sbin/{program}")
                                          if os.access(p, os.X_OK)), None)
    if path is None:
        pytest.skip(f"{program} is not installed (package {PACKAGES.get(program, '?')}; scripts/bootstrap.sh "
                    "installs it): the differential test against it cannot run")
    return path


def run(argv: list[str], timeout: int = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, timeout=timeout, **kw)


def report(disagreements: list[str], corpus: int, what: str) -> None:
    """Fail with every disagreement listed (the first 20 in full; each starts with '#N', the variation's index);
    print the corpus size and how many variations disagree either way."""
    variations = len({d.split(" ", 1)[0] for d in disagreements})
    print(f"{what}: {corpus} generated variations, {variations} with a disagreement")
    if disagreements:
        shown = "\n".join(disagreements[:20])
        more = f"\n… and {len(disagreements) - 20} more" if len(disagreements) > 20 else ""
        pytest.fail(f"{variations} of {corpus} variations: our reader and {what} disagree:\n{shown}{more}")


def libc(signatures: dict[str, tuple[object, list]]):
    """The host's C library through ctypes, with these functions' (restype, argtypes) set; skip (saying so)
    when one is missing."""
    name = ctypes.util.find_library("c")
    lib = ctypes.CDLL(name) if name else None
    missing = [f for f in signatures if lib is None or not hasattr(lib, f)]
    if missing:
        pytest.skip(f"glibc's {', '.join(missing)} are not available through ctypes on this host")
    for func, (restype, argtypes) in signatures.items():
        getattr(lib, func).restype = restype
        getattr(lib, func).argtypes = argtypes
    return lib
