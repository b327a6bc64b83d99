"""Every file the workbench creates (images, reports, exports) is staged: written under a hidden name
beside its destination and renamed into place only when complete, so an interrupted or failed run
leaves no half-written output and never replaces what it was not allowed to replace.

The hidden name is created by the workbench itself, exclusively and never through a link, before anything
writes to it: a file or symlink planted there (the name is predictable) is refused, so no writer (qemu-img,
a report) can be sent through it to another file.
"""

from __future__ import annotations

import os
import subprocess

from workbench.errors import UsageError, WorkbenchError
from workbench.interrupt import deferred

# qemu-img options for output formats: a dynamic VHD whose size is the virtual size exactly
FORMAT_OPTIONS = {"vpc": ["-o", "subformat=dynamic,force_size=on"]}


class StagingError(WorkbenchError):
    """The output could not be written; nothing was left behind."""

    title = "The output cannot be written"


def same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file (through symlinks, hard links or a symlinked directory)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(out: str, force: bool, needed: int = 0, source: str | None = None) -> None:
    """Refuse (UsageError, one sentence, nothing written) an output that cannot or must not be written."""
    directory = os.path.dirname(os.path.abspath(out)) or "."
    if source is not None and os.path.exists(out) and same_file(out, source):
        raise UsageError(f"{out} is the source image itself; nothing was written")
    if os.path.isdir(out):
        raise UsageError(f"{out} is a directory")
    if os.path.lexists(out) and not force:
        raise UsageError(f"{out} already exists; nothing was written (use --force to replace it)")
    if not os.path.isdir(directory):
        raise UsageError(f"{directory} does not exist; nothing was written")
    partial = partial_name(out)
    if os.path.lexists(partial):
        raise UsageError(f"{partial} already exists (a file or link planted at the name the output is staged "
                         "under?); nothing was written")
    st = os.statvfs(directory)
    if st.f_flag & os.ST_RDONLY or not os.access(directory, os.W_OK):
        raise UsageError(f"{directory} is read-only storage; nothing was written")
    free = st.f_bavail * st.f_frsize
    if free < needed:
        raise UsageError(f"{directory} has {free >> 20} MiB free but the output needs about {needed >> 20} MiB; "
                         "nothing was written")


def partial_name(output: str) -> str:
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


class Staged:
    """OUT staged under a hidden partial name: commit() renames it into place; leaving without
    commit() (an error, ^C, SIGTERM) removes the partial file."""

    def __init__(self, output: str, force: bool = False, needed: int = 0, source: str | None = None) -> None:
        check_output(output, force, needed, source)
        self.output = output
        self.force = force
        self.path = partial_name(output)
        self.committed = False

    def __enter__(self) -> "Staged":
        """The partial file is made here, where the with statement has begun: a ^C or SIGTERM that comes while it is
        made is held until it exists, then removes it (one that came between the constructor and here found none)."""
        try:
            with deferred():  # ours from now on: an empty regular file, made here, that every writer then opens
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 0o644))
        except FileExistsError:
            raise UsageError(f"{self.path} appeared before it was written (a file or link planted there?); nothing "
                             "was written") from None
        except OSError as e:
            raise StagingError(f"{self.path} could not be created: {e.strerror}") from None
        except KeyboardInterrupt:
            self.__exit__()
            raise
        return self

    def commit(self) -> None:
        if os.path.lexists(self.output) and not self.force:
            raise UsageError(f"{self.output} appeared while writing; nothing was written")
        os.replace(self.path, self.output)
        self.committed = True

    def __exit__(self, *exc) -> None:
        if not self.committed and os.path.lexists(self.path):
            try:
                os.unlink(self.path)
            except OSError:
                pass


def write_text(output: str, text: str, force: bool = False) -> None:
    """A text file (a report) written whole or not at all, into the partial file Staged created (never through a
    link: one planted at its name is refused)."""
    with Staged(output, force) as staged:
        fd = os.open(staged.path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        staged.commit()


def copy_image(src_path: str, src_format: str, dst: str, fmt: str) -> None:
    """A full copy of an image (format stated on both sides) at dst, with qemu-img convert."""
    proc = subprocess.run(["qemu-img", "convert", "-f", src_format, "-O", fmt, *FORMAT_OPTIONS.get(fmt, []),
                           os.path.abspath(src_path), os.path.abspath(dst)], capture_output=True, text=True)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"
        raise StagingError(f"copying the image failed: {last}")
