"""The injection plan: every write inject would make, computed from the pulled tree, previewable as changes.

Nothing here reads from or writes to the image.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field, replace

from workbench.changes import Change, dir_write, file_write
from workbench.errors import WorkbenchError
from workbench.fixes import Fix, FixCommand, combine
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestReport
from workbench.image.tree import GuestTree
from workbench.inits import INSTALL_PATH, STYLES, init_name
from workbench.parsers import ParserScript

CONF_DIR = "aliyun_custom_image"
FIRST = "first:"  # paths on the first partition, relative to its root
NOTHING_WRITTEN = "Nothing was written"


class InjectError(WorkbenchError):
    """The plan cannot be applied; nothing was written (or what was, was removed)."""

    title = "The image could not be written"


@dataclass
class InjectionPlan:
    flavor: str
    init: str  # an init style (inits.STYLES) or unknown
    writes: list[Change]
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

    def shown(self) -> list[Change]:
        """The writes as the views show them: paths on the first partition where the guest mounts it."""
        return [replace(w, path=self.display_path(w.path)) for w in self.writes]

    def to_json(self) -> dict:
        return {"flavor": self.flavor, "init": self.init, "selinux": self.selinux, "fixes": self.fixes,
                "first_partition": {"uuid": self.first_uuid, "label": self.first_label,
                                    "mountpoint": self.first_mountpoint},
                "writes": [{"path": self.display_path(w.path), "action": w.action,
                            "kind": "delete" if w.action == "delete" else w.kind,
                            "mode": oct(w.file_mode) if w.kind in ("file", "dir") and w.action != "delete" else None,
                            "reason": w.reason}
                           for w in self.writes],
                "commands": [{"fix": fix_id, **cmd.to_json()} for fix_id, cmd in self.commands],
                "notes": self.notes}

    def command_text(self, cmd: FixCommand) -> str:
        """What the preview shows of a command: what runs, in the appliance, and what it replaces."""
        return (f"runs inside the appliance (in the image, chrooted; never on this host):\n  {cmd.shown()}\n"
                f"because {cmd.why}\nreplaces (the old copies are kept for uninject):\n"
                + "".join(f"  {p}\n" for p in cmd.replaces))


def selinux_type(tree: GuestTree) -> str | None:
    """The policy type when SELinux is enforcing or permissive in the image (files then need labels)."""
    text = tree.read_text("/etc/selinux/config", 65536) or ""
    mode = re.search(r"^\s*SELINUX\s*=\s*(\w+)", text, re.M)
    kind = re.search(r"^\s*SELINUXTYPE\s*=\s*([\w.-]+)", text, re.M)
    if mode and mode.group(1).lower() in ("enforcing", "permissive"):
        return kind.group(1) if kind else "targeted"
    return None


def build_plan(facts: ImageFacts, report: GuestReport, script: ParserScript, fixes: list[Fix] | None = None,
               osconf_text: str | None = None) -> InjectionPlan:
    """Every write inject would make, from the pulled tree (nothing is read from or written to the image).

    script: parsers.script_for (the same text the simulation runs); fixes: the chosen Fix objects, as the review
    built them (nothing is checked again)."""
    if report is None or report.os is None:
        raise InjectError("no Linux root file system was found in the image, so there is nowhere to install "
                          "the parser", title=NOTHING_WRITTEN)
    if facts.first_partition is None:
        raise InjectError("the image has no first partition for the platform's os.conf (see "
                          "limit.first-partition-fs)", title=NOTHING_WRITTEN)
    if not script.first_uuid and not script.first_label:
        raise InjectError("the first partition has neither a UUID nor a label the parser could find it by", title=NOTHING_WRITTEN)
    tree = report.tree
    fixes = fixes or []
    plan = InjectionPlan(script.name, script.init, [], script.first_uuid, script.first_label,
                         report.os.first_partition_mountpoint, [f.id for f in fixes], selinux=selinux_type(tree))

    def current(path: str) -> str | None:
        node = tree.node(path, follow=False)
        if node is None:
            return None
        if node.kind == "link":
            return f"-> {node.target}"
        return tree.read_text(path) if node.kind == "file" else ""

    def add(w: Change) -> None:
        real = tree.resolve(posixpath.dirname(w.path)) if not w.path.startswith(FIRST) else None
        if real:
            w.path = posixpath.join(real, posixpath.basename(w.path))
        if not w.path.startswith(FIRST) and w.before is None:
            w.before = current(w.path)
            w.action = "modify" if w.before is not None else "create"
        plan.writes.append(w)

    if script.init not in STYLES:  # never a script nothing starts (boot.init says why)
        raise InjectError(f"the image's init system is {init_name(report.os.init, tree)}, which the workbench cannot "
                          "register the parser with (boot.init): nothing would start it at first boot",
                          title=NOTHING_WRITTEN)
    add(file_write(INSTALL_PATH, script.text.encode(), "the os-conf parser", 0o755))
    for w in STYLES[script.init].register(tree):
        add(w)
    add(dir_write(FIRST + "/" + CONF_DIR, "where the platform writes os.conf"))
    if osconf_text is not None:
        add(file_write(FIRST + f"/{CONF_DIR}/os.conf", osconf_text.encode(), "os.conf to test with", 0o600))
    changes, plan.commands = combine(fixes, tree)
    for ch in changes:
        node = tree.node(ch.path, follow=False)
        ch.reason = "fix: " + ", ".join(f.id for f in fixes if any(c.path == ch.path for c in f.changes))
        if ch.action != "delete" and ch.kind == "file":
            ch.mode = node.mode if node is not None else (ch.mode or 0o644)
            ch.uid, ch.gid = (node.uid, node.gid) if node is not None else (0, 0)
        plan.writes.append(ch)
    if any("/etc/ssh/ssh_host_" in w.path and w.action == "delete" for w in plan.writes):
        plan.notes.append("host keys are removed: the parser regenerates them at first boot (ssh-keygen -A)")
    if plan.selinux:
        plan.notes.append(f"SELinux ({plan.selinux}) is enabled: written files are labelled with its file contexts")
    return plan
