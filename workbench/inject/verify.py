"""Verification: every planned write read back from the image as written (caches dropped, read-only)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from workbench.fixes import FixCommand
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestSession
from workbench.inject.plan import FIRST, InjectionPlan
from workbench.inject.writer import MANIFEST, close_first_partition, open_first_partition


@dataclass
class VerifyItem:
    path: str
    ok: bool
    detail: str


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_command(s: GuestSession, cmd: FixCommand) -> VerifyItem:
    """What a command rebuilt is there and does what it was run for: an initramfs read back on the host with the
    modules asked for; a bootloader configuration whose default entry loads an installed kernel, with the words."""
    shown = f"{cmd.shown()} (ran in the appliance)"
    for path in cmd.replaces:
        if not s.is_file(path) or s.filesize(path) == 0:
            return VerifyItem(shown, False, f"{path} is missing or empty afterwards")
    if "initramfs" in cmd.verify:
        from workbench.image.bootinfo import KernelFacts, _initramfs

        k = KernelFacts(cmd.verify["initramfs"], None, None, cmd.verify["initramfs"])
        _initramfs(s, cmd.verify["initramfs"], k)
        if k.initramfs is None:
            return VerifyItem(shown, False, "; ".join(k.problems) or "the new initramfs could not be read")
        missing = [m for m in cmd.verify.get("modules", []) if m not in k.initramfs.modules()]
        if missing or not k.initramfs.complete:
            return VerifyItem(shown, False, f"the new initramfs lacks {', '.join(missing)}" if missing
                              else "; ".join(k.initramfs.problems))
        return VerifyItem(shown, True, f"{cmd.verify['initramfs']} rebuilt: {len(k.initramfs.files)} files, with "
                                       + ", ".join(cmd.verify.get("modules", [])))
    if "boot_config" in cmd.verify:
        from workbench.image import bootloader as bl

        path = cmd.verify["boot_config"]
        text = s.read_small(path, bl.MAX_CONFIG)
        cfg = bl.parse_grub2(text.decode("utf-8", "replace"), path, {}, {}) if text else None
        entry = cfg.default_entry if cfg else None
        if entry is None or not entry.kernel:
            return VerifyItem(shown, False, f"{path} has no default entry that loads a kernel afterwards")
        kernel = next((c for c in bl.resolve(entry.kernel, path, True) if s.exists(c)), None)
        missing = [w for w in cmd.verify.get("words", []) if not bl.has_word(entry.cmdline, w)]
        if kernel is None or missing:
            return VerifyItem(shown, False, f"{path}: its default entry's kernel is missing" if kernel is None
                              else f"{path}: the default entry lacks {', '.join(missing)}")
        return VerifyItem(shown, True, f"{path} regenerated: the default entry loads {kernel} with "
                                       + " ".join(cmd.verify.get("words", [])))
    return VerifyItem(shown, True, ", ".join(cmd.replaces) + " rewritten")


def verify_mounted(s: GuestSession, written: ImageFacts, plan: InjectionPlan, labels: dict[str, str] | None = None
                   ) -> list[VerifyItem]:
    """Check every planned write in the guest as mounted (read-only) in session s."""
    items: list[VerifyItem] = []
    first_root, mounted = open_first_partition(s, written, plan.first_mountpoint, readonly=True)
    fat_first = (written.first_partition.fs.kind or "").startswith("fat")
    for w in plan.writes:
        gpath = w.path
        if w.path.startswith(FIRST):
            gpath = (first_root.rstrip("/") + w.path[len(FIRST):]) if first_root != "/" else w.path[len(FIRST):]
        shown = plan.display_path(w.path)
        try:
            if w.action == "delete":
                gone = not s.exists(gpath)
                items.append(VerifyItem(shown, gone, "removed" if gone else "still present"))
            elif w.kind == "file":
                st = s.lstat(gpath)
                if st is None:
                    raise RuntimeError("no such file")
                data = s.read_file(gpath)
                modeless = fat_first and w.path.startswith(FIRST)  # FAT keeps no Unix modes
                ok = data == w.content and (modeless or (st[0] & 0o7777) == w.file_mode)
                mode = "no modes on FAT" if modeless else f"mode {st[0] & 0o7777:o}"
                items.append(VerifyItem(shown, ok, f"content sha256 {_sha(data)[:12]}, {mode}"
                                        + ("" if ok else f" (expected {_sha(w.content)[:12]}, {w.file_mode:o})")))
            elif w.kind == "link":
                target = s.readlink(gpath)
                items.append(VerifyItem(shown, target == w.target, f"link to {target}"))
            elif w.kind == "dir":
                ok = s.is_dir(gpath)
                items.append(VerifyItem(shown, ok, "directory present" if ok else "directory missing"))
        except RuntimeError as e:
            items.append(VerifyItem(shown, w.action == "delete", f"not found ({str(e).splitlines()[0][:120]})"))
    for gpath, ctx in (labels or {}).items():
        got = s.selinux_label(gpath)
        items.append(VerifyItem(f"{gpath} (SELinux label)", got == ctx, f"labelled {got}"
                                + ("" if got == ctx else f", expected {ctx}")))
    items += [verify_command(s, cmd) for _, cmd in plan.commands]
    try:
        manifest = json.loads(s.read_file(MANIFEST))
        complete = manifest.get("state", "complete") == "complete"
        items.append(VerifyItem(MANIFEST, manifest.get("schema") == "workbench.manifest/1" and complete,
                                f"{len(manifest.get('entries', []))} entries"
                                + ("" if complete else f", state {manifest.get('state')}")))
    except (RuntimeError, ValueError) as e:
        items.append(VerifyItem(MANIFEST, False, f"unreadable ({e})"))
    if mounted:
        close_first_partition(s, first_root)
    return items
