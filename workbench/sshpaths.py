"""Where sshd finds keys in an image: the accounts' homes, the authorized_keys files of every account (as
AuthorizedKeysFile expands for it, in any Match block), TrustedUserCAKeys, the host keys. Pure: shared by the
checks and by image/pull.py, which pulls what /etc and the homes do not already hold."""

from __future__ import annotations

from workbench.accounts import parse_accounts
from workbench.image.tree import GuestTree
from workbench.sshd_config import (SshdConfig, authorized_patterns, expand_authorized, host_key_paths,
                                   read_config, trusted_ca_files)

SYSTEM_DIRS = {"/", "/bin", "/sbin", "/usr", "/etc", "/var", "/lib", "/lib64", "/proc", "/sys", "/dev", "/boot",
               "/run", "/tmp", "/opt", "/srv", "/nonexistent", "/var/empty", "/var/run"}
MAX_KEY_FILES = 4096  # authorized_keys locations looked at (accounts x patterns); past it the check warns
CA_OWNER = "any user (TrustedUserCAKeys)"


def home_candidates(tree: GuestTree) -> list[tuple[str, str]]:
    """(owner, home as written) of /root, the accounts that can log in (or are root or ordinary users)."""
    accounts, _ = parse_accounts(tree)
    cands: list[tuple[str, str]] = [("root", "/root")]
    for a in accounts:
        if a.home and (a.uid == 0 or (a.uid is not None and 1000 <= a.uid < 65534) or a.can_login):
            cands.append((a.name, a.home))
    return cands


def homes(tree: GuestTree) -> list[tuple[str, str]]:
    """(owner, home) walked whole for private keys: /root, the login accounts' homes and /home/*; system
    directories left out (their .ssh is in ssh_dirs)."""
    cands = home_candidates(tree) + [(n, f"/home/{n}") for n in tree.listdir("/home")]
    out, seen = [], set()
    for owner, home in cands:
        real = tree.resolve(home)
        if real is None or real in seen or real in SYSTEM_DIRS or not tree.is_dir(real):
            continue
        seen.add(real)
        out.append((owner, real))
    return out


def ssh_dirs(tree: GuestTree) -> list[tuple[str, str]]:
    """(owner, HOME/.ssh) of login accounts whose home is a system directory (/, /var, /opt...): not walked
    whole, but sshd reads their .ssh all the same."""
    out: list[tuple[str, str]] = []
    for owner, home in home_candidates(tree):
        real = tree.resolve(home) or home
        path = (real.rstrip("/") or "") + "/.ssh"
        if real in SYSTEM_DIRS and all(p != path for _, p in out):
            out.append((owner, path))
    return out


def _homes_map(tree: GuestTree) -> tuple[dict[str, str], str, list]:
    accounts, _ = parse_accounts(tree)
    names: dict[str, str] = {}
    for a in accounts:
        names.setdefault(a.name, a.home)
    root = next((a.home for a in accounts if a.uid == 0), "/root")
    return names, root, accounts


def authorized_files(tree: GuestTree, cfg: SshdConfig | None = None) -> tuple[list[tuple[str, str]], bool]:
    """(owner, path) of every file sshd may take keys from for some account, and whether the list was cut at
    MAX_KEY_FILES. Every account counts: sshd lets a key in for a nologin account too (port forwarding)."""
    cfg = cfg or read_config(tree)
    names, root_home, accounts = _homes_map(tree)
    out: list[tuple[str, str]] = [(CA_OWNER, p) for p in trusted_ca_files(cfg)]
    seen = {p for _, p in out}
    people = [(a.name, a.uid, a.home) for a in accounts]
    if "root" not in names:
        people.insert(0, ("root", 0, "/root"))
    for pattern in authorized_patterns(cfg):
        for name, uid, home in people:
            path = expand_authorized(pattern, name, uid, home, names, root_home)
            if path is None or path in seen:
                continue
            if len(out) >= MAX_KEY_FILES:
                return out, True
            seen.add(path)
            out.append((name, path))
    return out, False


def host_key_files(tree: GuestTree, cfg: SshdConfig | None = None) -> list[str]:
    cfg = cfg or read_config(tree)
    names, root_home, _ = _homes_map(tree)
    return host_key_paths(cfg, names, root_home)
