"""uninject: remove exactly what the manifest lists, restoring changed files from their saved copies.

Idempotent: a second run after an interrupted one (the manifest still there, some files already restored and
their backups already removed) restores nothing twice and removes nothing that is no longer what workbench
wrote. Every step looks at what the path holds now: a file that already holds its original content is left
alone, a created file is removed only while it still holds what workbench wrote (or the inject that made it was
itself interrupted), and no path is ever removed before what replaces it has been read.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Callable

from workbench.errors import UsageError
from workbench.image.guestfiles import S_IFLNK, S_IFMT, S_IFREG
from workbench.image.preflight import preflight
from workbench.image.session import GuestSession
from workbench.inject.plan import FIRST, InjectError
from workbench.inject.run import staged_target
from workbench.inject.writer import BACKUP_DIR, MANIFEST, close_first_partition, open_first_partition
from workbench.staging import copy_image

STATE_DIR = posixpath.dirname(MANIFEST)


def _sha_of(s: GuestSession, path: str) -> str | None:
    """The sha256 of the regular file at path (not through a link), or None (absent, not a file, unreadable)."""
    st = s.lstat(path)
    if st is None or (st[0] & S_IFMT) != S_IFREG:
        return None
    try:
        return hashlib.sha256(s.read_file(path)).hexdigest()
    except RuntimeError:
        return None


def _still_ours(s: GuestSession, entry: dict, gpath: str) -> bool:
    """Whether what workbench created at gpath is still there as it wrote it (an inject interrupted before its
    manifest was complete recorded no content: what stands where nothing stood before is its)."""
    if entry.get("kind") == "link":
        st = s.lstat(gpath)
        return st is not None and (st[0] & S_IFMT) == S_IFLNK and s.readlink(gpath) == entry.get("target")
    want = entry.get("sha256")
    return s.exists(gpath) if want is None else _sha_of(s, gpath) == want


def _restore(s: GuestSession, entry: dict, gpath: str, out: dict[str, list[str]]) -> bool:
    """Undo one manifest entry, unless what the path holds says it is undone already (out: removed, restored,
    left alone and why). False when its saved copy could not be put back (it is then kept)."""
    action = entry.get("action")
    if action == "create":
        if entry["kind"] == "dir":
            if s.is_dir(gpath) and not s.listdir(gpath):
                s.rmdir(gpath)
                out["removed"].append(gpath)
        elif _still_ours(s, entry, gpath):
            s.remove(gpath)
            out["removed"].append(gpath)
        elif s.exists(gpath):
            out["left"].append(f"{gpath}: changed since workbench wrote it, so it was left as it is")
    elif action in ("modify", "delete"):
        if entry.get("previous_target"):
            st = s.lstat(gpath)
            if st is not None and (st[0] & S_IFMT) == S_IFLNK and s.readlink(gpath) == entry["previous_target"]:
                return True  # restored already
            s.remove(gpath)
            s.symlink(entry["previous_target"], gpath)
            out["restored"].append(gpath)
        elif entry.get("backup"):
            if _sha_of(s, gpath) != entry.get("previous_sha256") and not _put_back(s, entry, gpath, out):
                return False
            if entry.get("previous_mode"):  # again, whatever else happened: an interrupted run may have missed it
                s.chmod(int(entry["previous_mode"], 8), gpath)
                s.chown(entry.get("previous_uid", 0), entry.get("previous_gid", 0), gpath)
    return True


def _put_back(s: GuestSession, entry: dict, gpath: str, out: dict[str, list[str]]) -> bool:
    """The saved copy written back at gpath: read (and checked) before anything at gpath is removed."""
    backup = entry["backup"]
    try:
        data = s.read_file(backup) if _sha_of(s, backup) == entry.get("previous_sha256") else None
    except RuntimeError:
        data = None
    if data is None:
        out["left"].append(f"{gpath}: its saved copy {backup} is missing or not the original, so it was left as "
                           "it is (and the saved copy, if any, kept)")
        return False
    s.remove(gpath)
    s.write_file(gpath, data)
    out["restored"].append(gpath)
    return True


def _prune_empty(s: GuestSession, path: str, stop: str) -> None:
    """Remove path and its parents while they are empty directories, up to and including stop."""
    while path.startswith(stop) and s.is_dir(path) and not s.listdir(path):
        s.rmdir(path)
        if path == stop:
            return
        path = posixpath.dirname(path)


def uninject(src_path: str, output: str | None = None, in_place: bool = False, force: bool = False,
             notify: Callable[[str], None] | None = None, allow_backing: bool = False) -> dict:
    """Remove exactly what the manifest lists, restoring changed files from their saved copies."""
    facts = preflight(src_path, allow_backing)
    if not in_place and not output:
        raise UsageError("say where to write: --output OUT (a new image), or --in-place --yes")
    out: dict[str, list[str]] = {"removed": [], "restored": [], "left": []}
    with staged_target(facts, output, in_place, force) as staged:
        target = src_path
        if staged is not None:
            copy_image(facts.path, facts.format, staged.path, facts.format)
            target = staged.path
        with GuestSession(facts, notify=notify, writable_path=target) as s:
            report = s.open()
            if report.root_device is None or not s.is_file(MANIFEST):
                raise InjectError("the image has no workbench manifest: nothing to uninject")
            manifest = json.loads(s.read_file(MANIFEST))
            first_root, mounted_first = open_first_partition(s, facts, report.os.first_partition_mountpoint
                                                             if report.os else None)
            entries = manifest.get("entries", [])
            kept: set[str] = set()
            for entry in reversed(entries):
                gpath = entry["path"]
                if gpath.startswith(FIRST):
                    rel = gpath[len(FIRST):]
                    gpath = first_root.rstrip("/") + rel if first_root != "/" else rel
                if not _restore(s, entry, gpath, out):
                    kept.add(entry.get("backup"))
            for entry in entries:  # only the backups this manifest made, and none that could not be put back
                backup = entry.get("backup")
                if backup and backup.startswith(BACKUP_DIR + "/") and backup not in kept:
                    s.remove(backup)
                    _prune_empty(s, posixpath.dirname(backup), BACKUP_DIR)
            s.remove(MANIFEST)
            _prune_empty(s, STATE_DIR, STATE_DIR)
            if mounted_first:
                close_first_partition(s, first_root)
            s.unmount_all()
            s.sync()
        if staged is not None:
            staged.commit()
    return {"output": output or src_path, **out}
