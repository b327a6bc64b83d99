"""One libguestfs appliance per image: launch once, inspect fast, pull files in bulk.

The drive is always added read-only with its format from preflight, so the
image is never written and qemu never guesses a format. Inspection is our
own (fstab + os-release), not inspect_os/list_filesystems, which cost about
15 s under TCG. Writes (the trial write of the first partition) land in the
appliance's throwaway overlay.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from workbench.errors import GuestError
from workbench.image.fstab import Volume, mount_plan, parse_fstab
from workbench.image.osinfo import OsFacts, detect
from workbench.image.preflight import ImageFacts, Partition
from workbench.image.tree import GuestTree, Node, mode_kind

ROOT_CANDIDATE_FS = {"ext2", "ext3", "ext4", "xfs", "btrfs"}
TRIAL_DIR = "/aliyun_custom_image"
TRIAL_FILE = TRIAL_DIR + "/.workbench-trial-write"

# Trees pulled whole with tar_out, with excludes for bulky content checks never read.
TREE_PULLS: list[tuple[str, list[str]]] = [
    ("/etc", ["./selinux/*/policy", "./selinux/*/contexts/files/*.bin", "./udev/hwdb.bin",
              "./pki/ca-trust/extracted", "./ssl/certs/*.pem", "./gconf", "./brltty"]),
    ("/usr/lib/systemd/system", []),
    ("/lib/systemd/system", []),
]
# Single files pulled when present.
FILE_PULLS = ["/usr/lib/os-release"]
# Package databases: (path, byte limit); the first family found is pulled.
PACKAGE_DB_PULLS = [
    [("/var/lib/dpkg/status", 64 << 20)],
    [("/lib/apk/db/installed", 32 << 20), ("/usr/lib/apk/db/installed", 32 << 20)],
    [(f"{d}/{n}", 512 << 20) for d in ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
     for n in ("rpmdb.sqlite", "rpmdb.sqlite-wal", "Packages", "Packages.db")],
]
# Home directories: files up to this size are pulled (private keys and authorized_keys are small).
HOME_FILE_MAX = 64 << 10
HOME_MAX_ENTRIES = 50_000
SYSTEM_DIRS = {"/", "/bin", "/sbin", "/usr", "/etc", "/var", "/lib", "/lib64", "/proc", "/sys", "/dev", "/boot",
               "/run", "/tmp", "/opt", "/srv", "/nonexistent", "/var/empty", "/var/run"}
# Paths whose type and link target checks need, probed without reading content.
PROBES = ["/sbin/init", "/usr/sbin/init", "/bin/sh", "/sbin/openrc", "/sbin/initctl",
          "/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/usr/sbin/NetworkManager",
          "/usr/sbin/wicked", "/usr/sbin/netplan", "/sbin/ifup", "/usr/sbin/ifup", "/bin/busybox",
          "/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/sbin/chpasswd", "/usr/bin/systemctl",
          "/bin/systemctl", "/sbin/restorecon", "/usr/sbin/restorecon"]
TOP_LINKS = ["bin", "sbin", "lib", "lib64", "lib32", "libx32"]

PREAD_MAX = 1 << 20  # larger files stream with download (pread answers are capped by the protocol)

# The expected launch time drives the progress bar until the appliance answers.
EXPECTED_LAUNCH = {"kvm": 4.0, "tcg": 13.0}

_accel_lock = threading.Lock()
_accel: dict[str, object] = {"tcg": os.environ.get("WORKBENCH_FORCE_TCG") == "1", "announced": False}


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

    def mountpoint(self, device: str) -> str | None:
        return next((m.mountpoint for m in self.mounts if m.device == device), None)


Notify = Callable[[str], None]


def new_handle(force_tcg: bool | None = None):
    """A guestfs handle, with TCG forced when KVM has failed in this process."""
    import guestfs

    g = guestfs.GuestFS(python_return_dict=True, close_on_exit=True)
    if force_tcg if force_tcg is not None else _accel["tcg"]:
        settings = [s for s in g.get_backend_settings() if s != "force_tcg"]
        g.set_backend_settings(settings + ["force_tcg"])
    return g


def launch(add_drives: Callable[[object], None], notify: Notify | None = None,
           on_progress: Callable[[float], None] | None = None):
    """Launch an appliance; when the KVM launch fails, retry once with TCG and say so once."""
    import guestfs

    with _accel_lock:
        modes = ["tcg"] if _accel["tcg"] else ["default", "tcg"]
    last_error = ""
    for mode in modes:
        g = new_handle(force_tcg=(mode == "tcg"))
        add_drives(g)
        if on_progress:
            def _cb(event, _h, _buf, array):
                if len(array) >= 4 and array[3]:
                    on_progress(array[2] / array[3])
            g.set_event_callback(_cb, guestfs.EVENT_PROGRESS)
        try:
            g.launch()
            return g, ("tcg" if mode == "tcg" or not os.path.exists("/dev/kvm") else "kvm")
        except RuntimeError as e:
            last_error = str(e).splitlines()[0]
            g.close()
            if mode == "default" and os.path.exists("/dev/kvm"):
                with _accel_lock:
                    _accel["tcg"] = True
                    first = not _accel["announced"]
                    _accel["announced"] = True
                if notify and first:
                    notify("KVM could not start the appliance here; using software emulation (TCG), "
                           "which is slower")
                continue
    raise GuestError(f"the libguestfs appliance could not start ({last_error}); "
                     "run `libguestfs-test-tool` to see why")


def expected_launch_seconds() -> float:
    return EXPECTED_LAUNCH["tcg" if _accel["tcg"] or not os.path.exists("/dev/kvm") else "kvm"]


class GuestSession:
    """A launched, read-only view of one image. Use from one thread at a time."""

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
        self.g = None
        self.accel = "tcg"
        self.volumes: list[Volume] = []
        self.writable_path = writable_path
        self.nbd_socket = nbd_socket

    def __enter__(self) -> "GuestSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.g is not None:
            try:
                self.g.shutdown()
            except RuntimeError:
                pass
            self.g.close()
            self.g = None

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

        self.g, self.accel = launch(add, self._notify,
                                    lambda f: self._progress(Progress("Starting the appliance", f)))

    def open(self, pull: str = "all") -> GuestReport:
        """Launch, trial-write, find and mount the root, pull files: everything the checks need.

        pull: "all" (what every check needs), "system" (/etc and the unit files: enough to plan an
        injection without fixes), "none" (mounts only, no trial write: enough to verify one).
        """
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        if self.g is None:
            self.start()
        timings["launch"] = time.monotonic() - t0
        g = self.g
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
        if root is not None:
            mounts.append(Mount(root.device, "/", root.fs))
            self._progress(Progress("Mounting file systems", None))
            t = time.monotonic()
            fstab = self._read_small("/etc/fstab", 1 << 20)
            if fstab is not None:
                mounts += self._mount_rest(fstab.decode("utf-8", "replace"), root.device, notes)
            timings["mount"] = time.monotonic() - t
            t = time.monotonic()
            if pull != "none":
                self.pull(tree, notes)
            timings["pull"] = time.monotonic() - t
            t = time.monotonic()
            if pull == "all":
                self._progress(Progress("Reading home directories and the package database", None))
                self.pull_homes(tree, notes)
                self.pull_package_db(tree)
            timings["pull_security"] = time.monotonic() - t
            osf = detect(tree)
            if first is not None:
                osf.first_partition_mountpoint = next((m.mountpoint for m in mounts if m.device == first.device),
                                                      None)
        else:
            notes.append("no Linux root file system was found (no partition holds /etc with fstab or os-release)")
        self._progress(Progress("Ready", 1.0))
        timings["total"] = time.monotonic() - t0
        return GuestReport(os=osf, tree=tree, root_device=root.device if root else None, mounts=mounts,
                           trial_write=trial, notes=notes, accel=self.accel, timings=timings)

    def _volumes(self, notes: list[str]) -> list[Volume]:
        vols = []
        if self.facts.partition_table == "none":
            fs = self.facts.whole_disk
            return [Volume("/dev/sda", fs.kind if fs else None, fs.uuid if fs else None, fs.label if fs else None)]
        for p in self.facts.partitions:
            vols.append(Volume(p.device, p.fs.kind, p.fs.uuid, p.fs.label, p.partuuid, p.name, p.number))
        if any(p.fs.kind == "lvm2" for p in self.facts.partitions):
            try:
                for lv in self.g.lvs():
                    fs = self._try(self.g.vfs_type, lv)
                    vols.append(Volume(lv, fs or None, self._try(self.g.vfs_uuid, lv) or None,
                                       self._try(self.g.vfs_label, lv) or None))
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
        g = self.g
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
                self.g.mount_options(opt, device, mountpoint)
                return None
            except RuntimeError as e:
                err = str(e)
        return err

    def _find_root(self, notes: list[str]) -> Volume | None:
        g = self.g
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

    def _read_small(self, path: str, limit: int) -> bytes | None:
        """One small file. pread answers in one message; read_file streams and costs ~0.2 s under TCG."""
        g = self.g
        try:
            if not g.is_file(path, followsymlinks=True):
                return None
            size = g.filesize(path)
            if size > limit:
                return None
            if size <= PREAD_MAX:
                return g.pread(path, size, 0) if size else b""
            with tempfile.TemporaryDirectory(prefix="wb-pull-") as tmp:
                out = os.path.join(tmp, "file")
                g.download(path, out)
                with open(out, "rb") as f:
                    return f.read(limit + 1)[:limit]
        except RuntimeError:
            return None

    # -- pulling -------------------------------------------------------------------
    def pull(self, tree: GuestTree, notes: list[str], trees=None, files=None, probes=None) -> None:
        """Bulk-copy the listed trees (tar_out), small files and probes into tree."""
        g = self.g
        trees = TREE_PULLS if trees is None else trees
        files = FILE_PULLS if files is None else files
        probes = PROBES if probes is None else probes
        for name, target in zip(TOP_LINKS, g.readlinklist("/", TOP_LINKS)):
            if target:
                tree.add_link("/" + name, target)
        seen = set()
        with tempfile.TemporaryDirectory(prefix="wb-pull-") as tmp:
            for i, (path, excludes) in enumerate(trees):
                real = self._try(g.realpath, path)
                if not real or real in seen or not self._try(g.is_dir, real):
                    continue
                seen.add(real)
                self._progress(Progress(f"Reading {path}", (i + 1) / (len(trees) + 1)))
                self._tar_into(tree, real, os.path.join(tmp, f"pull{i}.tar"), excludes, notes)
        for path in files:
            real = self._try(g.realpath, path)
            if real and not tree.is_file(real):
                data = self._read_small(real, tree.max_file)
                if data is not None:
                    tree.add_file(real, data)
        by_dir: dict[str, list[str]] = {}
        for p in probes:
            d, _, name = p.rpartition("/")
            by_dir.setdefault(d or "/", []).append(name)
        for d, names in by_dir.items():
            real = self._try(g.realpath, d)
            if not real:
                continue
            stats = self._try(g.lstatnslist, real, names) or []
            links = self._try(g.readlinklist, real, names) or []
            for name, st, link in zip(names, stats, links + [""] * len(names)):
                if st["st_ino"] == -1:
                    continue
                path = f"{real.rstrip('/')}/{name}"
                if tree.node(path, follow=False) is not None:
                    continue
                kind = mode_kind(st["st_mode"])
                tree.add(Node(path, kind, st["st_mode"] & 0o7777, st["st_uid"], st["st_gid"],
                              st["st_size"], None, link or None))

    def home_dirs(self, tree: GuestTree) -> list[str]:
        """Real paths of /root, the accounts' homes and /home/*, system directories left out."""
        from workbench.accounts import parse_accounts

        accounts, _ = parse_accounts(tree)
        cands = ["/root"] + [a.home for a in accounts
                             if a.home and (a.uid == 0 or (a.uid is not None and 1000 <= a.uid < 65534) or a.can_login)]
        if self._try(self.g.is_dir, "/home"):
            cands += [f"/home/{n}" for n in (self._try(self.g.ls, "/home") or [])]
        out = []
        for c in cands:
            real = self._try(self.g.realpath, c)
            if real and real not in out and real not in SYSTEM_DIRS and self._try(self.g.is_dir, real):
                out.append(real)
        return out

    def pull_homes(self, tree: GuestTree, notes: list[str]) -> None:
        """Small files of each home directory: list, stat per directory, then one tar without the big ones."""
        g = self.g
        with tempfile.TemporaryDirectory(prefix="wb-pull-") as tmp:
            for n, home in enumerate(self.home_dirs(tree)):
                listing = os.path.join(tmp, f"find{n}")
                try:
                    g.find0(home, listing)
                except RuntimeError as e:
                    notes.append(f"{home} could not be listed: {_short(e)}")
                    continue
                with open(listing, "rb") as f:
                    names = [x.decode("utf-8", "surrogateescape") for x in f.read().split(b"\0") if x]
                if len(names) > HOME_MAX_ENTRIES:
                    notes.append(f"{home} holds {len(names)} entries; only its .ssh directory was read")
                    if self._try(g.is_dir, f"{home}/.ssh"):
                        self.pull(tree, notes, trees=[(f"{home}/.ssh", [])], files=[], probes=[])
                    continue
                self._tar_into(tree, home, os.path.join(tmp, f"home{n}.tar"), self._big_files(home, names), notes)

    def _tar_into(self, tree: GuestTree, directory: str, out: str, excludes: list[str], notes: list[str]) -> None:
        """One bulk transfer: directory (minus excludes) through a tar file into the tree."""
        try:
            self.g.tar_out(directory, out, numericowner=True, excludes=excludes)
        except RuntimeError as e:
            notes.append(f"{directory} could not be read from the guest: {_short(e)}")
            return
        with open(out, "rb") as f:
            tree.add_tar(f, directory)
        os.unlink(out)

    def _big_files(self, home: str, names: list[str]) -> list[str]:
        """tar --exclude patterns for every entry over HOME_FILE_MAX (and special files)."""
        by_dir: dict[str, list[str]] = {}
        for rel in names:
            d, _, base = rel.rpartition("/")
            by_dir.setdefault(d, []).append(base)
        excludes = []
        for d, bases in by_dir.items():
            path = f"{home}/{d}" if d else home
            for i in range(0, len(bases), 1000):
                chunk = bases[i:i + 1000]
                stats = self._try(self.g.lstatnslist, path, chunk) or []
                for base, st in zip(chunk, stats):
                    mode = st["st_mode"]
                    big = (mode & 0o170000) == 0o100000 and st["st_size"] > HOME_FILE_MAX
                    special = (mode & 0o170000) not in (0o100000, 0o040000, 0o120000)
                    if big or special:
                        rel = f"{d}/{base}" if d else base
                        excludes.append("./" + re.sub(r"([*?\[\]\\])", r"\\\1", rel))
        return excludes

    def pull_package_db(self, tree: GuestTree) -> None:
        for family in PACKAGE_DB_PULLS:
            got = False
            for path, limit in family:
                real = self._try(self.g.realpath, path)
                if real is None or tree.is_file(real):
                    continue
                data = self._read_small(real, limit)
                if data is not None:
                    tree.add_file(real, data)
                    if real != path:
                        tree.add_link(path, real)
                    got = True
            if got:
                return

    # -- trial write -------------------------------------------------------------------
    def _trial_write(self, part: Partition) -> TrialWrite:
        """Mount the first partition read-write on the overlay and write where the platform will."""
        g = self.g
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
