"""One libguestfs appliance per image: launch once, inspect fast, pull files in bulk.

The drive is always added read-only with its format from preflight, so the
image is never written and qemu never guesses a format. Inspection is our
own (fstab + os-release), not inspect_os/list_filesystems, which cost about
15 s under TCG. Writes (the trial write of the first partition) land in the
appliance's throwaway overlay.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from workbench.errors import GuestError
from workbench.image import bootinfo
from workbench.image import pull as pulling
from workbench.image.bootinfo import BootFacts
from workbench.image.appliance import Notify, expected_launch_seconds, launch
from workbench.image.fstab import Volume, mount_plan, parse_fstab
from workbench.image.guestfiles import GuestFiles
from workbench.image.osinfo import OsFacts, detect
from workbench.image.preflight import ImageFacts, Partition
from workbench.image.tree import GuestTree

ROOT_CANDIDATE_FS = {"ext2", "ext3", "ext4", "xfs", "btrfs"}
TRIAL_DIR = "/aliyun_custom_image"
TRIAL_FILE = TRIAL_DIR + "/.workbench-trial-write"
PREAD_MAX = 1 << 20  # larger files stream with download (pread answers are capped by the protocol)
MANIFEST = "/var/lib/workbench/manifest.json"  # what inject wrote into the image (inject/writer.py)
INTERRUPTED = ("an inject into this image was interrupted before it finished; `workbench uninject` restores what "
               "it changed, or inject again to finish it")


@dataclass
class Progress:
    phase: str
    fraction: float | None = None  # 0..1 when known
    detail: str = ""


@dataclass
class TrialWrite:
    ok: bool | None  # None: could not be tried
    detail: str
    free_bytes: int | None = None
    free_inodes: int | None = None


@dataclass
class Mount:
    device: str
    mountpoint: str
    fs: str | None


@dataclass
class GuestReport:
    os: OsFacts | None
    tree: GuestTree
    root_device: str | None
    mounts: list[Mount] = field(default_factory=list)
    trial_write: TrialWrite | None = None
    notes: list[str] = field(default_factory=list)
    accel: str = "tcg"
    timings: dict[str, float] = field(default_factory=dict)
    injected: str | None = None
    """The workbench's manifest in the image: "complete", "interrupted" (an inject stopped part way), or None."""
    boot: BootFacts | None = None
    """The bootloader, the default kernel and its initramfs, the ESP, free space (only with pull="all")."""
    volumes: list[Volume] = field(default_factory=list)
    """Every file system the appliance found (partitions and logical volumes), with UUID and label."""

    def mountpoint(self, device: str) -> str | None:
        return next((m.mountpoint for m in self.mounts if m.device == device), None)


class GuestSession(GuestFiles):
    """A launched view of one image (read-only unless writable_path). Use from one thread at a time."""

    def __init__(self, facts: ImageFacts, progress: Callable[[Progress], None] | None = None,
                 notify: Notify | None = None, writable_path: str | None = None,
                 nbd_socket: str | None = None) -> None:
        """writable_path: open that file (a copy of the image, or the image for an in-place write)
        read-write and mount the guest read-write; only inject and the rehearsal do this.
        nbd_socket: reach writable_path through the NBD server on that Unix socket instead of opening
        the file, so that another virtual machine can use the same disk while this one is idle."""
        self.facts = facts
        self._progress = progress or (lambda p: None)
        self._notify = notify
        self._g = None
        self.accel = "tcg"
        self.volumes: list[Volume] = []
        self.writable_path = writable_path
        self.nbd_socket = nbd_socket

    def __enter__(self) -> "GuestSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._g is not None:
            try:
                self._g.shutdown()
            except RuntimeError:
                pass
            self._g.close()
            self._g = None

    def report_progress(self, phase: str, fraction: float | None = None) -> None:
        self._progress(Progress(phase, fraction))

    @property
    def launched(self) -> bool:
        return self._g is not None

    # -- launch and inspection ----------------------------------------------------
    def start(self) -> None:
        self._progress(Progress("Starting the appliance", 0.0, f"expected ~{expected_launch_seconds():.0f} s"))

        def add(g):
            if self.nbd_socket:
                g.add_drive_opts("", format="raw", protocol="nbd", server=[f"unix:{self.nbd_socket}"],
                                 readonly=False)
            elif self.writable_path:
                g.add_drive_opts(self.writable_path, format=self.facts.format, readonly=False)
            else:
                g.add_drive_opts(self.facts.path, format=self.facts.format, readonly=True)

        self._g, self.accel = launch(add, self._notify,
                                    lambda f: self._progress(Progress("Starting the appliance", f)))

    def open(self, pull: str = "all") -> GuestReport:
        """Launch, trial-write, find and mount the root, pull files: everything the checks need.

        pull: "all" (what every check needs), "system" (/etc and the unit files: enough to plan an
        injection without fixes), "none" (mounts only, no trial write: enough to verify one).
        """
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        if self._g is None:
            self.start()
        timings["launch"] = time.monotonic() - t0
        notes: list[str] = []
        t = time.monotonic()
        self.volumes = self._volumes(notes)
        first = self.facts.first_partition
        trial = self._trial_write(first) if first is not None and not self.writable_path and pull != "none" else None
        timings["trial_write"] = time.monotonic() - t

        self._progress(Progress("Finding the root file system", None))
        t = time.monotonic()
        root = self._find_root(notes)
        timings["find_root"] = time.monotonic() - t
        tree = GuestTree()
        mounts: list[Mount] = []
        osf = None
        injected = None
        boot = None
        if root is not None:
            mounts.append(Mount(root.device, "/", root.fs))
            self._progress(Progress("Mounting file systems", None))
            t = time.monotonic()
            fstab = self.read_small("/etc/fstab", 1 << 20)
            if fstab is not None:
                mounts += self._mount_rest(fstab.decode("utf-8", "replace"), root.device, notes)
            timings["mount"] = time.monotonic() - t
            t = time.monotonic()
            if pull != "none":
                pulling.pull_trees(self, tree, notes)
            timings["pull"] = time.monotonic() - t
            t = time.monotonic()
            if pull == "all":
                self._progress(Progress("Reading home directories and the package database", None))
                pulling.pull_homes(self, tree, notes)
                pulling.pull_package_db(self, tree)
            timings["pull_security"] = time.monotonic() - t
            if pull == "all":
                t = time.monotonic()
                self._progress(Progress("Reading the bootloader, the kernel and its initramfs", None))
                boot = bootinfo.collect(self, tree, self.facts, mounts)
                timings["boot"] = time.monotonic() - t
            osf = detect(tree)
            injected = self._manifest_state()
            if injected == "interrupted":
                notes.append(INTERRUPTED)
                if self._notify:
                    self._notify(f"{self.facts.name}: {INTERRUPTED}")
            if first is not None:
                osf.first_partition_mountpoint = next((m.mountpoint for m in mounts if m.device == first.device),
                                                      None)
        else:
            notes.append("no Linux root file system was found (no partition holds /etc with fstab or os-release)")
        self._progress(Progress("Ready", 1.0))
        timings["total"] = time.monotonic() - t0
        return GuestReport(os=osf, tree=tree, root_device=root.device if root else None, mounts=mounts,
                           trial_write=trial, notes=notes, accel=self.accel, timings=timings,
                           injected=injected if root is not None else None, boot=boot, volumes=list(self.volumes))

    def _manifest_state(self) -> str | None:
        data = self.read_small(MANIFEST, 4 << 20)
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except ValueError:
            return "interrupted"  # a manifest that cannot be read is not a finished one
        return "complete" if isinstance(doc, dict) and doc.get("state", "complete") == "complete" else "interrupted"

    def _volumes(self, notes: list[str]) -> list[Volume]:
        vols = []
        if self.facts.partition_table == "none":
            fs = self.facts.whole_disk
            return [Volume("/dev/sda", fs.kind if fs else None, fs.uuid if fs else None, fs.label if fs else None)]
        for p in self.facts.partitions:
            vols.append(Volume(p.device, p.fs.kind, p.fs.uuid, p.fs.label, p.partuuid, p.name, p.number))
        if any(p.fs.kind == "lvm2" for p in self.facts.partitions):
            try:
                for lv in self._g.lvs():
                    fs = self._try(self._g.vfs_type, lv)
                    vols.append(Volume(lv, fs or None, self._try(self._g.vfs_uuid, lv) or None,
                                       self._try(self._g.vfs_label, lv) or None))
            except RuntimeError as e:
                notes.append(f"LVM volumes could not be listed: {e}")
        return vols

    @staticmethod
    def _try(fn, *args):
        try:
            return fn(*args)
        except RuntimeError:
            return None

    def remount_readonly(self, mounts: list[Mount]) -> None:
        """Unmount everything, flush to the image, drop the guest's caches, and mount the same again read-only,
        so that what is read next comes from the disk as written (by this appliance, or by another machine
        that used the disk meanwhile)."""
        g = self._g
        g.umount_all()
        g.sync()
        for device in dict.fromkeys([*(m.device for m in mounts), *g.list_devices()]):
            self._try(g.blockdev_flushbufs, device)
        g.drop_caches(3)
        for m in mounts:
            err = self._mount_ro(m.device, m.mountpoint, m.fs, readonly=True)
            if err:
                raise GuestError(f"{m.device} could not be mounted again at {m.mountpoint}: {err}")

    def _mount_ro(self, device: str, mountpoint: str, fs: str | None, readonly: bool = False) -> str | None:
        """Mount read-only (read-write in a writable session unless readonly); returns an error message or None."""
        if self.writable_path and not readonly:
            options = ["", "subvol=@"] if fs == "btrfs" else [""]
        else:
            options = ["ro"]
            if fs == "xfs":
                options.append("ro,norecovery")
            elif fs in ("ext3", "ext4"):
                options.append("ro,noload")
            elif fs == "btrfs":
                options.append("ro,subvol=@")
        err = None
        for opt in options:
            try:
                self._g.mount_options(opt, device, mountpoint)
                return None
            except RuntimeError as e:
                err = str(e)
        return err

    def _find_root(self, notes: list[str]) -> Volume | None:
        g = self._g
        cands = [v for v in self.volumes if v.fs in ROOT_CANDIDATE_FS]
        sizes = {p.device: p.size for p in self.facts.partitions}
        cands.sort(key=lambda v: -sizes.get(v.device, 1 << 62))  # LVs first: size unknown, usually the root
        for v in cands:
            if self._mount_ro(v.device, "/", v.fs) is not None:
                continue
            try:
                if g.is_dir("/etc") and (g.exists("/etc/fstab") or g.exists("/etc/os-release")):
                    return v
            except RuntimeError:
                pass
            g.umount_all()
        return None

    def _mount_rest(self, fstab: str, root_device: str, notes: list[str]) -> list[Mount]:
        plan, plan_notes = mount_plan(parse_fstab(fstab), self.volumes)
        notes.extend(plan_notes)
        mounts: list[Mount] = []
        for vol, entry in plan:
            if vol.device == root_device or any(m.device == vol.device for m in mounts):
                continue
            err = self._mount_ro(vol.device, entry.mountpoint, vol.fs)
            if err:
                notes.append(f"{vol.device} could not be mounted at {entry.mountpoint}: {err}")
            else:
                mounts.append(Mount(vol.device, entry.mountpoint, vol.fs))
        return mounts

    def read_small(self, path: str, limit: int, head: bool = False) -> bytes | None:
        """One file of at most limit bytes (None when bigger, missing or unreadable), or with head=True its
        first limit bytes whatever its size. pread answers in one message; bigger files stream into memory
        through a FIFO (never a host file), cut at the limit."""
        g = self._g
        try:
            if not g.is_file(path, followsymlinks=True):
                return None
            size = g.filesize(path)
            if size > limit and not head:
                return None
            want = min(size, limit)
            if want <= PREAD_MAX:
                return g.pread(path, want, 0) if want else b""
            chunks: list[bytes] = []
            pulling.stream(self, lambda out: g.download(path, out),
                           lambda f: chunks.extend(iter(lambda: f.read(), b"")), want)
            data = b"".join(chunks)
            return data[:want] if head or len(data) == size else None
        except RuntimeError:
            return None

    # -- pulling (policy in image/pull.py) ---------------------------------------------------------
    def pull(self, tree: GuestTree, notes: list[str], trees=None, files=None, probes=None) -> None:
        """Bulk-copy the listed trees (tar_out), small files and probes into tree (defaults: the checks' set)."""
        pulling.pull_trees(self, tree, notes, trees, files, probes)

    # -- trial write -------------------------------------------------------------------
    def _trial_write(self, part: Partition) -> TrialWrite:
        """Mount the first partition read-write on the overlay and write where the platform will."""
        g = self._g
        self._progress(Progress("Trial write to the first partition", None))
        if not part.fs.is_filesystem:
            return TrialWrite(None, "the first partition holds no file system to write to")
        try:
            g.mount(part.device, "/")
        except RuntimeError as e:
            return TrialWrite(False, f"mounting {part.device} read-write failed: {_short(e)}")
        try:
            g.mkdir_p(TRIAL_DIR)
            payload = b"hostname=workbench-trial\n"
            g.write(TRIAL_FILE, payload)
            back = g.pread(TRIAL_FILE, len(payload) + 1, 0)
            sv = g.statvfs("/")
            if back != payload:
                return TrialWrite(False, "the file written to the first partition read back differently")
            free = sv["bavail"] * sv["frsize"]
            inodes = sv["favail"] if sv["files"] else None
            return TrialWrite(True, f"wrote {TRIAL_FILE} on {part.device} (a throwaway overlay; the image "
                                    "is untouched)", free, inodes)
        except RuntimeError as e:
            return TrialWrite(False, f"writing {TRIAL_FILE} on {part.device} failed: {_short(e)}")
        finally:
            try:
                g.umount_all()
            except RuntimeError:
                pass


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:300]
