"""The guest itself on ECS: other platforms' agents that misbehave there, and room for the first boot."""

from __future__ import annotations

import json
from functools import lru_cache

from workbench.checks import Check, CheckResult, Context, check
from workbench.enablement import SYSTEMD_DIRS, enabled_anywhere
from workbench.paths import assets_dir
from workbench.units import human_size

FULL = 0.95  # used fraction over which a file system is too full for a first boot
MIN_INODES = 1000


@lru_cache(maxsize=1)
def agents() -> list[dict]:
    return json.loads((assets_dir() / "agents.json").read_text(encoding="utf-8"))["agents"]


@check("guest.agents", "No other platform's agents enabled", "guest", "medium", needs_guest=True,
       reads=(*SYSTEMD_DIRS, "/etc/init.d", "/etc/rc.d", "/etc/runlevels"))
def agents_check(c: Check, ctx: Context) -> CheckResult:
    evidence, targets = [], []
    for agent in agents():
        found = enabled_anywhere(ctx.tree, agent)
        if found:
            evidence += [f"{agent['name']}: {e.how} ({agent['why']})" for e in found]
            targets += [e.target for e in found if e.target not in targets]
    if evidence:
        return c.result("fail", f"{len(evidence)} agent(s) of other hypervisors or clouds are enabled: on ECS they "
                                "fail, hang or fight the platform.", evidence,
                        "Disable them (fix.remove-agents disables their units; uninstall the packages later).",
                        offers={"fix.remove-agents": targets})
    return c.result("pass", "No agent of another hypervisor or cloud is enabled.")


@check("guest.disk-space", "Room for the first boot", "guest", "high", needs_guest=True)
def disk_space(c: Check, ctx: Context) -> CheckResult:
    bf = getattr(ctx.guest, "boot", None)
    if bf is None or not bf.space:
        return c.result("warn", "Not reviewed: the free space of the root and /boot file systems could not be read.", incomplete=True)
    evidence, full = [], []
    for mountpoint, st in sorted(bf.space.items()):
        size = st["blocks"] * st["frsize"]
        used = 1 - st["bavail"] / st["blocks"] if st["blocks"] else 1
        inodes = f", {st['favail']} of {st['files']} inodes free" if st["files"] else ""
        evidence.append(f"{mountpoint}: {used:.0%} used of {human_size(size)}{inodes}")
        if used > FULL:
            full.append(f"{mountpoint} is {used:.0%} full")
        if st["files"] and st["favail"] < MIN_INODES:
            full.append(f"{mountpoint} has only {st['favail']} free inodes")
    if full:
        return c.result("fail", "The first boot needs room for logs, new host keys and configuration: "
                                + "; ".join(full) + ".", evidence,
                        "Free space in the image, or grow the file system (virt-resize --expand, or growpart and "
                        "resize2fs) before import.")
    return c.result("pass", "The root and /boot file systems have room for the first boot.", evidence)
