"""What is pulled from a guest for the checks, and how: a few bulk tar transfers, not many round trips."""

from __future__ import annotations

import os
import re
import tempfile

from workbench.image.tree import GuestTree, Node, mode_kind

# Trees pulled whole with tar_out, with excludes for bulky content checks never read.
TREE_PULLS: list[tuple[str, list[str]]] = [
    ("/etc", ["./selinux/*/policy", "./selinux/*/contexts/files/*.bin", "./udev/hwdb.bin",
              "./pki/ca-trust/extracted", "./ssl/certs/*.pem", "./gconf", "./brltty"]),
    ("/usr/lib/systemd/system", []),
    ("/lib/systemd/system", []),
]
# Single files pulled when present.
FILE_PULLS = ["/usr/lib/os-release"]
# Package databases: (path, byte limit); the first family found is pulled.
PACKAGE_DB_PULLS = [
    [("/var/lib/dpkg/status", 64 << 20)],
    [("/lib/apk/db/installed", 32 << 20), ("/usr/lib/apk/db/installed", 32 << 20)],
    [(f"{d}/{n}", 512 << 20) for d in ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
     for n in ("rpmdb.sqlite", "rpmdb.sqlite-wal", "Packages", "Packages.db")],
]
# Home directories: files up to this size are pulled (private keys and authorized_keys are small).
HOME_FILE_MAX = 64 << 10
HOME_MAX_ENTRIES = 50_000
SYSTEM_DIRS = {"/", "/bin", "/sbin", "/usr", "/etc", "/var", "/lib", "/lib64", "/proc", "/sys", "/dev", "/boot",
               "/run", "/tmp", "/opt", "/srv", "/nonexistent", "/var/empty", "/var/run"}
# Paths whose type and link target checks need, probed without reading content.
PROBES = ["/sbin/init", "/usr/sbin/init", "/bin/sh", "/sbin/openrc", "/sbin/initctl",
          "/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/usr/sbin/NetworkManager",
          "/usr/sbin/wicked", "/usr/sbin/netplan", "/sbin/ifup", "/usr/sbin/ifup", "/bin/busybox",
          "/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/sbin/chpasswd", "/usr/bin/systemctl",
          "/bin/systemctl", "/sbin/restorecon", "/usr/sbin/restorecon"]
TOP_LINKS = ["bin", "sbin", "lib", "lib64", "lib32", "libx32"]


def _try(fn, *args):
    try:
        return fn(*args)
    except RuntimeError:
        return None


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:300]


def pull_trees(s, tree: GuestTree, notes: list[str], trees=None, files=None, probes=None) -> None:
    """Bulk-copy the listed trees (tar_out), small files and probes of session s into tree."""
    g = s._g
    trees = TREE_PULLS if trees is None else trees
    files = FILE_PULLS if files is None else files
    probes = PROBES if probes is None else probes
    for name, target in zip(TOP_LINKS, g.readlinklist("/", TOP_LINKS)):
        if target:
            tree.add_link("/" + name, target)
    seen = set()
    with tempfile.TemporaryDirectory(prefix="wb-pull-") as tmp:
        for i, (path, excludes) in enumerate(trees):
            real = _try(g.realpath, path)
            if not real or real in seen or not _try(g.is_dir, real):
                continue
            seen.add(real)
            s.report_progress(f"Reading {path}", (i + 1) / (len(trees) + 1))
            _tar_into(s, tree, real, os.path.join(tmp, f"pull{i}.tar"), excludes, notes)
    for path in files:
        real = _try(g.realpath, path)
        if real and not tree.is_file(real):
            data = s.read_small(real, tree.max_file)
            if data is not None:
                tree.add_file(real, data)
    by_dir: dict[str, list[str]] = {}
    for p in probes:
        d, _, name = p.rpartition("/")
        by_dir.setdefault(d or "/", []).append(name)
    for d, names in by_dir.items():
        real = _try(g.realpath, d)
        if not real:
            continue
        stats = _try(g.lstatnslist, real, names) or []
        links = _try(g.readlinklist, real, names) or []
        for name, st, link in zip(names, stats, links + [""] * len(names)):
            if st["st_ino"] == -1:
                continue
            path = f"{real.rstrip('/')}/{name}"
            if tree.node(path, follow=False) is not None:
                continue
            kind = mode_kind(st["st_mode"])
            tree.add(Node(path, kind, st["st_mode"] & 0o7777, st["st_uid"], st["st_gid"],
                          st["st_size"], None, link or None))


def home_dirs(s, tree: GuestTree) -> list[str]:
    """Real paths of /root, the accounts' homes and /home/*, system directories left out."""
    from workbench.accounts import parse_accounts

    g = s._g
    accounts, _ = parse_accounts(tree)
    cands = ["/root"] + [a.home for a in accounts
                         if a.home and (a.uid == 0 or (a.uid is not None and 1000 <= a.uid < 65534) or a.can_login)]
    if _try(g.is_dir, "/home"):
        cands += [f"/home/{n}" for n in (_try(g.ls, "/home") or [])]
    out = []
    for c in cands:
        real = _try(g.realpath, c)
        if real and real not in out and real not in SYSTEM_DIRS and _try(g.is_dir, real):
            out.append(real)
    return out


def pull_homes(s, tree: GuestTree, notes: list[str]) -> None:
    """Small files of each home directory: list, stat per directory, then one tar without the big ones."""
    g = s._g
    with tempfile.TemporaryDirectory(prefix="wb-pull-") as tmp:
        for n, home in enumerate(home_dirs(s, tree)):
            listing = os.path.join(tmp, f"find{n}")
            try:
                g.find0(home, listing)
            except RuntimeError as e:
                notes.append(f"{home} could not be listed: {_short(e)}")
                continue
            with open(listing, "rb") as f:
                names = [x.decode("utf-8", "surrogateescape") for x in f.read().split(b"\0") if x]
            if len(names) > HOME_MAX_ENTRIES:
                notes.append(f"{home} holds {len(names)} entries; only its .ssh directory was read")
                if _try(g.is_dir, f"{home}/.ssh"):
                    pull_trees(s, tree, notes, trees=[(f"{home}/.ssh", [])], files=[], probes=[])
                continue
            _tar_into(s, tree, home, os.path.join(tmp, f"home{n}.tar"), _big_files(s, home, names), notes)


def _tar_into(s, tree: GuestTree, directory: str, out: str, excludes: list[str], notes: list[str]) -> None:
    """One bulk transfer: directory (minus excludes) through a tar file into the tree."""
    try:
        s._g.tar_out(directory, out, numericowner=True, excludes=excludes)
    except RuntimeError as e:
        notes.append(f"{directory} could not be read from the guest: {_short(e)}")
        return
    with open(out, "rb") as f:
        tree.add_tar(f, directory)
    os.unlink(out)


def _big_files(s, home: str, names: list[str]) -> list[str]:
    """tar --exclude patterns for every entry over HOME_FILE_MAX (and special files)."""
    by_dir: dict[str, list[str]] = {}
    for rel in names:
        d, _, base = rel.rpartition("/")
        by_dir.setdefault(d, []).append(base)
    excludes = []
    for d, bases in by_dir.items():
        path = f"{home}/{d}" if d else home
        for i in range(0, len(bases), 1000):
            chunk = bases[i:i + 1000]
            stats = _try(s._g.lstatnslist, path, chunk) or []
            for base, st in zip(chunk, stats):
                mode = st["st_mode"]
                big = (mode & 0o170000) == 0o100000 and st["st_size"] > HOME_FILE_MAX
                special = (mode & 0o170000) not in (0o100000, 0o040000, 0o120000)
                if big or special:
                    rel = f"{d}/{base}" if d else base
                    excludes.append("./" + re.sub(r"([*?\[\]\\])", r"\\\1", rel))
    return excludes


def pull_package_db(s, tree: GuestTree) -> None:
    for family in PACKAGE_DB_PULLS:
        got = False
        for path, limit in family:
            real = _try(s._g.realpath, path)
            if real is None or tree.is_file(real):
                continue
            data = s.read_small(real, limit)
            if data is not None:
                tree.add_file(real, data)
                if real != path:
                    tree.add_link(path, real)
                got = True
        if got:
            return
