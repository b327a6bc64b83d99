"""uninject: remove exactly what the manifest lists, restoring changed files from their saved copies."""

from __future__ import annotations

import json
import posixpath
from typing import Callable

from workbench.errors import UsageError
from workbench.image.preflight import preflight
from workbench.image.session import GuestSession
from workbench.inject.plan import FIRST, InjectError
from workbench.inject.run import staged_target
from workbench.inject.writer import BACKUP_DIR, MANIFEST, close_first_partition, open_first_partition
from workbench.staging import copy_image

STATE_DIR = posixpath.dirname(MANIFEST)


def _restore(s: GuestSession, entry: dict, gpath: str, removed: list[str], restored: list[str]) -> None:
    action = entry.get("action")
    if action == "create":
        if entry["kind"] == "dir":
            if s.is_dir(gpath) and not s.listdir(gpath):
                s.rmdir(gpath)
                removed.append(gpath)
        elif s.exists(gpath):
            s.remove(gpath)
            removed.append(gpath)
    elif action in ("modify", "delete"):
        if entry.get("previous_target"):
            s.remove(gpath)
            s.symlink(entry["previous_target"], gpath)
        elif entry.get("backup"):
            s.remove(gpath)
            s.write_file(gpath, s.read_file(entry["backup"]))
            if entry.get("previous_mode"):
                s.chmod(int(entry["previous_mode"], 8), gpath)
                s.chown(entry.get("previous_uid", 0), entry.get("previous_gid", 0), gpath)
        restored.append(gpath)


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
    removed: list[str] = []
    restored: list[str] = []
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
            for entry in reversed(entries):
                gpath = entry["path"]
                if gpath.startswith(FIRST):
                    rel = gpath[len(FIRST):]
                    gpath = first_root.rstrip("/") + rel if first_root != "/" else rel
                _restore(s, entry, gpath, removed, restored)
            for entry in entries:  # only the backups this manifest made
                backup = entry.get("backup")
                if backup and backup.startswith(BACKUP_DIR + "/"):
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
    return {"output": output or src_path, "removed": removed, "restored": restored}
