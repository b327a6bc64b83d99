"""Verification: every planned write read back from the image as written (caches dropped, read-only)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

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
            if w.kind == "file":
                st = s.lstat(gpath)
                if st is None:
                    raise RuntimeError("no such file")
                data = s.read_file(gpath)
                modeless = fat_first and w.path.startswith(FIRST)  # FAT keeps no Unix modes
                ok = data == w.content and (modeless or (st[0] & 0o7777) == w.mode)
                mode = "no modes on FAT" if modeless else f"mode {st[0] & 0o7777:o}"
                items.append(VerifyItem(shown, ok, f"content sha256 {_sha(data)[:12]}, {mode}"
                                        + ("" if ok else f" (expected {_sha(w.content or b'')[:12]}, {w.mode:o})")))
            elif w.kind == "link":
                target = s.readlink(gpath)
                items.append(VerifyItem(shown, target == w.target, f"link to {target}"))
            elif w.kind == "dir":
                ok = s.is_dir(gpath)
                items.append(VerifyItem(shown, ok, "directory present" if ok else "directory missing"))
            elif w.kind == "delete":
                gone = not s.exists(gpath)
                items.append(VerifyItem(shown, gone, "removed" if gone else "still present"))
        except RuntimeError as e:
            items.append(VerifyItem(shown, w.kind == "delete", f"not found ({str(e).splitlines()[0][:120]})"))
    for gpath, ctx in (labels or {}).items():
        got = s.selinux_label(gpath)
        items.append(VerifyItem(f"{gpath} (SELinux label)", got == ctx, f"labelled {got}"
                                + ("" if got == ctx else f", expected {ctx}")))
    try:
        manifest = json.loads(s.read_file(MANIFEST))
        items.append(VerifyItem(MANIFEST, manifest.get("schema") == "workbench.manifest/1",
                                f"{len(manifest.get('entries', []))} entries"))
    except (RuntimeError, ValueError) as e:
        items.append(VerifyItem(MANIFEST, False, f"unreadable ({e})"))
    if mounted:
        close_first_partition(s, first_root)
    return items
