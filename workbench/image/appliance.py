"""Launching the libguestfs appliance: KVM when it works, TCG when it does not (said once, then remembered).

`/dev/kvm` can exist and still fail (nested virtualisation, a host that refuses
some MSRs): the first failed KVM launch switches this process to TCG for good.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, TypeVar

from workbench.errors import GuestError, ImageError
from workbench.image.pvh import fixed_appliance

# The expected launch time drives the progress bar until the appliance answers.
EXPECTED_LAUNCH = {"kvm": 4.0, "tcg": 11.0}

_accel_lock = threading.Lock()
_accel: dict[str, object] = {"tcg": os.environ.get("WORKBENCH_FORCE_TCG") == "1", "announced": False}

Notify = Callable[[str], None]
T = TypeVar("T")


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
    """Launch an appliance; when the KVM launch fails, retry once with TCG and say so once; when the TCG launch of
    the PVH kernel fails, retry once with the kernel as it is."""
    import guestfs

    with _accel_lock:
        modes = ["tcg"] if _accel["tcg"] else ["default", "tcg"]
    last_error = ""
    for mode in modes:  # "tcg-bzimage" is added when the PVH kernel failed to start
        g = new_handle(force_tcg=(mode != "default"))
        # under TCG the appliance's kernel started at its PVH entry when it can be (image/pvh.py: ~3 s less a launch)
        fixed = fixed_appliance(g) if mode == "tcg" else None
        if fixed:
            g.set_path(fixed)
        add_drives(g)
        # progress events run Python in the launching thread; in the main thread a ^C would land inside the
        # callback, where the binding swallows it: there (the CLI) nothing shows progress, so none is asked for
        if on_progress and threading.current_thread() is not threading.main_thread():
            def _cb(event, _h, _buf, array):
                if len(array) >= 4 and array[3]:
                    on_progress(array[2] / array[3])
            g.set_event_callback(_cb, guestfs.EVENT_PROGRESS)
        error = None
        try:
            try:
                interruptibly(g.launch)
                return g, ("tcg" if mode != "default" or not os.path.exists("/dev/kvm") else "kvm")
            except RuntimeError as e:
                error = e
        except KeyboardInterrupt:  # also when it arrives while the failed launch is being handled
            g.close()
            raise
        last_error = str(error).splitlines()[0]
        g.close()
        if "lock" in str(error) and ("Failed to get" in str(error) or "another process" in str(error)):
            raise ImageError("the image is in use by another process (a running VM, or another workbench "
                             "writing it, holds its lock); nothing was done")
        if fixed:  # once more with libguestfs's own appliance: the kernel as it is
            modes.append("tcg-bzimage")
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


def interruptibly(call: Callable[[], T]) -> T:
    """call() (one long libguestfs C call: launch, or a guest command), but ^C and SIGTERM stop it at once.
    During a C call Python runs no signal handler; in the main thread, Python's signal wakeup fd tells a watcher
    thread that a signal arrived, the watcher kills the appliance's qemu, the call returns (failing), and the
    signal is raised as usual. (The call stays in the calling thread: libguestfs keeps its quiet error handler
    per thread.) Elsewhere than the main thread it is a plain call."""
    if threading.current_thread() is not threading.main_thread():
        return call()
    import select
    import signal

    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        old = signal.set_wakeup_fd(w)
    except ValueError:  # not the main interpreter's thread after all
        os.close(r)
        os.close(w)
        return call()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if select.select([r], [], [], 0.2)[0] and os.read(r, 64):
                _kill_our_qemu()
                return

    watcher = threading.Thread(target=watch, name="wb-appliance-watch", daemon=True)
    watcher.start()
    try:
        return call()
    finally:
        done.set()
        watcher.join()
        signal.set_wakeup_fd(old)
        os.close(r)
        os.close(w)


def _kill_our_qemu() -> None:
    """SIGKILL the qemu processes this process started (the appliance being launched)."""
    import signal

    me = str(os.getpid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                exe = os.path.basename(f.read().split(b"\0", 1)[0]).decode("utf-8", "replace")
        except (OSError, IndexError):
            continue
        if ppid == me and exe.startswith("qemu-system"):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


def software_emulation() -> bool:
    """True when the appliance runs (or will run) under TCG: everything in it is several times slower."""
    return bool(_accel["tcg"]) or not os.path.exists("/dev/kvm")


def expected_launch_seconds() -> float:
    return EXPECTED_LAUNCH["tcg" if software_emulation() else "kvm"]
