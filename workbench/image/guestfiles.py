"""File operations on a launched guest, as GuestSession methods (callers never hold the raw handle).

Paths are guest paths in the appliance's mounted tree. Reads that may find
nothing return None instead of raising; writes raise RuntimeError from
libguestfs, which inject turns into one sentence.
"""

from __future__ import annotations

S_IFMT = 0o170000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFDIR = 0o040000


class GuestFiles:
    """Mixin: needs self._g, a launched guestfs handle with the guest mounted."""

    _g = None

    # -- reading ------------------------------------------------------------------------
    def lstat(self, path: str) -> tuple[int, int, int] | None:
        """(mode, uid, gid) without following a final symlink; None when nothing is there."""
        try:
            st = self._g.lstatns(path)
        except RuntimeError:
            return None
        return st["st_mode"], st["st_uid"], st["st_gid"]

    def exists(self, path: str) -> bool:
        """Whether anything (a dangling symlink included) is at path."""
        return self.lstat(path) is not None

    def is_link(self, path: str) -> bool:
        st = self.lstat(path)
        return st is not None and (st[0] & S_IFMT) == S_IFLNK

    def is_file(self, path: str, follow: bool = True) -> bool:
        try:
            return self._g.is_file(path, followsymlinks=follow)
        except RuntimeError:
            return False

    def is_dir(self, path: str) -> bool:
        try:
            return self._g.is_dir(path)
        except RuntimeError:
            return False

    def read_file(self, path: str) -> bytes:
        return self._g.read_file(path)

    def readlink(self, path: str) -> str:
        return self._g.readlink(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return list(self._g.ls(path))
        except RuntimeError:
            return []

    def filesize(self, path: str) -> int:
        return self._g.filesize(path)

    def glob(self, pattern: str) -> list[str]:
        try:
            return list(self._g.glob_expand(pattern))
        except RuntimeError:
            return []

    def realpath(self, path: str) -> str | None:
        try:
            return self._g.realpath(path)
        except RuntimeError:
            return None

    def download(self, path: str, host_path: str) -> None:
        self._g.download(path, host_path)

    def fs_uuid(self, device: str) -> str:
        return self._g.vfs_uuid(device)

    def selinux_label(self, path: str) -> str | None:
        try:
            return self._g.lgetxattr(path, "security.selinux").rstrip(b"\0").decode("ascii", "replace")
        except RuntimeError:
            return None

    # -- writing (only in a writable session) ------------------------------------------------
    def write_file(self, path: str, data: bytes) -> None:
        self._g.write(path, data)

    def upload(self, host_path: str, path: str) -> None:
        """A host file (the workbench's own, never the image's) written into the guest."""
        self._g.upload(host_path, path)

    def mkdir_p(self, path: str) -> None:
        self._g.mkdir_p(path)

    def symlink(self, target: str, path: str) -> None:
        self._g.ln_s(target, path)

    def remove(self, path: str) -> None:
        """A file or symlink; nothing when absent."""
        self._g.rm_f(path)

    def rmdir(self, path: str) -> None:
        self._g.rmdir(path)

    def chmod(self, mode: int, path: str) -> None:
        self._g.chmod(mode, path)

    def chown(self, uid: int, gid: int, path: str) -> None:
        self._g.chown(uid, gid, path)

    def touch(self, path: str) -> None:
        self._g.touch(path)

    def set_selinux_label(self, path: str, context: str) -> bool:
        """False where the file system keeps no xattrs (a FAT first partition)."""
        try:  # the stored value carries its NUL, as setfiles writes it
            self._g.lsetxattr("security.selinux", context, len(context.encode()) + 1, path)
            return True
        except RuntimeError:
            return False

    def command(self, argv: list[str]) -> str:
        """Run a program of the guest inside the appliance (chrooted into the mounted guest, with /dev, /proc and
        /sys bound in): never on the host. Its standard output; RuntimeError with its error output on failure.
        ^C and SIGTERM stop it at once (the appliance is killed): it can run for minutes."""
        from workbench.image.appliance import interruptibly

        return interruptibly(lambda: self._g.command(list(argv)))

    # -- mounts ---------------------------------------------------------------------------------
    def mount(self, device: str, mountpoint: str, readonly: bool = False) -> None:
        (self._g.mount_ro if readonly else self._g.mount)(device, mountpoint)

    def unmount(self, mountpoint: str) -> None:
        try:
            self._g.umount(mountpoint)
        except RuntimeError:
            pass

    def unmount_all(self) -> None:
        self._g.umount_all()

    def sync(self) -> None:
        self._g.sync()
