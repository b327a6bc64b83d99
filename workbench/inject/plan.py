"""The injection plan: every write inject would make, computed from the pulled tree, previewable as changes.

Nothing here reads from or writes to the image.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from workbench.errors import WorkbenchError
from workbench.fixes import Fix, FixCommand, combined_changes, combined_commands
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestReport
from workbench.image.tree import GuestTree
from workbench.parsers import INSTALL_PATH, build_script, choose_flavor, first_partition_ids
from workbench.paths import assets_dir

UNIT_PATH = "/etc/systemd/system/os-conf.service"
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/os-conf.service"
CONF_DIR = "aliyun_custom_image"
FIRST = "first:"  # paths on the first partition, relative to its root
RC_LEVELS = (2, 3, 4, 5)


def systemd_unit() -> str:
    """The unit that starts the parser early, before the network is configured (assets/templates)."""
    return (assets_dir() / "templates" / "os-conf.service").read_text(encoding="utf-8")


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
    commands: list[tuple[str, FixCommand]] = field(default_factory=list)  # (fix id, command), run after the writes

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
                "commands": [{"fix": fix_id, **cmd.to_json()} for fix_id, cmd in self.commands],
                "notes": self.notes}

    def command_text(self, cmd: FixCommand) -> str:
        """What the preview shows of a command: what runs, in the appliance, and what it replaces."""
        return (f"runs inside the appliance (in the image, chrooted; never on this host):\n  {cmd.shown()}\n"
                f"because {cmd.why}\nreplaces (the old copies are kept for uninject):\n"
                + "".join(f"  {p}\n" for p in cmd.replaces))


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
        add(Write(UNIT_PATH, "file", "systemd unit", systemd_unit().encode(), mode=0o644))
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
    plan.commands = combined_commands(fixes, tree) if fixes else []
    if any("/etc/ssh/ssh_host_" in w.path and w.kind == "delete" for w in plan.writes):
        plan.notes.append("host keys are removed: the parser regenerates them at first boot (ssh-keygen -A)")
    if plan.selinux:
        plan.notes.append(f"SELinux ({plan.selinux}) is enabled: written files are labelled with its file contexts")
    return plan
