"""The rehearsal's live-network probe in the overlay (never in the image): the script, with a token made for this run,
and what starts it once the network is up, the way the image's init system starts things.

- systemd: a unit wanted by multi-user.target, after the parser and the network stacks' services.
- sysvinit: an LSB script linked S99 in runlevels 2-5; where Debian's startpar runs only what insserv's order file
  lists (/etc/init.d/.depend.start), the probe is added to it last, as insserv would add a script that needs $all.
- OpenRC: a service in the default runlevel, ordered after the parser, the network and sshd, needing nothing
  (Debian's OpenRC has no `net` service: a hard dependency on it would stop the probe from starting).
- runit: a service directory linked into the default runsvdir whose run script asks runsv not to restart it.
- busybox init: a `::once:` entry in /etc/inittab (run after every sysinit entry, that is after rcS).
"""

from __future__ import annotations

import re
import secrets

from workbench.paths import assets_dir
from workbench.rehearse.live import CHANNEL, TOKEN

PROBE_PATH = "/var/lib/workbench-rehearsal/probe.sh"
UNIT = "wb-rehearsal-probe"
WAIT = 45  # seconds the probe gives the network and sshd to come up
DEPEND_START = "/etc/init.d/.depend.start"
RUNSVDIRS = ("/etc/runit/runsvdir/default", "/etc/service", "/var/service")
MAX_CONFIG = 256 << 10  # bytes of an order file or inittab read to add the probe to it
RUNIT_RUN = f"""#!/bin/sh
# workbench rehearsal probe (only in a rehearsal's throwaway overlay): runs once; 'o' tells runsv not to restart it
printf o >supervise/control 2>/dev/null
exec /bin/sh {PROBE_PATH}
"""


def probe_files(init: str, token: str, config: str | None = None) -> list[tuple[str, str, int, str | None]]:
    """(path, content, mode, link target) to put in the overlay for the image's init system: the probe (with this
    rehearsal's token) and what starts it once the network is up. config: the file the probe is added to where the
    init system needs one (sysvinit: .depend.start when the image has one; busybox: /etc/inittab). Empty when the
    init system is not one the probe knows how to join."""
    if not TOKEN.fullmatch(token):
        raise ValueError("the probe's token is 32 hexadecimal digits")
    d = assets_dir() / "probe"
    script = (d / "wb-rehearsal-probe.sh").read_text().replace("@@WAIT@@", str(WAIT)).replace(
        "@@TOKEN@@", token).replace("@@CHANNEL@@", CHANNEL)
    files = [(PROBE_PATH, script, 0o644, None)]
    if init == "systemd":
        unit = (d / "wb-rehearsal-probe.service").read_text().replace("@@PROBE@@", PROBE_PATH)
        path = f"/etc/systemd/system/{UNIT}.service"
        return files + [(path, unit, 0o644, None),
                        (f"/etc/systemd/system/multi-user.target.wants/{UNIT}.service", "", 0, path)]
    if init == "sysvinit":
        text = (d / "wb-rehearsal-probe.lsb").read_text().replace("@@PROBE@@", PROBE_PATH)
        path = f"/etc/init.d/{UNIT}"
        files += [(path, text, 0o755, None)] + [(f"/etc/rc{n}.d/S99{UNIT}", "", 0, f"../init.d/{UNIT}")
                                                for n in (2, 3, 4, 5)]
        return files + ([(DEPEND_START, depend_last(config), 0o644, None)] if config is not None else [])
    if init == "openrc":
        text = (d / "wb-rehearsal-probe.openrc").read_text().replace("@@PROBE@@", PROBE_PATH)
        path = f"/etc/init.d/{UNIT}"
        return files + [(path, text, 0o755, None), (f"/etc/runlevels/default/{UNIT}", "", 0, path)]
    if init.startswith("runit:"):
        service = f"/etc/sv/{UNIT}"
        return files + [(f"{service}/run", RUNIT_RUN, 0o755, None),
                        (f"{init[len('runit:'):]}/{UNIT}", "", 0, service)]
    if init == "busybox" and config is not None:
        return files + [("/etc/inittab", config.rstrip("\n") + f"\n::once:/bin/sh {PROBE_PATH}\n", 0o644, None)]
    return []


def depend_last(text: str) -> str:
    """startpar's order file (insserv's .depend.start) with the probe added as its last target: after every other."""
    lines = text.splitlines()
    at = next((i for i, ln in enumerate(lines) if ln.startswith("TARGETS =")), None)
    if at is None:
        raise ValueError(f"{DEPEND_START} has no TARGETS line")
    targets = [t for t in lines[at][len("TARGETS ="):].split() if t != UNIT]
    lines[at] = "TARGETS = " + " ".join(targets + [UNIT])
    lines = [ln for ln in lines if not ln.startswith(f"{UNIT}:")] + [f"{UNIT}: " + " ".join(targets)]
    return "\n".join(lines) + "\n"


def _small(s, path: str) -> str | None:
    if not s.is_file(path, follow=False) or s.filesize(path) > MAX_CONFIG:
        return None
    return s.read_file(path).decode("utf-8", "replace")


def joins(s, init: str | None) -> tuple[str, str | None]:
    """How the probe joins this guest's boot: (init style for probe_files, the file it is added to or None)."""
    init = init or ""
    if init == "sysvinit":
        return init, _small(s, DEPEND_START) if s.exists(DEPEND_START) else None
    if init == "busybox":
        return init, _small(s, "/etc/inittab")
    if init in ("systemd", "openrc"):
        return init, None
    target = s.realpath("/sbin/init") or ""
    runsvdir = next((d for d in RUNSVDIRS if s.is_dir(d)), None)
    if re.search(r"/runit(-init)?$", target) and runsvdir:
        return f"runit:{runsvdir}", None
    return init, None


def install_probe(s, init: str | None) -> str:
    """Put the live-network probe in the overlay (never in the image), with a token made for this rehearsal: the
    token, or "" when the probe cannot join the image's init system."""
    token = secrets.token_hex(16)
    style, config = joins(s, init)
    try:
        files = probe_files(style, token, config)
    except ValueError:
        return ""
    for path, content, mode, target in files:
        s.mkdir_p(path.rsplit("/", 1)[0] or "/")
        if target is not None:
            if s.exists(path) or s.is_link(path):
                s.remove(path)
            s.symlink(target, path)
        else:
            s.write_file(path, content.encode())
            s.chmod(mode, path)
    return token if files else ""
