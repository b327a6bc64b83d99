"""The simulation's sandbox: the guest's files copied in, the host layout the parser runs on, and the run itself
under limits.

The copy: the guest's /etc and /var trees at their real paths. The sandbox's /usr, /bin and /lib are the host's
(for the interpreter and tools), so a guest link cannot keep its text: /etc/hosts -> ../usr/lib/os-release would
read the host's file. Every link is resolved as the guest resolves it (chroot-style, in the pulled tree) and
written with where it really leads: inside the copy, or into the sandbox's own /run, /tmp and /dev, it leads
there; anywhere else it leads into SHADOW, which holds the guest's own file there when the review pulled it, and
nothing (a dangling link, as in a guest without it) when not. Devices, FIFOs and sockets are never copied in.

The run: each process under an address-space, CPU-time and file-size limit (set by a small wrapper before bwrap
starts), the whole under a wall-clock timeout and an output limit. A limit that was reached is reported (Run.
stopped): the parser's result is then not trusted, whatever its exit code (sed that runs out of memory on a
/dev/zero link exits 0 having written nothing).
"""

from __future__ import annotations

import os
import posixpath
import select
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache

from workbench.image.tree import GuestTree

MATERIALIZE = ("/etc", "/var/lib", "/var/log", "/var/spool")  # guest trees copied into the sandbox
COPY_ROOTS = ("/etc", "/var")  # where the copy is bound
SKIP = ("/var/lib/rpm/", "/var/lib/dpkg/", "/usr/lib/sysimage/", "/lib/apk/", "/var/lib/apk/")
# What the host's dynamic loader and libc read from /etc: always the host's (or nothing), never the guest's,
# so that no guest file can make a host binary load guest code (ld.so.preload) or read guest config as its own.
HOST_ETC = ("/etc/ld.so.preload", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ld.so.nohwcap",
            "/etc/localtime", "/etc/alternatives", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
            "/etc/suid-debug")
HOST_ETC_DIRS = ("/etc/ld.so.conf.d", "/etc/alternatives")
PRIVATE = ("/run", "/tmp", "/dev")  # the sandbox's own: empty tmpfs and bwrap's few devices, the same for any guest
SHADOW = "/.wb-guest"
MAX_SHADOW = 10_000  # entries copied into SHADOW
MAX_HOPS = 40
MEM_LIMIT = 512 << 20  # address space of each process
MEM_SPOILED = MEM_LIMIT // 4  # a process that grew this big was near the limit (a doubling buffer fails at 1/2)
CPU_LIMIT = 10  # seconds of CPU for each process (SIGXCPU)
FILE_LIMIT = 64 << 20  # bytes of one file written (EFBIG, or SIGXFSZ)
OUTPUT_LIMIT = 1 << 20  # bytes of the parser's output read
TMPFS_SIZE = 64 << 20  # /tmp and /run, where bwrap can bound them

# Run by the interpreter the workbench runs on (-I -S: nothing of the environment): the limits set in a fresh,
# small process, the command started as its child, and that child's usage (its peak memory and the CPU time of all
# it waited for, the sandbox's processes included) written to the report fd before the same exit is passed on.
_LIMITER = """
import os, resource, signal, sys
mem, cpu, size, report = (int(a) for a in sys.argv[1:5])
for s in (signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(s, signal.SIG_DFL)
pid = os.fork()
if pid == 0:
    os.close(report)
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execv(sys.argv[5], sys.argv[5:])
_, status, usage = os.wait4(pid, 0)
os.write(report, b"%d %f" % (usage.ru_maxrss, usage.ru_utime + usage.ru_stime))
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Entry:
    kind: str  # file | dir | link
    data: bytes = b""
    target: str = ""  # a link's target as the guest has it
    mode: int = 0o644
    written: str | None = None  # a link's target as written in the copy (where the guest's link really leads)


def canonical(tree: GuestTree, path: str) -> str | None:
    """path with every link followed as the guest's kernel would (.. after the link before it), inside the pulled
    tree; None on a loop."""
    queue = [p for p in path.split("/") if p]
    done = "/"
    hops = 0
    while queue:
        name = queue.pop(0)
        if name == ".":
            continue
        if name == "..":
            done = posixpath.dirname(done)
            continue
        cand = posixpath.join(done, name)
        node = tree.node(cand, follow=False)
        if node is not None and node.kind == "link":
            hops += 1
            if hops > MAX_HOPS:
                return None
            target = node.target or ""
            if target.startswith("/"):
                done = "/"
            queue[:0] = [p for p in target.split("/") if p]
            continue
        done = cand
    return done


def host_path(path: str) -> bool:
    return any(path == h or path.startswith(h + "/") for h in HOST_ETC)


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


class _Copy:
    """The guest's files as the sandbox starts with them: state (the copy) and shadow (SHADOW's content)."""

    def __init__(self, tree: GuestTree, own: tuple[str, ...]) -> None:
        self.tree = tree
        self.own = own  # more places that are the sandbox's own (the os.conf's directory)
        self.state: dict[str, Entry] = {}
        self.shadow: dict[str, Entry] = {}

    def inside(self, path: str) -> bool:
        """Whether path in the sandbox is what it is in the guest (or the sandbox's own): not the host's."""
        return (_under(path, COPY_ROOTS) and not host_path(path)) or _under(path, PRIVATE + self.own)

    def place(self, path: str) -> str:
        """Where path (canonical) is in the sandbox: itself when inside, else under SHADOW with the guest's own."""
        if self.inside(path):
            return path
        self._shadow(path)
        return SHADOW + path

    def link(self, path: str, target: str) -> str:
        """What the link at path (in a canonical directory) is written to point at."""
        real = canonical(self.tree, posixpath.join(posixpath.dirname(path), target))
        return path if real is None else self.place(real)  # a loop stays a loop (ELOOP), pointing at itself

    def _shadow(self, path: str) -> None:
        parent = posixpath.dirname(path)
        while parent != "/" and parent not in self.shadow and self.tree.is_dir(parent):
            self.shadow[parent] = Entry("dir", mode=0o755)
            parent = posixpath.dirname(parent)
        if path in self.shadow or len(self.shadow) >= MAX_SHADOW:
            return
        node = self.tree.node(path, follow=False)
        if node is None:
            return  # not in the guest (or not pulled): the link dangles, as in a guest without it
        if node.kind == "file" and node.data is not None:
            self.shadow[path] = Entry("file", node.data, mode=node.mode)
        elif node.kind == "dir":
            self.shadow[path] = Entry("dir", mode=node.mode or 0o755)
            for sub in self.tree.walk(path):
                if len(self.shadow) >= MAX_SHADOW:
                    return
                if sub.path == path or sub.path in self.shadow:
                    continue
                if sub.kind == "dir":
                    self.shadow[sub.path] = Entry("dir", mode=sub.mode or 0o755)
                elif sub.kind == "file" and sub.data is not None:
                    self.shadow[sub.path] = Entry("file", sub.data, mode=sub.mode)
                elif sub.kind == "link":
                    self.shadow[sub.path] = Entry("link", target=sub.target or "")
                    self.shadow[sub.path].written = self.link(sub.path, sub.target or "")


def guest_state(tree: GuestTree, own: tuple[str, ...] = ()) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """(the copy, SHADOW's content): guest paths under MATERIALIZE, each link written where it really leads; only
    directories, regular files and links (a device, FIFO or socket is not copied)."""
    copy = _Copy(tree, own)
    state = copy.state
    for top in MATERIALIZE:
        for node in tree.walk(top):
            if not _under(node.path, (top,)) or node.path.startswith(SKIP) or host_path(node.path):
                continue
            if node.kind == "dir":
                state[node.path] = Entry("dir", mode=node.mode or 0o755)
            elif node.kind == "link":
                state[node.path] = Entry("link", target=node.target or "")
            elif node.kind == "file" and node.data is not None:
                state[node.path] = Entry("file", node.data, mode=node.mode)
    for d in ("/etc", "/var", "/var/lib", "/var/log", "/var/tmp"):
        state.setdefault(d, Entry("dir", mode=0o755))
    for path, e in list(state.items()):
        if e.kind == "link":
            e.written = copy.link(path, e.target)
    return state, copy.shadow


def parser_place(tree: GuestTree, path: str, own: tuple[str, ...] = ()) -> tuple[str, bool]:
    """(where the parser installed at path lands in the guest, whether that is in SHADOW rather than the copy)."""
    real = canonical(tree, path) or path
    copy = _Copy(tree, own)
    return real, not copy.inside(real)


def write_tree(root: str, state: dict[str, Entry], executable: frozenset[str] = frozenset()) -> dict[str, tuple]:
    """Materialise state under root; returns the lstat fingerprint of every path written.

    The guest's files are data: none is left executable (a parser that runs one gets "permission denied"),
    except the paths in executable (the parser itself)."""
    prints = {}
    root = os.path.realpath(root)
    for path in sorted(state):
        e = state[path]
        host = root + path
        try:
            if not _real_dir(root, os.path.dirname(host)) or os.path.islink(host):
                continue  # a link of the copy is in the way: nothing is ever written through one on the host
            if e.kind == "dir":
                os.makedirs(host, exist_ok=True)
                os.chmod(host, e.mode | 0o700)
            elif e.kind == "link":
                os.makedirs(os.path.dirname(host), exist_ok=True)
                os.symlink(e.written if e.written is not None else e.target, host)
            else:
                os.makedirs(os.path.dirname(host), exist_ok=True)
                fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(e.data)
                os.chmod(host, (e.mode & 0o777) | 0o600 if path in executable else (e.mode & 0o666) | 0o600)
        except OSError:
            continue
        st = os.lstat(host)
        prints[path] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
    return prints


def _real_dir(root: str, path: str) -> bool:
    """Whether path (under root) has no link among its existing components: where it is, is where it says."""
    while not os.path.lexists(path) and path != root:
        path = os.path.dirname(path)
    return os.path.realpath(path) == path and (path == root or path.startswith(root + "/"))


def host_layout() -> list[str]:
    """bwrap arguments that give the sandbox the host's /usr and its /bin, /lib... links or dirs."""
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return args


def host_etc_binds(tmp: str) -> list[str]:
    """bwrap arguments putting the host's loader and libc files over /etc, or an empty file or directory where
    the host has none (the guest's are never materialised there)."""
    empty_file, empty_dir = os.path.join(tmp, "empty"), os.path.join(tmp, "empty.d")
    open(empty_file, "wb").close()
    os.makedirs(empty_dir, exist_ok=True)
    args = []
    for path in HOST_ETC:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
        else:
            args += ["--ro-bind", empty_dir if path in HOST_ETC_DIRS else empty_file, path]
    return args


@lru_cache(maxsize=4)
def _bwrap_sizes(bwrap: str) -> bool:
    """Whether this bubblewrap bounds a tmpfs (--size, from 0.8)."""
    try:
        proc = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in proc.stdout + proc.stderr


def private_mounts(bwrap: str) -> list[str]:
    """bwrap arguments for the sandbox's own /proc, /dev, /tmp and /run (the tmpfs bounded where bwrap can)."""
    size = ["--size", str(TMPFS_SIZE)] if _bwrap_sizes(bwrap) else []
    return ["--proc", "/proc", "--dev", "/dev", *size, "--tmpfs", "/tmp", *size, "--tmpfs", "/run"]


@dataclass
class Run:
    exit_code: int | None  # None: stopped (timeout, output limit) before it ended
    output: str
    stopped: str | None = None  # why the result is not trusted: a limit that ended or spoiled the run


def run_limited(cmd: list[str], timeout: float, env: dict[str, str]) -> Run:
    """cmd (bwrap ... parser) with every process under MEM_LIMIT, CPU_LIMIT and FILE_LIMIT, at most timeout
    seconds and OUTPUT_LIMIT bytes of output (stdout and stderr together). The peak memory and CPU time of the
    sandbox's processes come back from the limiter (bwrap runs the parser as pid 1, which reaps what it starts)."""
    report_r, report_w = os.pipe()
    wrapped = [sys.executable or "python3", "-I", "-S", "-c", _LIMITER, str(MEM_LIMIT), str(CPU_LIMIT),
               str(FILE_LIMIT), str(report_w), *cmd]
    try:
        proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True, pass_fds=(report_w,))
    finally:
        os.close(report_w)
    out = bytearray()
    stopped = None
    try:
        stopped = _collect(proc, out, time.monotonic() + timeout, timeout)
    finally:
        if proc.poll() is None:  # stopped, or an exception: nothing of it is left running
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        proc.stdout.close()
        with os.fdopen(report_r, "rb") as f:
            usage = f.read().split()
    text = out[:OUTPUT_LIMIT].decode("utf-8", "replace")
    if stopped:
        return Run(None, text, stopped)
    if len(usage) != 2:
        return Run(None, text, "the sandbox ended without saying what it used")
    return Run(proc.returncode, text, _spoiled(int(usage[0]) << 10, float(usage[1])))


def _collect(proc: subprocess.Popen, out: bytearray, deadline: float, timeout: float) -> str | None:
    """Read proc's output into out until it ends; why it had to be stopped (time, output), or None."""
    late = f"the parser did not finish within {timeout:g} s and was stopped"
    fd = proc.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return late
        if select.select([fd], [], [], min(left, 0.5))[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            out += chunk
            if len(out) > OUTPUT_LIMIT:
                return f"the parser wrote more than {OUTPUT_LIMIT >> 10} KiB of output and was stopped"
    while proc.poll() is None:  # the output is closed: wait for the end, as long as the timeout allows
        if time.monotonic() > deadline:
            return late
        time.sleep(0.02)
    return None


def _spoiled(peak: int, cpu: float) -> str | None:
    """Why the run's result is not trusted (a process near its memory or CPU limit), from the sandbox's usage."""
    if peak >= MEM_SPOILED:
        return (f"a process in the sandbox grew to {peak >> 20} MiB, near the {MEM_LIMIT >> 20} MiB it may use "
                "(a parser of a few files needs a few): it may have failed for want of memory")
    if cpu >= CPU_LIMIT / 2:
        return f"the sandbox's processes used {cpu:.0f} s of CPU, near the {CPU_LIMIT} s each may use"
    return None


def oversized(roots: list[str]) -> str | None:
    """A file under roots that reached FILE_LIMIT (its writer was cut there), as a sentence, or None."""
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(st.st_mode) and st.st_size >= FILE_LIMIT:
                    return f"a file the parser wrote reached the {FILE_LIMIT >> 20} MiB a file may have"
    return None
