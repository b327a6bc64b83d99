"""Applying an injection plan through a writable session, recording every write in the manifest.

Shared by inject and the boot rehearsal (apply_plan). The manifest keeps what each
path held before the first workbench write, with the previous content saved inside
the image, so that re-injecting is idempotent and uninject is exact.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import time

from workbench import __version__
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestSession
from workbench.image.tree import GuestTree
from workbench.inject.plan import FIRST, InjectError, InjectionPlan, Write

MANIFEST = "/var/lib/workbench/manifest.json"
BACKUP_DIR = "/var/lib/workbench/backup"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Writer:
    """Applies writes through a writable session, recording each in the manifest."""

    def __init__(self, session: GuestSession, plan: InjectionPlan, facts: ImageFacts):
        self.s = session
        self.plan = plan
        self.facts = facts
        self.first_root = self._first_root()
        self.manifest = self._read_manifest()
        self.entries = {e["path"]: e for e in self.manifest.get("entries", [])}
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self.labelled: list[tuple[str, str]] = []  # (guest path, kind) of what was created or rewritten
        self.expected_labels: dict[str, str] = {}

    def _first_root(self) -> str:
        root, self._mounted_first = open_first_partition(self.s, self.facts, self.plan.first_mountpoint)
        return root

    def guest_path(self, path: str) -> str:
        if path.startswith(FIRST):
            rel = path[len(FIRST):]
            return self.first_root.rstrip("/") + rel if self.first_root != "/" else rel
        return path

    def _read_manifest(self) -> dict:
        try:
            if self.s.is_file(MANIFEST):
                return json.loads(self.s.read_file(MANIFEST))
        except (RuntimeError, ValueError):
            pass
        return {}

    def _record(self, w: Write, gpath: str, action: str, new: bytes | None, previous: bytes | None, prev_stat) -> None:
        key = w.path
        old = self.entries.get(key)
        entry = {"path": key, "guest_path": gpath, "kind": w.kind, "reason": w.reason,
                 "sha256": _sha(new) if new is not None else None,
                 "target": w.target, "mode": oct(w.mode) if w.kind in ("file", "dir") else None}
        if old is not None:  # written before by workbench: keep what was there originally
            entry.update({k: old.get(k) for k in ("action", "previous_sha256", "backup", "previous_mode",
                                                  "previous_uid", "previous_gid", "previous_target")})
        else:
            entry["action"] = action
            entry["previous_sha256"] = _sha(previous) if previous is not None else None
            entry["backup"] = None
            if previous is not None or (prev_stat and w.kind == "delete"):
                backup = BACKUP_DIR + (gpath if gpath.startswith("/") else "/" + gpath)
                self.s.mkdir_p(posixpath.dirname(backup))
                self.s.write_file(backup, previous or b"")
                entry["backup"] = backup
            if prev_stat:
                entry["previous_mode"], entry["previous_uid"], entry["previous_gid"] = (
                    oct(prev_stat[0] & 0o7777), prev_stat[1], prev_stat[2])
            if w.kind == "link" and previous is None and prev_stat:
                entry["previous_target"] = None
        self.entries[key] = entry

    def apply(self, w: Write) -> None:
        g = self.s
        path = self.guest_path(w.path)
        prev_stat = g.lstat(path)
        exists = prev_stat is not None
        is_link = exists and (prev_stat[0] & 0o170000) == 0o120000
        is_file = exists and (prev_stat[0] & 0o170000) == 0o100000
        previous = g.read_file(path) if is_file else None
        if w.kind == "file":
            if is_file and previous == w.content and (prev_stat[0] & 0o7777) == w.mode:
                self.unchanged.append(path)
                return
            g.mkdir_p(posixpath.dirname(path))
            if is_link:
                g.remove(path)
            g.write_file(path, w.content or b"")
            g.chmod(w.mode, path)
            g.chown(w.uid if prev_stat is None else prev_stat[1], w.gid if prev_stat is None else prev_stat[2], path)
            self._record(w, path, "modify" if exists else "create", w.content, previous, prev_stat)
        elif w.kind == "link":
            if is_link and g.readlink(path) == w.target:
                self.unchanged.append(path)
                return
            g.mkdir_p(posixpath.dirname(path))
            if exists:
                g.remove(path)
            g.symlink(w.target, path)
            self._record(w, path, "modify" if exists else "create", None, previous, prev_stat)
        elif w.kind == "dir":
            if exists:
                self.unchanged.append(path)
                return
            g.mkdir_p(path)
            g.chmod(w.mode, path)
            self._record(w, path, "create", None, None, None)
        elif w.kind == "delete":
            if not exists:
                self.unchanged.append(path)
                return
            if is_link:
                self._record(w, path, "delete", None, None, prev_stat)
                self.entries[w.path]["previous_target"] = g.readlink(path)
            else:
                self._record(w, path, "delete", None, previous, prev_stat)
            g.remove(path)
        self.written.append(path)
        if w.kind != "delete":
            self.labelled.append((path, w.kind))

    def write_manifest(self) -> None:
        doc = {"schema": "workbench.manifest/1", "workbench_version": __version__,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "flavor": self.plan.flavor, "init": self.plan.init, "fixes": self.plan.fixes,
               "first_partition": {"uuid": self.plan.first_uuid, "label": self.plan.first_label},
               "entries": list(self.entries.values())}
        self.s.mkdir_p(posixpath.dirname(MANIFEST))
        self.s.write_file(MANIFEST, (json.dumps(doc, indent=2) + "\n").encode())
        self.s.chmod(0o600, MANIFEST)

    def label(self, tree: GuestTree) -> str:
        """SELinux labels for what was written, from the image's own file_contexts; /.autorelabel otherwise."""
        from workbench.selinux import Labeler

        kind = self.plan.selinux
        if not kind:
            return "not needed (SELinux is not enabled in the image)"
        targets = list(self.labelled) + [("/var/lib/workbench", "dir"), (MANIFEST, "file")]
        targets += [(e["backup"], "file") for e in self.entries.values() if e.get("backup")]
        with Labeler(tree, kind) as labeler:
            if labeler is not None:
                done = 0
                for path, k in targets:
                    ctx = labeler.context(path, k)
                    if not ctx or not self.s.exists(path) or path in self.expected_labels:
                        continue
                    if not self.s.set_selinux_label(path, ctx):
                        continue  # a file system without xattrs (a FAT first partition): nothing to label
                    self.expected_labels[path] = ctx
                    done += 1
                return f"labelled {done} path(s) from the image's {labeler.spec}"
        how = "is already there"
        if not self.s.exists("/.autorelabel"):
            self.s.touch("/.autorelabel")
            how = "was created"
            if "/.autorelabel" not in self.entries:
                self.entries["/.autorelabel"] = {"path": "/.autorelabel", "guest_path": "/.autorelabel",
                                                 "kind": "file", "reason": "SELinux relabel at first boot",
                                                 "action": "create", "sha256": _sha(b""), "previous_sha256": None,
                                                 "backup": None}
        return (f"the image's {kind} file contexts could not be read here; /.autorelabel {how}, so the first boot "
                "relabels the file system (slower once)")

    def close(self) -> None:
        if self._mounted_first:
            close_first_partition(self.s, self.first_root)


def open_first_partition(s, facts: ImageFacts, mountpoint: str | None, readonly: bool = False) -> tuple[str, bool]:
    """(where the first partition's root is in the mounted guest, whether it was mounted here).

    When the guest does not mount it, it goes over the guest's /tmp (or /mnt): an existing
    directory, so nothing is created in the guest for the purpose.
    """
    if mountpoint:
        return (mountpoint.rstrip("/") or "/"), False
    for spot in ("/tmp", "/mnt", "/media", "/srv"):
        if s.is_dir(spot):
            s.mount(facts.first_partition.device, spot, readonly)
            return spot, True
    raise InjectError("the first partition is not mounted by the guest and there is no directory to mount it on")


def close_first_partition(s, root: str) -> None:
    s.unmount(root)


def apply_plan(session: GuestSession, plan: InjectionPlan, facts: ImageFacts, tree: GuestTree) -> tuple[Writer, str]:
    """Every write of the plan, the manifest and the SELinux labels: (the writer, how labelling went)."""
    writer = Writer(session, plan, facts)
    try:
        for w in plan.writes:
            writer.apply(w)
        writer.write_manifest()
        labelling = writer.label(tree)
        writer.write_manifest()  # again: the relabel fallback may have added /.autorelabel
    finally:
        writer.close()
    return writer, labelling
