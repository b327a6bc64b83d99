"""Inject the parser (and the chosen fixes) into an image: plan, apply, verify, undo.

The plan is computed from the pulled guest tree, so it can be previewed as per-file
changes before anything is written. Applying writes a copy of the image by default
(a temporary name beside OUT, renamed only after verification); in place only when
asked. Every write is recorded, with the previous content saved inside the image, in
/var/lib/workbench/manifest.json, which makes re-injecting idempotent and uninject exact.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable

from workbench import __version__
from workbench.errors import UsageError, WorkbenchError
from workbench.fixes import Fix, combined_changes
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestReport, GuestSession, Progress
from workbench.image.tree import GuestTree
from workbench.parsers import INSTALL_PATH, build_script, choose_flavor, first_partition_ids

MANIFEST = "/var/lib/workbench/manifest.json"
BACKUP_DIR = "/var/lib/workbench/backup"
UNIT_PATH = "/etc/systemd/system/os-conf.service"
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/os-conf.service"
CONF_DIR = "aliyun_custom_image"
FIRST = "first:"  # paths on the first partition, relative to its root
RC_LEVELS = (2, 3, 4, 5)
SYSTEMD_UNIT = """# written by workbench: runs the os-conf parser early, before the network is configured
[Unit]
Description=Apply the cloud's os.conf (hostname, password, network, DNS)
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=network-pre.target sshd.service ssh.service cloud-init-local.service
Wants=network-pre.target
ConditionPathExists=/etc/init.d/os-conf

[Service]
Type=oneshot
ExecStart=/etc/init.d/os-conf start
ExecReload=/etc/init.d/os-conf reload
RemainAfterExit=yes
TimeoutSec=300

[Install]
WantedBy=multi-user.target
"""
FORMAT_OPTIONS = {"vpc": ["-o", "subformat=dynamic,force_size=on"]}


class InjectError(WorkbenchError):
    """The plan cannot be applied; nothing was written (or what was, was removed)."""


@dataclass
class Write:
    path: str  # guest path, or FIRST + path on the first partition
    kind: str  # file | dir | link | delete
    reason: str
    content: bytes | None = None
    target: str | None = None
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    before: str | None = None  # for the preview
    after: str | None = None

    @property
    def action(self) -> str:
        if self.kind == "delete":
            return "delete"
        return "modify" if self.before is not None else "create"


@dataclass
class InjectionPlan:
    flavor: str
    init: str  # systemd | sysvinit | openrc | unknown
    writes: list[Write]
    first_uuid: str
    first_label: str
    first_mountpoint: str | None
    fixes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    selinux: str | None = None  # the SELinux policy type, when the image enforces or logs SELinux

    def display_path(self, path: str) -> str:
        if path.startswith(FIRST):
            rel = path[len(FIRST):]
            mp = self.first_mountpoint
            return (mp.rstrip("/") + rel) if mp else f"[first partition]{rel}"
        return path

    def changes(self):
        """The plan as the same per-file changes the simulation shows."""
        from workbench.simulate import Change

        out = []
        for w in self.writes:
            after = w.after if w.after is not None else (
                f"-> {w.target}" if w.kind == "link" else None if w.kind in ("dir", "delete") else
                (w.content or b"").decode("utf-8", "replace"))
            out.append(Change(self.display_path(w.path), w.action, w.before, after,
                              "dir" if w.kind == "dir" else "link" if w.kind == "link" else "file"))
        return out

    def to_json(self) -> dict:
        return {"flavor": self.flavor, "init": self.init, "selinux": self.selinux, "fixes": self.fixes,
                "first_partition": {"uuid": self.first_uuid, "label": self.first_label,
                                    "mountpoint": self.first_mountpoint},
                "writes": [{"path": self.display_path(w.path), "action": w.action, "kind": w.kind,
                            "mode": oct(w.mode) if w.kind in ("file", "dir") else None, "reason": w.reason}
                           for w in self.writes],
                "notes": self.notes}


def _init_style(report: GuestReport) -> str:
    init = report.os.init if report.os else None
    tree = report.tree
    if init in ("systemd", "openrc"):
        return init
    if init in ("sysvinit", "upstart", "busybox") and any(tree.is_dir(f"/etc/rc{n}.d") for n in RC_LEVELS):
        return "sysvinit"
    if tree.is_dir("/etc/runlevels"):
        return "openrc"
    if tree.is_dir("/etc/systemd/system"):
        return "systemd"
    if any(tree.is_dir(f"/etc/rc{n}.d") for n in RC_LEVELS):
        return "sysvinit"
    return "unknown"


def selinux_type(tree: GuestTree) -> str | None:
    """The policy type when SELinux is enforcing or permissive in the image (files then need labels)."""
    text = tree.read_text("/etc/selinux/config", 65536) or ""
    mode = re.search(r"^\s*SELINUX\s*=\s*(\w+)", text, re.M)
    kind = re.search(r"^\s*SELINUXTYPE\s*=\s*([\w.-]+)", text, re.M)
    if mode and mode.group(1).lower() in ("enforcing", "permissive"):
        return kind.group(1) if kind else "targeted"
    return None


def build_plan(facts: ImageFacts, report: GuestReport, flavor: str | None = None, script: str | None = None,
               fixes: list[Fix] | None = None, osconf_text: str | None = None) -> InjectionPlan:
    """Every write inject would make, from the pulled tree (nothing is read from or written to the image)."""
    if report is None or report.os is None:
        raise InjectError("no Linux root file system was found in the image, so there is nowhere to install "
                          "the parser")
    if facts.first_partition is None:
        raise InjectError("the image has no first partition for the platform's os.conf (see "
                          "limit.first-partition-fs)")
    tree = report.tree
    uuid, label = first_partition_ids(facts)
    if not uuid and not label:
        raise InjectError("the first partition has neither a UUID nor a label the parser could find it by")
    init = _init_style(report)
    if script is None:
        flavor = flavor or choose_flavor(report.os).flavor
        script = build_script(flavor, uuid, label, "openrc" if init == "openrc" else "lsb")
        name = flavor
    else:
        name = "custom script"
    plan = InjectionPlan(name, init, [], uuid, label, report.os.first_partition_mountpoint,
                         [f.id for f in fixes or []], selinux=selinux_type(tree))

    def current(path: str) -> str | None:
        node = tree.node(path, follow=False)
        if node is None:
            return None
        if node.kind == "link":
            return f"-> {node.target}"
        return tree.read_text(path) if node.kind == "file" else ""

    def add(w: Write) -> None:
        real = tree.resolve(posixpath.dirname(w.path)) if not w.path.startswith(FIRST) else None
        if real:
            w.path = posixpath.join(real, posixpath.basename(w.path))
        if not w.path.startswith(FIRST) and w.before is None:
            w.before = current(w.path)
        plan.writes.append(w)

    add(Write(INSTALL_PATH, "file", "the os-conf parser", script.encode(), mode=0o755))
    if init == "systemd":
        add(Write(UNIT_PATH, "file", "systemd unit", SYSTEMD_UNIT.encode(), mode=0o644))
        add(Write(WANTS_LINK, "link", "enable for multi-user.target", target=UNIT_PATH))
    elif init == "sysvinit":
        for n in RC_LEVELS:
            add(Write(f"/etc/rc{n}.d/S05os-conf", "link", f"start in runlevel {n}", target="../init.d/os-conf"))
    elif init == "openrc":
        add(Write("/etc/runlevels/default/os-conf", "link", "OpenRC default runlevel", target="/etc/init.d/os-conf"))
    else:
        plan.notes.append("the image's init system is unknown: the parser is installed but nothing starts it")
    add(Write(FIRST + "/" + CONF_DIR, "dir", "where the platform writes os.conf", mode=0o755))
    if osconf_text is not None:
        add(Write(FIRST + f"/{CONF_DIR}/os.conf", "file", "os.conf to test with", osconf_text.encode(), mode=0o600))
    for ch in combined_changes(fixes or [], tree) if fixes else []:
        node = tree.node(ch.path, follow=False)
        reason = "fix: " + ", ".join(f.id for f in fixes if any(c.path == ch.path for c in f.changes))
        if ch.action == "delete":
            plan.writes.append(Write(ch.path, "delete", reason, before=ch.before))
        elif ch.kind == "link":
            plan.writes.append(Write(ch.path, "link", reason, target=(ch.after or "-> ")[3:], before=ch.before))
        else:
            mode = node.mode if node is not None else (ch.mode or 0o644)
            uid, gid = (node.uid, node.gid) if node is not None else (0, 0)
            plan.writes.append(Write(ch.path, "file", reason, (ch.after or "").encode(), mode=mode, uid=uid, gid=gid,
                                     before=ch.before))
    if any("/etc/ssh/ssh_host_" in w.path and w.kind == "delete" for w in plan.writes):
        plan.notes.append("host keys are removed: the parser regenerates them at first boot (ssh-keygen -A)")
    if plan.selinux:
        plan.notes.append(f"SELinux ({plan.selinux}) is enabled: written files are labelled with its file contexts")
    return plan


# -- applying -------------------------------------------------------------------------------------------
@dataclass
class VerifyItem:
    path: str
    ok: bool
    detail: str


@dataclass
class InjectResult:
    output: str
    in_place: bool
    plan: InjectionPlan
    written: list[str]
    unchanged: list[str]
    verified: list[VerifyItem]
    labelling: str
    seconds: float

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verified)

    def to_json(self) -> dict:
        return {"schema": "workbench.inject/1", "output": self.output, "in_place": self.in_place,
                "plan": self.plan.to_json(), "written": self.written, "unchanged": self.unchanged,
                "labelling": self.labelling, "verified": [v.__dict__ for v in self.verified], "ok": self.ok,
                "seconds": round(self.seconds, 2)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Writer:
    """Applies writes through a writable session, recording each in the manifest."""

    def __init__(self, session: GuestSession, plan: InjectionPlan, facts: ImageFacts):
        self.s = session
        self.g = session.g
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
        root, self._mounted_first = open_first_partition(self.g, self.facts, self.plan.first_mountpoint)
        return root

    def guest_path(self, path: str) -> str:
        if path.startswith(FIRST):
            rel = path[len(FIRST):]
            return self.first_root.rstrip("/") + rel if self.first_root != "/" else rel
        return path

    def _read_manifest(self) -> dict:
        try:
            if self.g.is_file(MANIFEST):
                return json.loads(self.g.cat(MANIFEST))
        except (RuntimeError, ValueError):
            pass
        return {}

    def _stat(self, path: str):
        st = self.g.lstatns(path)
        return st["st_mode"], st["st_uid"], st["st_gid"]

    def _exists(self, path: str) -> bool:
        try:
            self.g.lstatns(path)
            return True
        except RuntimeError:
            return False

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
                self.g.mkdir_p(posixpath.dirname(backup))
                self.g.write(backup, previous or b"")
                entry["backup"] = backup
            if prev_stat:
                entry["previous_mode"], entry["previous_uid"], entry["previous_gid"] = (
                    oct(prev_stat[0] & 0o7777), prev_stat[1], prev_stat[2])
            if w.kind == "link" and previous is None and prev_stat:
                entry["previous_target"] = None
        self.entries[key] = entry

    def apply(self, w: Write) -> None:
        g = self.g
        path = self.guest_path(w.path)
        exists = self._exists(path)
        prev_stat = self._stat(path) if exists else None
        is_link = exists and (prev_stat[0] & 0o170000) == 0o120000
        is_file = exists and (prev_stat[0] & 0o170000) == 0o100000
        previous = g.read_file(path) if is_file else None
        if w.kind == "file":
            if is_file and previous == w.content and (prev_stat[0] & 0o7777) == w.mode:
                self.unchanged.append(path)
                return
            g.mkdir_p(posixpath.dirname(path))
            if is_link:
                g.rm(path)
            g.write(path, w.content or b"")
            g.chmod(w.mode, path)
            g.chown(w.uid if prev_stat is None else prev_stat[1], w.gid if prev_stat is None else prev_stat[2], path)
            self._record(w, path, "modify" if exists else "create", w.content, previous, prev_stat)
        elif w.kind == "link":
            if is_link and g.readlink(path) == w.target:
                self.unchanged.append(path)
                return
            g.mkdir_p(posixpath.dirname(path))
            if exists:
                g.rm_f(path)
            g.ln_s(w.target, path)
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
            g.rm_f(path)
        self.written.append(path)
        if w.kind != "delete":
            self.labelled.append((path, w.kind))

    def write_manifest(self) -> None:
        doc = {"schema": "workbench.manifest/1", "workbench_version": __version__,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "flavor": self.plan.flavor, "init": self.plan.init, "fixes": self.plan.fixes,
               "first_partition": {"uuid": self.plan.first_uuid, "label": self.plan.first_label},
               "entries": list(self.entries.values())}
        self.g.mkdir_p(posixpath.dirname(MANIFEST))
        self.g.write(MANIFEST, (json.dumps(doc, indent=2) + "\n").encode())
        self.g.chmod(0o600, MANIFEST)

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
                    if not ctx or not self._exists(path) or path in self.expected_labels:
                        continue
                    try:  # the stored value carries its NUL, as setfiles writes it
                        self.g.lsetxattr("security.selinux", ctx, len(ctx.encode()) + 1, path)
                    except RuntimeError:
                        continue  # a file system without xattrs (a FAT first partition): nothing to label
                    self.expected_labels[path] = ctx
                    done += 1
                return f"labelled {done} path(s) from the image's {labeler.spec}"
        how = "is already there"
        if not self._exists("/.autorelabel"):
            self.g.touch("/.autorelabel")
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
            close_first_partition(self.g, self.first_root)


def open_first_partition(g, facts: ImageFacts, mountpoint: str | None, readonly: bool = False) -> tuple[str, bool]:
    """(where the first partition's root is in the mounted guest, whether it was mounted here).

    When the guest does not mount it, it goes over the guest's /tmp (or /mnt): an existing
    directory, so nothing is created in the guest for the purpose.
    """
    if mountpoint:
        return (mountpoint.rstrip("/") or "/"), False
    for spot in ("/tmp", "/mnt", "/media", "/srv"):
        if g.is_dir(spot):
            (g.mount_ro if readonly else g.mount)(facts.first_partition.device, spot)
            return spot, True
    raise InjectError("the first partition is not mounted by the guest and there is no directory to mount it on")


def close_first_partition(g, root: str) -> None:
    try:
        g.umount(root)
    except RuntimeError:
        pass


def _check_output(out: str, force: bool, needed: int) -> None:
    directory = os.path.dirname(os.path.abspath(out)) or "."
    if os.path.exists(out) and not force:
        raise UsageError(f"{out} already exists; nothing was written (use --force to replace it)")
    if os.path.isdir(out):
        raise UsageError(f"{out} is a directory")
    if not os.path.isdir(directory):
        raise UsageError(f"{directory} does not exist; nothing was written")
    st = os.statvfs(directory)
    if st.f_flag & os.ST_RDONLY or not os.access(directory, os.W_OK):
        raise UsageError(f"{directory} is read-only storage; nothing was written")
    free = st.f_bavail * st.f_frsize
    if free < needed:
        raise UsageError(f"{directory} has {free >> 20} MiB free but the output needs about {needed >> 20} MiB; "
                         "nothing was written")


def _partial_name(output: str) -> str:
    """A hidden name beside OUT; partial files of dead workbench processes are removed first."""
    directory = os.path.dirname(os.path.abspath(output))
    prefix = f".{os.path.basename(output)}.wb-partial-"
    for name in os.listdir(directory):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            pid = int(name[len(prefix):])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                try:
                    os.unlink(os.path.join(directory, name))
                except OSError:
                    pass
            except PermissionError:
                pass
    return os.path.join(directory, f"{prefix}{os.getpid()}")


def _copy(src: ImageFacts, dst: str, fmt: str) -> None:
    proc = subprocess.run(["qemu-img", "convert", "-f", src.format, "-O", fmt, *FORMAT_OPTIONS.get(fmt, []),
                           src.path, dst], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InjectError(f"copying the image failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else '?'}")


def verify_mounted(g, written: ImageFacts, plan: InjectionPlan, labels: dict[str, str] | None = None
                   ) -> list[VerifyItem]:
    """Check every planned write in the guest as mounted (read-only) in g."""
    items: list[VerifyItem] = []
    first_root, mounted = open_first_partition(g, written, plan.first_mountpoint, readonly=True)
    fat_first = (written.first_partition.fs.kind or "").startswith("fat")
    for w in plan.writes:
        gpath = w.path
        if w.path.startswith(FIRST):
            gpath = (first_root.rstrip("/") + w.path[len(FIRST):]) if first_root != "/" else w.path[len(FIRST):]
        shown = plan.display_path(w.path)
        try:
            if w.kind == "file":
                st = g.lstatns(gpath)
                data = g.read_file(gpath)
                modeless = fat_first and w.path.startswith(FIRST)  # FAT keeps no Unix modes
                ok = data == w.content and (modeless or (st["st_mode"] & 0o7777) == w.mode)
                mode = "no modes on FAT" if modeless else f"mode {st['st_mode'] & 0o7777:o}"
                items.append(VerifyItem(shown, ok, f"content sha256 {_sha(data)[:12]}, {mode}"
                                        + ("" if ok else f" (expected {_sha(w.content or b'')[:12]}, {w.mode:o})")))
            elif w.kind == "link":
                target = g.readlink(gpath)
                items.append(VerifyItem(shown, target == w.target, f"link to {target}"))
            elif w.kind == "dir":
                ok = g.is_dir(gpath)
                items.append(VerifyItem(shown, ok, "directory present" if ok else "directory missing"))
            elif w.kind == "delete":
                gone = not g.exists(gpath)
                items.append(VerifyItem(shown, gone, "removed" if gone else "still present"))
        except RuntimeError as e:
            items.append(VerifyItem(shown, w.kind == "delete", f"not found ({str(e).splitlines()[0][:120]})"))
    for gpath, ctx in (labels or {}).items():
        try:
            got = g.lgetxattr(gpath, "security.selinux").rstrip(b"\0").decode("ascii", "replace")
        except RuntimeError:
            got = None
        items.append(VerifyItem(f"{gpath} (SELinux label)", got == ctx, f"labelled {got}"
                                + ("" if got == ctx else f", expected {ctx}")))
    try:
        manifest = json.loads(g.cat(MANIFEST))
        items.append(VerifyItem(MANIFEST, manifest.get("schema") == "workbench.manifest/1",
                                f"{len(manifest.get('entries', []))} entries"))
    except (RuntimeError, ValueError) as e:
        items.append(VerifyItem(MANIFEST, False, f"unreadable ({e})"))
    if mounted:
        close_first_partition(g, first_root)
    return items


def inject(src_path: str, output: str | None = None, in_place: bool = False, force: bool = False,
           flavor: str | None = None, script: str | None = None, fix_ids: tuple[str, ...] = (),
           osconf_text: str | None = None, output_format: str | None = None,
           progress: Callable[[Progress], None] | None = None, notify: Callable[[str], None] | None = None,
           plan_only: bool = False) -> InjectResult | InjectionPlan:
    """Write the parser (and the chosen fixes) into a new image, or in place; verify; rename into place."""
    started = time.monotonic()
    progress = progress or (lambda p: None)
    facts = preflight(src_path)
    if not in_place and not output and not plan_only:
        raise UsageError("say where to write: --output OUT (a new image), or --in-place --yes")
    fmt = output_format or facts.format
    tmp = None
    target = src_path
    if not plan_only and not in_place:
        if os.path.abspath(output) == os.path.abspath(src_path):
            raise UsageError("--output is the source image; use --in-place --yes to write into it")
        _check_output(output, force, int((facts.actual_size or facts.virtual_size) * 1.1) + (64 << 20))
        tmp = _partial_name(output)
    try:
        if tmp:
            progress(Progress("Copying the image", None))
            _copy(facts, tmp, fmt)
            target = tmp
        work_facts = ImageFacts(**{**facts.__dict__, "format": fmt if tmp else facts.format})
        with GuestSession(work_facts, progress, notify, writable_path=None if plan_only else target) as s:
            report = s.open(pull="all" if fix_ids else "system")
            from workbench.checks import Context, run_checks
            from workbench.fixes import build_fixes

            fixes: list[Fix] = []
            idle: list[str] = []
            if fix_ids:
                from workbench.fixes import FIX_TITLES

                unknown = [f for f in fix_ids if f not in FIX_TITLES]
                if unknown:
                    raise UsageError(f"{unknown[0]} is not a fix the workbench knows (known: {', '.join(FIX_TITLES)})")
                results = run_checks(Context(work_facts, report))
                available = {f.id: f for f in build_fixes(results, report.tree)}
                fixes = [available[f] for f in fix_ids if f in available]
                idle = [f for f in fix_ids if f not in available]
            plan = build_plan(work_facts, report, flavor, script, fixes, osconf_text)
            plan.notes += [f"{f}: nothing to do, no check offers it for this image (already applied?)" for f in idle]
            if plan_only:
                return plan
            progress(Progress("Writing", None))
            writer = _Writer(s, plan, work_facts)
            try:
                for w in plan.writes:
                    writer.apply(w)
                writer.write_manifest()
                labelling = writer.label(report.tree)
                writer.write_manifest()  # again: the relabel fallback may have added /.autorelabel
            finally:
                writer.close()
            # verify what reached the disk: unmount, flush, drop the guest's caches, mount read-only, read back
            progress(Progress("Verifying", None))
            s.remount_readonly(report.mounts)
            items = verify_mounted(s.g, work_facts, plan, writer.expected_labels)
            s.g.umount_all()
            s.g.shutdown()
        result = InjectResult(output or src_path, in_place, plan, writer.written, writer.unchanged, items,
                              labelling, 0.0)
        if not result.ok:
            bad = next(v for v in items if not v.ok)
            raise InjectError(f"verification failed for {bad.path}: {bad.detail}; "
                              + ("the output was not created" if tmp else "the image was written in place"))
        if tmp:
            if os.path.exists(output) and not force:
                raise UsageError(f"{output} appeared while writing; nothing was written")
            os.replace(tmp, output)
            tmp = None
        result.seconds = time.monotonic() - started
        progress(Progress("Done", 1.0))
        return result
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def uninject(src_path: str, output: str | None = None, in_place: bool = False, force: bool = False,
             notify: Callable[[str], None] | None = None) -> dict:
    """Remove exactly what the manifest lists, restoring changed files from their saved copies."""
    facts = preflight(src_path)
    if not in_place and not output:
        raise UsageError("say where to write: --output OUT (a new image), or --in-place --yes")
    tmp = None
    target = src_path
    if not in_place:
        _check_output(output, force, int((facts.actual_size or facts.virtual_size) * 1.1) + (64 << 20))
        tmp = _partial_name(output)
    removed, restored = [], []
    try:
        if tmp:
            _copy(facts, tmp, facts.format)
            target = tmp
        with GuestSession(facts, notify=notify, writable_path=target) as s:
            report = s.open()
            g = s.g
            if report.root_device is None or not g.is_file(MANIFEST):
                raise InjectError("the image has no workbench manifest: nothing to uninject")
            manifest = json.loads(g.cat(MANIFEST))
            first_root, mounted_first = open_first_partition(g, facts, report.os.first_partition_mountpoint
                                                             if report.os else None)
            for entry in reversed(manifest.get("entries", [])):
                gpath = entry["path"]
                if gpath.startswith(FIRST):
                    rel = gpath[len(FIRST):]
                    gpath = first_root.rstrip("/") + rel if first_root != "/" else rel
                action = entry.get("action")
                if action == "create":
                    if entry["kind"] == "dir":
                        if g.is_dir(gpath) and not g.ls(gpath):
                            g.rmdir(gpath)
                            removed.append(gpath)
                    elif g.exists(gpath) or _is_link(g, gpath):
                        g.rm_f(gpath)
                        removed.append(gpath)
                elif action in ("modify", "delete"):
                    if entry.get("previous_target"):
                        g.rm_f(gpath)
                        g.ln_s(entry["previous_target"], gpath)
                    elif entry.get("backup"):
                        g.rm_f(gpath)
                        g.write(gpath, g.read_file(entry["backup"]))
                        if entry.get("previous_mode"):
                            g.chmod(int(entry["previous_mode"], 8), gpath)
                            g.chown(entry.get("previous_uid", 0), entry.get("previous_gid", 0), gpath)
                    restored.append(gpath)
            g.rm_rf(BACKUP_DIR)
            g.rm_f(MANIFEST)
            if g.is_dir("/var/lib/workbench") and not g.ls("/var/lib/workbench"):
                g.rmdir("/var/lib/workbench")
            if mounted_first:
                close_first_partition(g, first_root)
            g.umount_all()
            g.sync()
        if tmp:
            os.replace(tmp, output)
            tmp = None
        return {"output": output or src_path, "removed": removed, "restored": restored}
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def _is_link(g, path: str) -> bool:
    try:
        return (g.lstatns(path)["st_mode"] & 0o170000) == 0o120000
    except RuntimeError:
        return False


__all__ = ["InjectionPlan", "InjectResult", "build_plan", "inject", "uninject", "verify_mounted"]
