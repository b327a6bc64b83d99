"""Boot rehearsal: run the parser for real, on a throwaway copy of the image, and compare with the simulation.

A qcow2 overlay of the image (the image itself is never written) gets the parser as
inject would install it and the os.conf where the platform puts it; qemu boots it with
the image's own bootloader when it has one in its first sector whose configuration puts
the console on the serial port, otherwise directly with the image's own kernel and
initramfs (read out of the image); either way with its own init and shell, NICs whose
network reaches nothing outside, and the serial console captured. The parser's marker
on the console says when it is done; the guest is then shut down, the overlay read back, and what really changed is
compared with what the simulation predicted, file by file.

One appliance does it all: qemu-nbd serves the overlay on a private socket to the appliance (which installs the
parser, then waits with nothing mounted) and to the booted guest; afterwards the appliance drops its caches and
reads the disk back, so a rehearsal costs one appliance launch, not two.

boot.py chooses how to boot, vm.py runs the machines, compare.py compares.
"""

from __future__ import annotations

import tempfile
import threading
from typing import Callable

from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestSession, Progress
from workbench.image.tree import GuestTree
from workbench.inject.plan import FIRST, build_plan
from workbench.inject.writer import apply_plan, close_first_partition, open_first_partition
from workbench.osconf import decode_password, parse_text
from workbench.rehearse.boot import (BOOT_MODES, bios_boot_code, choose_boot, direct_boot, grub_cmdline,
                                     serial_boot_config)
from workbench.rehearse.compare import compare, tree_changes
from workbench.rehearse.result import SCHEMA, STOPPED, RehearsalError, RehearsalResult
from workbench.rehearse.vm import make_overlay, nbd_export, stop_if
from workbench.rehearse.vm import boot as vm_boot
from workbench.simulate import Change, ChangeSet, simulate

PULLS = [("/etc", []), ("/var/lib/os-conf", [])]


def rehearse(image: str, osconf_text: str, flavor: str | None = None, script: str | None = None,
             timeout: float = 600, boot: str = "auto", progress: Callable[[Progress], None] | None = None,
             console: Callable[[str], None] | None = None, notify: Callable[[str], None] | None = None,
             cancel: threading.Event | None = None, allow_backing: bool = False) -> RehearsalResult:
    """cancel: set it to stop the rehearsal (the guest is killed, everything made for it removed); it is looked at
    between steps and while the guest boots, not during the appliance's launch."""
    progress = progress or (lambda p: None)
    console = console or (lambda line: None)
    facts = preflight(image, allow_backing)
    values, _ = parse_text(osconf_text)
    try:
        password = decode_password(values["password"]) if values.get("password") else None
    except ValueError:
        password = None
    notes: list[str] = []
    if boot not in BOOT_MODES:
        raise RehearsalError(f"unknown boot mode {boot!r}: use one of {', '.join(BOOT_MODES)}")
    has_code = boot != "kernel" and bios_boot_code(facts)
    if boot == "bootloader" and not has_code:
        choose_boot(boot, has_code, None)  # refused before anything is launched or written
    with tempfile.TemporaryDirectory(prefix="wb-rehearse-") as tmp:
        overlay = make_overlay(facts, tmp)
        ov = ImageFacts(**{**facts.__dict__, "path": overlay, "format": "qcow2", "backing_chain": [image]})
        # One appliance for the whole rehearsal: it reaches the overlay through an NBD server, which the
        # booted guest shares while the appliance waits, so the read-back needs no second launch.
        progress(Progress("Installing the parser in a throwaway overlay", None))
        with nbd_export(tmp, overlay) as sock, GuestSession(ov, progress, notify, writable_path=overlay,
                                                               nbd_socket=sock) as s:
            # 1. install the parser and the os.conf in the overlay; read the state before the boot
            report = s.open(pull="system")
            stop_if(cancel)
            if report.os is None:
                raise RehearsalError("no Linux root file system was found in the image")
            plan = build_plan(ov, report, flavor, script, [], osconf_text)
            apply_plan(s, plan, ov, report.tree)
            progress(Progress("Reading the state before the boot", None))
            before = GuestTree()
            s.pull(before, notes, trees=PULLS)
            mode, why = choose_boot(boot, has_code, serial_boot_config(s) if has_code else None)
            direct: list[str] = []
            if mode == "kernel":
                progress(Progress("Taking the image's kernel and initramfs out", None))
                kernel, direct = direct_boot(s, tmp, report.root_device, grub_cmdline(before))
                notes.append(f"{why}; booted {kernel} (kernel and initramfs read from the image) with: {direct[-1]}")
            else:
                notes.append(f"booted with {why}")
            s.unmount_all()
            s.sync()
            # 2. the simulation of the same parser on the same files
            progress(Progress("Simulating the same parser", None))
            parser = plan.writes[0].content.decode()
            sim = simulate(before, osconf_text, parser, plan.flavor, plan.first_mountpoint, plan.first_uuid,
                           plan.first_label)
            # 3. the boot, on the same disk; the appliance has nothing mounted meanwhile
            progress(Progress("Booting the image", None))
            stop_if(cancel)
            outcome = vm_boot(tmp, f"file=nbd+unix:///?socket={sock},format=raw,cache=unsafe", s.accel, direct,
                              values, timeout, console, cancel=cancel)
            # 4. read back what the guest left on the disk, past the appliance's caches
            progress(Progress("Reading back what the boot changed", None))
            s.remount_readonly(report.mounts)
            after = GuestTree()
            s.pull(after, notes, trees=PULLS, files=["/var/log/os-conf.log"], probes=[])
            root, mounted = open_first_partition(s, ov, report.os.first_partition_mountpoint, readonly=True)
            conf_path = (root.rstrip("/") if root != "/" else "") + "/aliyun_custom_image/os.conf"
            removed = not s.exists(conf_path)
            if mounted:
                close_first_partition(s, root)
            accel = s.accel
        real_changes = tree_changes(before, after)
        first_display = plan.display_path(FIRST + "/aliyun_custom_image/os.conf")
        if removed:
            real_changes.append(Change(first_display, "delete", osconf_text, None))
        parser_log = after.read_text("/var/log/os-conf.log", 1 << 20) or ""
        real = ChangeSet(plan.flavor, 0 if "done; os.conf removed" in parser_log else 1, real_changes, [],
                         parser_log, outcome.seconds, sim.first_partition_dir)
        mismatches = compare(real_changes, sim.changes, password)
        if not outcome.booted:
            notes.append("qemu could not boot the image: "
                         + (" / ".join(outcome.lines[-3:]) or "it printed nothing on the console"))
        return RehearsalResult(real, sim, mismatches, removed, outcome.finished, parser_log, outcome.lines[-40:],
                               outcome.hostname, accel, outcome.seconds, notes, mode, outcome.booted, outcome.stage)


__all__ = ["RehearsalResult", "RehearsalError", "rehearse", "compare", "tree_changes", "SCHEMA", "STOPPED"]
