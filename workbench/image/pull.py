"""What is pulled from a guest for the checks, and how: a few bulk tar transfers, not many round trips.

Transfers stream through a FIFO into memory with a hard cap: nothing is written to the host's disk, and
a sparse file is never expanded. A tar member over the per-file limit or the review's budget stops the
transfer at its header (the appliance is told to cancel); the transfer is made again without it, and it is
recorded in the tree as not read, so the checks that need it warn. Home directories, where big files are
common, are listed with their sizes first instead.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from typing import Callable, IO

from workbench.flavors import all_probes
from workbench.image.tree import GuestTree, Node, mode_kind
from workbench.sshpaths import SYSTEM_DIRS

# Trees pulled whole with tar_out, with excludes for bulky content checks never read.
TREE_PULLS: list[tuple[str, list[str]]] = [
    ("/etc", ["./selinux/*/policy", "./selinux/*/contexts/files/*.bin", "./udev/hwdb.bin",
              "./pki/ca-trust/extracted", "./ssl/certs/*.pem", "./gconf", "./brltty"]),
    ("/usr/lib/systemd/system", []),
    ("/lib/systemd/system", []),
    ("/usr/local/lib/systemd/system", []),
    ("/usr/lib/systemd/system-preset", []),
    ("/lib/systemd/system-preset", []),
    ("/usr/local/lib/systemd/system-preset", []),
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
DPKG_JOURNAL = "/var/lib/dpkg/updates"  # pulled whole beside dpkg's status file
# Home directories: files up to this size are pulled (private keys are small); bigger ones are examined by
# their first bytes up to OpenSSH's own limit for a key file (1 MiB), and authorized_keys files are read whole.
HOME_FILE_MAX = 64 << 10
KEY_FILE_MAX = 1 << 20
AUTHORIZED_MAX = 4 << 20
MAX_PROBES = 256
HOME_MAX_ENTRIES = 50_000
LISTING_MAX = 32 << 20  # a find0 listing over this is cut off (millions of entries)
LISTING_ENTRIES = 200_000
STAT_CHUNK = 1000
TAR_OVERHEAD = 64 << 20  # what a transfer may carry beyond the file data it keeps (headers, long names)
MAX_RESTARTS = 8  # transfers made again without a member that was too big; then the tree is not read
# Paths whose type and link target checks need, probed without reading content.
PROBES = ["/sbin/init", "/usr/sbin/init", "/bin/sh", "/sbin/openrc", "/sbin/initctl",
          "/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/bin/busybox",
          "/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/sbin/chpasswd", "/usr/bin/systemctl",
          "/bin/systemctl", "/sbin/restorecon", "/usr/sbin/restorecon",
          # boot readiness: the tools that rebuild an initramfs, how interfaces get their names, other configurers
          "/usr/sbin/update-initramfs", "/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/mkinitrd", "/usr/sbin/mkinitrd",
          "/usr/sbin/grub-mkconfig", "/usr/sbin/grub2-mkconfig", "/usr/sbin/update-grub", "/usr/bin/grubby",
          "/usr/lib/udev/rules.d/80-net-setup-link.rules", "/lib/udev/rules.d/80-net-setup-link.rules",
          "/usr/lib/systemd/network/99-default.link", "/lib/systemd/network/99-default.link",
          "/usr/lib/udev/rules.d/71-biosdevname.rules", "/lib/udev/rules.d/71-biosdevname.rules",
          "/lib/udev/rules.d/75-persistent-net-generator.rules", "/usr/bin/cloud-init", "/usr/sbin/dhcpcd",
          "/sbin/dhclient", "/usr/sbin/dhclient", "/usr/lib/systemd/systemd-udevd", "/lib/systemd/systemd-udevd",
          "/sbin/udevd", "/usr/bin/qemu-ga", "/usr/sbin/qemu-ga", "/usr/bin/vmtoolsd", "/usr/sbin/waagent",
          "/usr/bin/google_guest_agent", "/usr/bin/amazon-ssm-agent", "/usr/sbin/hv_kvp_daemon",
          "/usr/sbin/VBoxService", *all_probes()]  # the network stacks': flavors.py
TOP_LINKS = ["bin", "sbin", "lib", "lib64", "lib32", "libx32"]
BOOT_PULL = "/boot"  # pulled by image/bootinfo.py (with pull="all", as every check run has it)


def review_covers(path: str, homes=()) -> bool:
    """Whether a review's pulls (pull="all") read path, or learn that it is absent: the trees, single files,
    probes, package databases, /boot, and the home directories (homes: those of the image's accounts)."""
    roots = [p for p, _ in TREE_PULLS] + [BOOT_PULL, DPKG_JOURNAL, "/root", "/home", *homes]
    exact = set(FILE_PULLS) | set(PROBES) | {p for family in PACKAGE_DB_PULLS for p, _ in family}
    exact |= {"/" + n for n in TOP_LINKS}
    return path in exact or any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _try(fn, *args):
    try:
        return fn(*args)
    except RuntimeError:
        return None


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:300]


def stream(s, call: Callable[[str], None], consume: Callable[[IO[bytes]], None], cap: int) -> bool:
    """Run a guestfs download (call(fifo_path)) into consume(fileobj) through a FIFO, reading at most cap bytes;
    past the cap the transfer is cancelled and the rest drained. Returns False when it was cut at the cap."""
    g = s._g
    with tempfile.TemporaryDirectory(prefix="wb-pull-") as tmp:
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo, 0o600)
        state = {"over": False, "error": None}

        class Capped:
            def __init__(self, f):
                self.f, self.n = f, 0

            def read(self, size=-1):
                if state["over"]:
                    return b""
                want = 65536 if size is None or size < 0 else size
                data = self.f.read(min(want, cap - self.n + 1))
                self.n += len(data)
                if self.n > cap:
                    state["over"] = True
                    g.user_cancel()
                    return b""
                return data

        def reader():
            try:
                with open(fifo, "rb") as f:
                    try:
                        consume(Capped(f))
                    except Exception as e:  # the consumer stopped: cancel the transfer, drain what is in flight
                        state["error"] = e
                        state["over"] = True
                        g.user_cancel()
                    while f.read(1 << 16):
                        pass
            except OSError as e:
                state["error"] = e

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            call(fifo)
        except RuntimeError:
            if not state["over"]:
                raise
        finally:
            try:  # the call may have failed before opening the FIFO: let the reader see an end
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            t.join()
    if isinstance(state["error"], Stop):
        raise state["error"]
    return not state["over"]


class Stop(Exception):
    """A consumer stops a transfer on purpose (a member too big to read)."""


class TooBig(Stop):
    def __init__(self, rel: str, path: str, size: int, why: str):
        super().__init__(path)
        self.rel, self.path, self.size, self.why = rel, path, size, why


def listing(s, directory: str) -> list[tuple[str, int, int]] | None:
    """(relative path, st_mode, st_size) of everything under directory, from the appliance (two or three
    round trips for a whole /etc); None when it holds more than LISTING_ENTRIES entries."""
    chunks: list[bytes] = []
    if not stream(s, lambda out: s._g.find0(directory, out), lambda f: chunks.extend(iter(lambda: f.read(), b"")),
                  LISTING_MAX):
        return None
    names = [x.decode("utf-8", "surrogateescape") for x in b"".join(chunks).split(b"\0") if x]
    if len(names) > LISTING_ENTRIES:
        return None
    by_dir: dict[str, list[str]] = {}
    for rel in names:
        d, _, base = rel.lstrip("/").rpartition("/")
        by_dir.setdefault(d, []).append(base)
    out = []
    for d, bases in by_dir.items():
        path = f"{directory.rstrip('/')}/{d}" if d else directory
        for i in range(0, len(bases), STAT_CHUNK):
            chunk = bases[i:i + STAT_CHUNK]
            stats = _try(s._g.lstatnslist, path, chunk) or []
            out += [(f"{d}/{n}" if d else n, st["st_mode"], st["st_size"])
                    for n, st in zip(chunk, stats) if st["st_ino"] != -1]
    return out


def _exclude(rel: str) -> str:
    return "./" + re.sub(r"([*?\[\]\\])", r"\\\1", rel)


def plan_transfer(tree: GuestTree, directory: str, entries: list[tuple[str, int, int]], max_file: int,
                  why_big: str = "over the per-file limit") -> tuple[list[str], int]:
    """tar excludes for files too big for the transfer (recorded in the tree as not read) and special files;
    and the bytes the transfer may carry."""
    excludes, total = [], 0
    budget = tree.max_total - tree.bytes_kept
    for rel, mode, size in entries:
        kind = mode_kind(mode)
        path = f"{directory.rstrip('/')}/{rel}"
        if kind == "other":
            excludes.append(_exclude(rel))
            tree.add(Node(path, "other", mode & 0o7777))
        elif kind == "file" and (size > max_file or total + size > budget):
            excludes.append(_exclude(rel))
            tree.add(Node(path, "file", mode & 0o7777, size=size))
            tree.mark_unread(path, f"{size} bytes, not read ({why_big if size > max_file else 'over the review budget'})")
        elif kind == "file":
            total += size
    return excludes, total


def pull_trees(s, tree: GuestTree, notes: list[str], trees=None, files=None, probes=None) -> None:
    """Bulk-copy the listed trees (tar_out), small files and probes of session s into tree."""
    g = s._g
    trees = TREE_PULLS if trees is None else trees
    files = FILE_PULLS if files is None else files
    probes = PROBES if probes is None else probes
    for name, target in zip(TOP_LINKS, g.readlinklist("/", TOP_LINKS)):
        tree.look("/" + name)
        if target:
            tree.add_link("/" + name, target)
    seen = set()
    for i, (path, excludes) in enumerate(trees):
        real = _try(g.realpath, path)
        tree.look(path)  # not there, or pulled below: either way a fact
        if not real or real in seen or not _try(g.is_dir, real):
            continue
        seen.add(real)
        s.report_progress(f"Reading {path}", (i + 1) / (len(trees) + 1))
        _tar_into(s, tree, real, list(excludes), notes)
    for path in files:
        real = _try(g.realpath, path)
        tree.look(path)
        if real:
            tree.look(real)
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
        for name in names:
            tree.look(f"{d.rstrip('/')}/{name}")
            if real:
                tree.look(f"{real.rstrip('/')}/{name}")
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
    """Real paths of /root, the accounts' homes and /home/*, system directories left out. A home reached
    through a symbolic link gets that link in the tree, so that the checks find it by its written path."""
    from workbench.sshpaths import home_candidates

    g = s._g
    cands = [home for _, home in home_candidates(tree)]
    tree.look("/home")
    if _try(g.is_dir, "/home"):
        cands += [f"/home/{n}" for n in (_try(g.ls, "/home") or [])]
    out = []
    for c in cands:
        tree.look(c)  # a home that is not there (or is a system directory) is a fact too
        real = _try(g.realpath, c)
        if real and real not in out and real not in SYSTEM_DIRS and _try(g.is_dir, real):
            out.append(real)
            link_to(tree, c, real)
    return out


def link_to(tree: GuestTree, path: str, real: str) -> None:
    """Make path lead to real in the tree, when the guest reached real from path through symbolic links."""
    at = tree.resolve(path)
    if at is not None and at != real and tree.node(at, follow=False) is None:
        tree.add_link(at, real)


def pull_homes(s, tree: GuestTree, notes: list[str]) -> None:
    """Small files of each home directory in one tar; bigger ones examined (see HOME_FILE_MAX)."""
    from workbench.sshkeys import private_key

    for home in home_dirs(s, tree):
        entries = listing(s, home)
        if entries is None or len(entries) > HOME_MAX_ENTRIES:
            notes.append(f"{home} holds more than {HOME_MAX_ENTRIES} entries; only its .ssh directory was read")
            tree.mark_unread(home, f"holds more than {HOME_MAX_ENTRIES} entries; only its .ssh directory was read")
            if _try(s._g.is_dir, f"{home}/.ssh"):
                pull_trees(s, tree, notes, trees=[(f"{home}/.ssh", [])], files=[], probes=[])
            continue
        big = [(rel, mode, size) for rel, mode, size in entries
               if mode_kind(mode) == "file" and size > HOME_FILE_MAX]
        excludes, _ = plan_transfer(tree, home, entries, HOME_FILE_MAX, "a big file in a home directory")
        _tar_into(s, tree, home, excludes, notes, HOME_FILE_MAX)
        probes = 0
        for rel, mode, size in big:
            path = f"{home}/{rel}"
            authorized = os.path.basename(rel).startswith("authorized_keys")
            if not authorized and size > KEY_FILE_MAX:
                tree.unread.pop(path, None)  # bigger than ssh loads a key: not one, nothing to read
                continue
            if probes >= MAX_PROBES:
                continue  # left as not read
            probes += 1
            head = s.read_small(path, 4096, head=True) if not authorized else None
            if not authorized and head is not None and private_key(head) is None:
                tree.unread.pop(path, None)  # examined: it does not start like a private key
                continue
            data = s.read_small(path, AUTHORIZED_MAX if authorized else KEY_FILE_MAX)
            if data is not None:
                tree.unread.pop(path, None)
                tree.add(Node(path, "file", mode & 0o7777, size=len(data), data=data))
    from workbench.image.pull_ssh import pull_ssh

    pull_ssh(s, tree, notes)


def _tar_into(s, tree: GuestTree, directory: str, excludes: list[str], notes: list[str],
              max_file: int | None = None) -> None:
    """One bulk transfer: directory (minus excludes) streamed as tar into the tree. A member over max_file or
    the tree's budget stops it; it is made again without that member (at most MAX_RESTARTS times)."""
    max_file = tree.max_file if max_file is None else max_file
    excludes = list(excludes)
    for _ in range(MAX_RESTARTS + 1):
        budget = tree.max_total - tree.bytes_kept

        def check(rel: str, path: str, size: int) -> None:
            if size > max_file:
                raise TooBig(rel, path, size, "over the per-file limit")
            if size > budget:
                raise TooBig(rel, path, size, "over the review budget")

        try:
            whole = stream(s, lambda out: s._g.tar_out(directory, out, numericowner=True, excludes=excludes),
                           lambda f: tree.add_tar(f, directory, check), budget + TAR_OVERHEAD)
        except TooBig as big:
            tree.add(Node(big.path, "file", 0o644, size=big.size))
            tree.mark_unread(big.path, f"{big.size} bytes, not read ({big.why})")
            excludes.append(_exclude(big.rel))
            continue
        except RuntimeError as e:
            notes.append(f"{directory} could not be read from the guest: {_short(e)}")
            tree.mark_unread(directory, f"could not be read from the guest ({_short(e)})")
            return
        if not whole:
            notes.append(f"{directory}: the transfer was cut at the review's budget")
            tree.mark_unread(directory, "the transfer was cut at the review's budget; the rest was not read")
        return
    notes.append(f"{directory} holds more than {MAX_RESTARTS} files too big to read; the rest was not read")
    tree.mark_unread(directory, f"holds more than {MAX_RESTARTS} files too big to read; not fully read")


def pull_package_db(s, tree: GuestTree) -> None:
    for family in PACKAGE_DB_PULLS:
        got = False
        for path, limit in family:
            real = _try(s._g.realpath, path)
            tree.look(path)
            if real is not None:
                tree.look(real)
            if real is None or tree.is_file(real):
                continue
            data = s.read_small(real, limit)
            if data is not None:
                tree.add_file(real, data)
            elif s.is_file(real):  # there, but not read: the vulnerability check must not take it as absent
                size = _try(s._g.filesize, real) or 0
                tree.add(Node(real, "file", 0o644, size=size))
                tree.mark_unread(real, f"{size} bytes, over the {limit >> 20} MiB read of a package database")
            else:
                continue
            if real != path:
                tree.add_link(path, real)
            got = True
        if got:
            if family is PACKAGE_DB_PULLS[0]:  # dpkg's journal, applied over the status file
                tree.look(DPKG_JOURNAL)
                updates = _try(s._g.realpath, DPKG_JOURNAL)
                if updates and _try(s._g.is_dir, updates):
                    _tar_into(s, tree, updates, [], [])
                    link_to(tree, DPKG_JOURNAL, updates)
            return
