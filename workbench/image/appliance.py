"""Launching the libguestfs appliance: KVM when it works, TCG when it does not (said once, then remembered).

`/dev/kvm` can exist and still fail (nested virtualisation, a host that refuses
some MSRs): the first failed KVM launch switches this process to TCG for good.
"""

from __future__ import annotations

import os
import threading
from typing import Callable

from workbench.errors import GuestError

# The expected launch time drives the progress bar until the appliance answers.
EXPECTED_LAUNCH = {"kvm": 4.0, "tcg": 13.0}

_accel_lock = threading.Lock()
_accel: dict[str, object] = {"tcg": os.environ.get("WORKBENCH_FORCE_TCG") == "1", "announced": False}

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
