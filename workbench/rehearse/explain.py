"""Why a rehearsal failed, in one sentence, from what its serial console showed (and what the review knows).

The console is the guest's output: untrusted text, quoted through printable() and cut short.
"""

from __future__ import annotations

import re

from workbench.image.bootloader import cmdline_value
from workbench.text import printable

# (what it means, a console line that shows it), most specific first
PANIC_ROOT = re.compile(r"VFS: Unable to mount root fs|Cannot open root device")
NO_ROOT = re.compile(r"ALERT! .* does not exist|Gave up waiting for root|dracut-initqueue.*timeout|"
                     r"Could not boot\.|/dev/disk/by-\S+ does not exist|Waiting for root file system",
                     re.I)
PANIC = re.compile(r"Kernel panic - not syncing")
EMERGENCY = re.compile(r"You are in emergency mode|Entering emergency mode|Give root password for maintenance|"
                       r"Dropping to a shell|You are in rescue mode", re.I)
FAILED_UNIT = re.compile(r"\[FAILED\] Failed to (mount|start) .*|Dependency failed for .*|Timed out waiting for device .*")
PARSER_ERROR = re.compile(r"os-conf: (error: .*)")
PARSER_LINE = re.compile(r"os-conf: ")
UNFINISHED = re.compile(r"^\(workbench: the system is up")  # vm.py's line when the parser never said it was done
IO_STOP = re.compile(r"^\(workbench: the virtual machine stopped on an I/O error")  # vm.py's, from qemu's run state

STAGE_WORDS = {
    "firmware": "the firmware (nothing was printed: no bootloader ran)",
    "bootloader": "the bootloader (no kernel started)",
    "kernel": "the kernel (init never started)",
    "init": "init (the parser never ran)",
    "parser": "the parser (it never said it was done)",
    "parser finished": "the login prompt (the parser was done, the system never came up)",
    "login": "the network (the probe never reported)",
}


def _end(text: str) -> str:
    """text as the end of a sentence: one full stop, not two."""
    return text if text.endswith(".") else text + "."


def _last(pattern: re.Pattern, lines: list[str]) -> str | None:
    for line in reversed(lines):
        m = pattern.search(line)
        if m:
            return printable(line.strip(), 160)
    return None


def missing_disk_drivers(boot) -> list[str]:
    """Of virtio_blk and virtio_pci, what the default kernel has neither built in nor in its initramfs."""
    k = getattr(boot, "kernel", None) if boot is not None else None
    if k is None or k.initramfs is None:
        return []
    have = k.initramfs.modules()
    return [m for m in ("virtio_blk", "virtio_pci") if m not in have and k.has(m) != "built in"]


KERNEL_DEVICE = re.compile(r"^/dev/(sd[a-z]|hd[a-z]|xvd[a-z])\d*$")


def failure_sentence(lines: list[str], stage: str, booted: bool, finished: bool, timed_out: bool,
                     boot=None, disk: str = "virtio", cmdline: str | None = None) -> str | None:
    """One sentence saying why the boot did not get the image to a configured network, or None if it did.
    cmdline: the kernel command line the guest booted with, when known."""
    root = cmdline_value(cmdline or getattr(boot, "cmdline", "") or "", "root")
    if root and KERNEL_DEVICE.match(root):  # no driver can help: the name itself does not exist on virtio or NVMe
        bad_root = (f"root={printable(root, 60)} names a device that does not exist on ECS's "
                    f"{'NVMe' if disk == 'nvme' else 'virtio'} disk (see boot.kernel)")
    else:
        bad_root = None
    missing = missing_disk_drivers(boot)
    if disk == "nvme" and boot is not None and getattr(boot, "kernel", None) and boot.kernel.initramfs is not None \
            and "nvme" not in boot.kernel.initramfs.modules() and boot.kernel.has("nvme") != "built in":
        missing = ["nvme"]
    driver = (bad_root if bad_root else
              f"the initramfs lacks {', '.join(missing)} (see boot.initramfs-drivers)" if missing
              else "the driver for the disk is probably missing from the initramfs (see boot.initramfs-drivers)")
    io_stop = _last(IO_STOP, lines)
    if io_stop:
        return _end("the rehearsal could not go on: " + io_stop.strip("()").removeprefix("workbench: "))
    if not booted:
        return "qemu could not start the image at all: " + (_last(re.compile(r"\S"), lines) or "it printed nothing")
    panic_root = _last(PANIC_ROOT, lines)
    if panic_root:
        return _end(f"the kernel could not mount the root file system ({panic_root}): {driver}")
    no_root = _last(NO_ROOT, lines)
    if no_root and not finished:
        return _end(f"the root device never appeared ({no_root}): {driver}")
    panic = _last(PANIC, lines)
    if panic:
        return _end(f"the kernel panicked: {panic}")
    emergency = _last(EMERGENCY, lines)
    if emergency and not finished:
        cause = _last(FAILED_UNIT, lines)
        return _end(f"the boot stopped in an emergency shell ({emergency})" + (f" after: {cause}" if cause else ""))
    parser = _last(PARSER_ERROR, lines)
    if parser and (not finished or any("os-conf: failed;" in line for line in lines)):
        return _end(f"the parser failed: {parser}")
    if not finished and not timed_out and _last(UNFINISHED, lines):
        said = _last(PARSER_LINE, lines)
        return _end(f"the parser started but never said it was done (its last line: {said})" if said else
                    "nothing started the parser: the system came up to a login prompt without a line from os-conf "
                    "(the image's init system does not run it)")
    if timed_out:
        where = STAGE_WORDS.get(stage, stage)
        last = _last(re.compile(r"\S"), lines)
        return _end(f"the boot did not get past {where} in time" + (f"; the console's last line: {last}" if last else ""))
    return None
