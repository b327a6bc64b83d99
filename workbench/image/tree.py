"""GuestTree: the guest files the checks need, pulled once, held in memory, read-only.

Everything in it came from an untrusted image: paths are normalised, symlinks
are resolved inside the tree (never on the host), each file's data is capped
and the whole tree has a byte budget. What exists but was not read is recorded
(unread) so that the checks needing it say so instead of passing.
"""

from __future__ import annotations

import contextlib
import contextvars
import posixpath
import stat as statmod
import tarfile
from dataclasses import dataclass
from typing import IO, Iterator

MAX_FILE_BYTES = 4 << 20
MAX_TREE_BYTES = 256 << 20
MAX_ENTRIES = 200_000
MAX_LINK_HOPS = 40
_STRICT = contextvars.ContextVar("workbench_strict_reads", default=False)


class NotPulled(LookupError):
    """A check looked up a path that nothing pulled from the image: its absence would be a guess, not a fact
    (image/pull.py must pull it). Raised only while reads are strict (during a check) and only on a pulled tree."""


@contextlib.contextmanager
def strict_reads():
    """While a check runs: a lookup outside what was pulled raises NotPulled instead of answering "absent"."""
    token = _STRICT.set(True)
    try:
        yield
    finally:
        _STRICT.reset(token)


@dataclass(frozen=True)
class Node:
    path: str
    kind: str  # file | dir | link | other
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    data: bytes | None = None  # None: not kept (over budget, or only probed)
    target: str | None = None  # symlink target, as stored

    @property
    def truncated(self) -> bool:
        return self.kind == "file" and (self.data is None or len(self.data) < self.size)


def normpath(path: str) -> str | None:
    """An absolute, normalised guest path; None for paths no file can have."""
    if not path or "\0" in path:
        return None
    if not path.startswith("/"):
        path = "/" + path
    out = posixpath.normpath(path)
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


class GuestTree:
    """A read-only map of guest paths to Nodes, with chroot-style symlink resolution."""

    def __init__(self, max_file: int = MAX_FILE_BYTES, max_total: int = MAX_TREE_BYTES) -> None:
        self._nodes: dict[str, Node] = {"/": Node("/", "dir", 0o755)}
        self._children: dict[str, set[str]] = {"/": set()}
        self.pulled: list[str] = []  # roots that were pulled whole (absence there is real)
        self.skipped: list[str] = []  # why something was not kept, as sentences
        self.unread: dict[str, str] = {}  # guest path -> why its content (or the rest of it) was not read
        self.max_file = max_file
        self.max_total = max_total
        self.bytes_kept = 0
        self.scoped = False  # filled by image/pull.py: lookups outside pulled and looked are not answered
        self.looked: set[str] = set()  # single paths read or probed in the guest (present or not: both are facts)

    # -- building ----------------------------------------------------------------
    def add(self, node: Node) -> None:
        path = normpath(node.path)
        if path is None or len(self._nodes) >= MAX_ENTRIES:
            if len(self._nodes) >= MAX_ENTRIES and "entries" not in " ".join(self.skipped):
                self.skipped.append(f"more than {MAX_ENTRIES} entries; the rest was not read")
                self.unread.setdefault("/", f"more than {MAX_ENTRIES} entries were pulled; the rest was not read")
            return
        if path != node.path:
            node = Node(path, node.kind, node.mode, node.uid, node.gid, node.size, node.data, node.target)
        parent = posixpath.dirname(path)
        if parent not in self._nodes:
            self.add(Node(parent, "dir", 0o755))
        old = self._nodes.get(path)
        if old is not None and old.data:
            self.bytes_kept -= len(old.data)
        if node.data is not None:
            self.bytes_kept += len(node.data)
        self._nodes[path] = node
        if path != "/":
            self._children.setdefault(parent, set()).add(posixpath.basename(path))
        if node.kind == "dir":
            self._children.setdefault(path, set())

    def add_file(self, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        """For tests and single-file pulls."""
        self.add(Node(path, "file", mode, uid, gid, len(data), data))

    def add_dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.add(Node(path, "dir", mode, uid, gid))

    def add_link(self, path: str, target: str) -> None:
        self.add(Node(path, "link", 0o777, target=target))

    @classmethod
    def from_dict(cls, files: dict[str, str | bytes], links: dict[str, str] | None = None) -> "GuestTree":
        tree = cls()
        for path, content in files.items():
            if path.endswith("/"):
                tree.add_dir(path.rstrip("/"))
            else:
                tree.add_file(path, content.encode() if isinstance(content, str) else content)
        for path, target in (links or {}).items():
            tree.add_link(path, target)
        return tree

    def add_tar(self, fileobj: IO[bytes], base: str, check=None) -> None:
        """Read a tar stream (as tar_out writes it, paths relative to base) into the tree.

        check(relative name, path, size) sees each file's header before its data is read, and may raise to stop
        the transfer there (pull.TooBig): nothing of that member is read."""
        self.pulled.append(normpath(base) or "/")
        self.scoped = True
        try:
            with tarfile.open(fileobj=fileobj, mode="r|") as tar:
                for member in tar:
                    if check is not None and member.isfile():
                        path = normpath(posixpath.join(base, member.name.lstrip("/")))
                        if path is not None:
                            check(member.name[2:] if member.name.startswith("./") else member.name, path,
                                  member.size)
                    self._add_member(tar, member, base)
        except (tarfile.TarError, EOFError, OSError) as e:
            self.skipped.append(f"{base}: the archive from the guest ended early ({e})")
            self.mark_unread(base, f"the archive from the guest ended early ({e})")

    def _add_member(self, tar: tarfile.TarFile, m: tarfile.TarInfo, base: str) -> None:
        path = normpath(posixpath.join(base, m.name.lstrip("/")))
        if path is None:
            return
        mode = m.mode & 0o7777
        if m.isdir():
            self.add(Node(path, "dir", mode, m.uid, m.gid))
        elif m.issym():
            self.add(Node(path, "link", 0o777, m.uid, m.gid, target=m.linkname[:4096]))
        elif m.islnk():
            src = self._nodes.get(normpath(posixpath.join(base, m.linkname.lstrip("/"))) or "")
            if src is not None and src.kind == "file":
                self.add(Node(path, "file", mode, m.uid, m.gid, src.size, src.data))
        elif m.isfile():
            data = None
            if m.size <= self.max_file and self.bytes_kept + m.size <= self.max_total:
                f = tar.extractfile(m)
                data = f.read() if f else None
            else:
                why = "over the per-file limit" if m.size > self.max_file else "over the tree budget"
                self.skipped.append(f"{path}: {m.size} bytes, not read ({why})")
                self.mark_unread(path, f"{m.size} bytes, not read ({why})")
            self.add(Node(path, "file", mode, m.uid, m.gid, m.size, data))
        else:  # a device, FIFO or socket where a file may be expected: not a file, and not an absence either
            self.add(Node(path, "other", mode, m.uid, m.gid))
            self.mark_unread(path, "not a regular file")

    def mark_unread(self, path: str, why: str) -> None:
        """path exists in the guest but its content (or part of it) was not read, for this reason."""
        p = normpath(path)
        if p is not None and len(self.unread) < MAX_ENTRIES:
            self.unread.setdefault(p, why)

    def unread_under(self, prefixes) -> list[tuple[str, str]]:
        """(path, why) of what was not read at or under any of the prefixes, or above them (a whole tree)."""
        out = []
        for p in prefixes:
            p = normpath(p)
            if p is None:
                continue
            real = self.resolve(p) or p
            for path, why in self.unread.items():
                inside = path == real or path.startswith(real.rstrip("/") + "/")
                above = real.startswith(path.rstrip("/") + "/") or path == "/"
                if (inside or above) and (path, why) not in out:
                    out.append((path, why))
        return out

    # -- reading -----------------------------------------------------------------
    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        """The path after following symlinks inside the tree; None on loops or escapes of the budget."""
        path = normpath(path)
        if path is None:
            return None
        hops = 0
        parts = [p for p in path.split("/") if p]
        done = "/"
        while parts:
            name = parts.pop(0)
            cand = posixpath.join(done, name)
            node = self._nodes.get(cand)
            if node is not None and node.kind == "link" and (parts or follow_last):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    return None
                target = node.target or ""
                base = "/" if target.startswith("/") else done
                new = normpath(posixpath.join(base, target))
                if new is None:
                    return None
                parts = [p for p in new.split("/") if p] + parts
                done = "/"
                continue
            done = cand
        return done

    def look(self, path: str) -> None:
        """path was read or probed in the guest: whatever the tree says of it is a fact."""
        p = normpath(path)
        if p is not None:
            self.scoped = True
            self.looked.add(p)

    def covers(self, path: str) -> bool:
        """Whether what the tree says of path is a fact: under a pulled tree, a path read or probed, or a directory
        above one of them. An unscoped tree (built in memory) covers everything."""
        if not self.scoped:
            return True
        p = normpath(path) or "/"
        if p in self.looked or self.was_pulled(p):
            return True
        # below a path looked at and found absent (a pulled tree's missing root), nothing is there either
        parent = posixpath.dirname(p)
        while parent not in ("/", ""):
            if parent in self.looked and parent not in self._nodes:
                return True
            parent = posixpath.dirname(parent)
        above = p.rstrip("/") + "/"
        return any(r.startswith(above) for r in self.pulled) or any(r.startswith(above) for r in self.looked)

    def _checked(self, real: str | None, asked: str) -> str | None:
        """real, unless reads are strict and neither it nor the path as asked (a probe that found nothing records
        the path it was given: its links may lead nowhere) is covered."""
        if real is not None and _STRICT.get() and not self.covers(real) and not self.covers(asked):
            raise NotPulled(f"{asked} was not pulled from the image, so whether it is there is not known")
        return real

    def node(self, path: str, follow: bool = True) -> Node | None:
        real = self._checked(self.resolve(path, follow_last=follow), path)
        return self._nodes.get(real) if real else None

    def exists(self, path: str) -> bool:
        return self.node(path) is not None

    def present(self, path: str) -> bool:
        """Something is at path (a dangling or unpulled link included): for probed programs and files, whose
        link targets were not pulled."""
        return self.node(path, follow=False) is not None

    def is_file(self, path: str) -> bool:
        n = self.node(path)
        return n is not None and n.kind == "file"

    def is_dir(self, path: str) -> bool:
        n = self.node(path)
        return n is not None and n.kind == "dir"

    def is_link(self, path: str) -> bool:
        n = self.node(path, follow=False)
        return n is not None and n.kind == "link"

    def readlink(self, path: str) -> str | None:
        n = self.node(path, follow=False)
        return n.target if n is not None and n.kind == "link" else None

    def read_bytes(self, path: str, limit: int | None = None) -> bytes | None:
        n = self.node(path)
        if n is None or n.kind != "file" or n.data is None:
            return None
        return n.data if limit is None else n.data[:limit]

    def read_text(self, path: str, limit: int | None = None) -> str | None:
        """UTF-8 with replacement; CRLF and lone CR become LF."""
        data = self.read_bytes(path, limit)
        if data is None:
            return None
        return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")

    def listdir(self, path: str) -> list[str]:
        real = self._checked(self.resolve(path), path)
        if real is None or real not in self._children:
            return []
        return sorted(self._children[real])

    def walk(self, top: str = "/") -> Iterator[Node]:
        """Every node at or under top (no symlinks followed), in path order."""
        real = self._checked(self.resolve(top), top)
        if real is None:
            return
        prefix = real.rstrip("/") + "/"
        for path in sorted(self._nodes):
            if path == real or path.startswith(prefix):
                yield self._nodes[path]

    def was_pulled(self, path: str) -> bool:
        """True when path lies under a pulled root, so its absence means it is absent."""
        p = normpath(path) or "/"
        return any(p == root or p.startswith(root.rstrip("/") + "/") for root in self.pulled)

    def __len__(self) -> int:
        return len(self._nodes)


def mode_kind(st_mode: int) -> str:
    if statmod.S_ISDIR(st_mode):
        return "dir"
    if statmod.S_ISLNK(st_mode):
        return "link"
    if statmod.S_ISREG(st_mode):
        return "file"
    return "other"
