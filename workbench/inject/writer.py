"""Applying an injection plan through a writable session, journaled in the manifest.

Shared by inject and the boot rehearsal (apply_plan). The manifest keeps what each
path held before the first workbench write, with the previous content saved inside
the image, and is written before the first change, so that re-injecting is idempotent,
an interrupted run can be undone, and uninject is exact. Backups are never written over
a file the manifest does not list as its own.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import time
from typing import Callable

from workbench import __version__
from workbench.image.preflight import ImageFacts
from workbench.image.guestfiles import S_IFLNK, S_IFMT, S_IFREG
from workbench.image.session import MANIFEST, GuestSession
from workbench.image.tree import GuestTree
from workbench.changes import Change
from workbench.inject.plan import FIRST, InjectError, InjectionPlan
from workbench.interrupt import deferred

BACKUP_DIR = "/var/lib/workbench/backup"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Writer:
    """Applies writes through a writable session as a journal: prepare() saves what every path holds and writes
    the manifest (state "writing") before the first change; apply() makes one write; finish() marks the manifest
    "complete". An interrupted run leaves a manifest that uninject restores from exactly."""

    def __init__(self, session: GuestSession, plan: InjectionPlan, facts: ImageFacts):
        self.s = session
        self.plan = plan
        self.facts = facts
        self.first_root = self._first_root()
        self.manifest = self._read_manifest()
        self.entries = {e["path"]: e for e in self.manifest.get("entries", []) if isinstance(e, dict) and "path" in e}
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self.labelled: list[tuple[str, str]] = []  # (guest path, kind) of what was created or rewritten
        self.expected_labels: dict[str, str] = {}
        self.commands: list[dict] = list(self.manifest.get("commands", []))  # what ran, with its output

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
                doc = json.loads(self.s.read_file(MANIFEST))
                return doc if isinstance(doc, dict) else {}
        except (RuntimeError, ValueError):
            pass
        return {}

    # -- the journal ------------------------------------------------------------------------------------------
    def _backup_name(self, gpath: str) -> str:
        """Where to save a path's previous content: never over a file this manifest does not list as ours."""
        ours = {e.get("backup") for e in self.entries.values()}
        base = BACKUP_DIR + (gpath if gpath.startswith("/") else "/" + gpath)
        name, n = base, 0
        while self.s.exists(name) and name not in ours:
            n += 1
            name = f"{base}.{n}"
        return name

    def _journal(self, w: Change) -> None:
        """Record what w's path holds now (its content saved in the image), unless an earlier inject did."""
        if w.path in self.entries:
            return  # written before by workbench: what was there originally is already kept
        gpath = self.guest_path(w.path)
        st = self.s.lstat(gpath)
        delete = w.action == "delete"
        entry = {"path": w.path, "guest_path": gpath, "kind": "delete" if delete else w.kind, "reason": w.reason,
                 "action": "delete" if delete else ("modify" if st else "create"),
                 "previous_sha256": None, "backup": None, "target": w.target,
                 "mode": oct(w.file_mode) if w.kind in ("file", "dir") and not delete else None, "sha256": None}
        if st is not None:
            entry["previous_mode"], entry["previous_uid"], entry["previous_gid"] = oct(st[0] & 0o7777), st[1], st[2]
            if (st[0] & S_IFMT) == S_IFLNK:
                entry["previous_target"] = self.s.readlink(gpath)
            elif (st[0] & S_IFMT) == S_IFREG:
                previous = self.s.read_file(gpath)
                entry["previous_sha256"] = _sha(previous)
                backup = self._backup_name(gpath)
                self.s.mkdir_p(posixpath.dirname(backup))
                self.s.write_file(backup, previous)
                self.s.chmod(0o600, backup)
                entry["backup"] = backup
        self.entries[w.path] = entry

    def _replaced(self) -> list[Change]:
        """The files the plan's commands rewrite, as writes to journal (their originals saved like any other)."""
        out = []
        for fix_id, cmd in self.plan.commands:
            out += [Change(p, "modify", reason=f"replaced by {cmd.argv[0]} ({fix_id})") for p in cmd.replaces]
        return out

    def prepare(self) -> None:
        """Before any change: every original saved, the manifest written (state "writing") and synced."""
        for w in self.plan.writes + self._replaced():
            self._journal(w)
        self.write_manifest("writing")

    def run(self, fix_id: str, cmd) -> None:
        """One command of the image, inside the appliance; its output kept in the manifest."""
        try:
            output = self.s.command(cmd.argv)
            ok = True
        except RuntimeError as e:
            output, ok = str(e), False
        self.commands.append({"fix": fix_id, "argv": list(cmd.argv), "ok": ok, "output": output[-8192:]})
        if not ok:
            first = next((ln for ln in output.splitlines() if ln.strip()), "no output")[:300]
            raise InjectError(f"{cmd.shown()} failed in the appliance ({first}); what was written so far is in the "
                              "manifest (uninject restores it)")
        for path in cmd.replaces:
            self.written.append(path)
            self.labelled.append((path, "file"))

    def finish(self) -> None:
        self.write_manifest("complete")

    # -- one write ----------------------------------------------------------------------------------------------
    def apply(self, w: Change) -> None:
        g = self.s
        path = self.guest_path(w.path)
        prev_stat = g.lstat(path)
        exists = prev_stat is not None
        is_link = exists and (prev_stat[0] & S_IFMT) == S_IFLNK
        is_file = exists and (prev_stat[0] & S_IFMT) == S_IFREG
        if w.action == "delete":
            if not exists:
                self._done(w, path, None, changed=False)
                return
            g.remove(path)
            self._done(w, path, None)
        elif w.kind == "file":
            if is_file and (prev_stat[0] & 0o7777) == w.file_mode and g.read_file(path) == w.content:
                self._done(w, path, w.content, changed=False)
                return
            g.mkdir_p(posixpath.dirname(path))
            if is_link:
                g.remove(path)
            g.write_file(path, w.content)
            g.chmod(w.file_mode, path)
            g.chown(w.uid if prev_stat is None else prev_stat[1], w.gid if prev_stat is None else prev_stat[2], path)
            self._done(w, path, w.content)
        elif w.kind == "link":
            if is_link and g.readlink(path) == w.target:
                self._done(w, path, None, changed=False)
                return
            g.mkdir_p(posixpath.dirname(path))
            if exists:
                g.remove(path)
            g.symlink(w.target, path)
            self._done(w, path, None)
        elif w.kind == "dir":
            if exists:
                self._done(w, path, None, changed=False)
                return
            g.mkdir_p(path)
            g.chmod(w.file_mode, path)
            self._done(w, path, None)

    def _done(self, w: Change, path: str, new: bytes | None, changed: bool = True) -> None:
        entry = self.entries.get(w.path)
        if entry is not None and new is not None:
            entry["sha256"] = _sha(new)
        (self.written if changed else self.unchanged).append(path)
        if changed and w.action != "delete":
            self.labelled.append((path, w.kind))

    def write_manifest(self, state: str = "complete") -> None:
        doc = {"schema": "workbench.manifest/1", "workbench_version": __version__, "state": state,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "flavor": self.plan.flavor, "init": self.plan.init, "fixes": self.plan.fixes,
               "first_partition": {"uuid": self.plan.first_uuid, "label": self.plan.first_label},
               "entries": list(self.entries.values()), "commands": self.commands}
        self.s.mkdir_p(posixpath.dirname(MANIFEST))
        self.s.write_file(MANIFEST, (json.dumps(doc, indent=2) + "\n").encode())
        self.s.chmod(0o600, MANIFEST)
        self.s.sync()

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


def apply_plan(session: GuestSession, plan: InjectionPlan, facts: ImageFacts, tree: GuestTree,
               on_command: Callable[[str], None] | None = None) -> tuple[Writer, str]:
    """Every write of the plan as a journal (see Writer), then the SELinux labels: (the writer, how labelling went).

    ^C or SIGTERM waits for the step under way (saving the originals, one write, the manifest) and then stops
    the run: what was written is listed in the manifest, whose state says it did not finish. A command (minutes,
    without KVM) is not waited for: the signal kills the appliance, and the manifest says "writing" still.
    on_command is told each command before it runs."""
    writer = Writer(session, plan, facts)
    try:
        with deferred():
            writer.prepare()
        for w in plan.writes:
            with deferred():
                writer.apply(w)
        for fix_id, cmd in plan.commands:
            if on_command:
                on_command(cmd.shown())
            writer.run(fix_id, cmd)
        with deferred():
            labelling = writer.label(tree)
            writer.finish()
    finally:
        writer.close()
    return writer, labelling
