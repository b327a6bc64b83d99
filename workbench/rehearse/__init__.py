"""Boot rehearsal: run the parser for real, on a throwaway copy of the image booted as ECS would boot it, and compare
what it changed with the simulation and the live network with the os.conf.

A qcow2 overlay of the image (the image itself is never written) gets the parser as
inject would install it, the os.conf where the platform puts it, and a live-network probe
(assets/probe/, only ever in the overlay). qemu boots it on ECS's virtual hardware (virtio-blk
or NVMe disk, virtio-net NICs with the os.conf's MACs, BIOS or UEFI) with the image's own
bootloader when it has one whose configuration puts the console on the serial port, otherwise
directly with its default entry's kernel, initramfs and command line; either way with its own
init and shell, NICs whose network reaches nothing outside, and the serial console captured.
The parser's marker on the console says when it is done, the probe's report what the network
looks like; the guest is then shut down, the overlay read back, and what really changed is
compared with what the simulation predicted, file by file, and the live network with the
os.conf's intent, item by item. A boot that fails gets one sentence saying why (explain.py).

One appliance does it all: qemu-nbd serves the overlay on a private socket to the appliance (which installs the
parser, then waits with nothing mounted) and to the booted guest; afterwards the appliance drops its caches and
reads the disk back, so a rehearsal costs one appliance launch, not two.

boot.py chooses how to boot, vm.py runs the machines, compare.py compares the files, live.py the network.
"""

from __future__ import annotations

import tempfile
import threading
from typing import Callable

from workbench.image import bootinfo
from workbench.image.bootinfo import boot_mode_of
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestSession, Progress
from workbench.image.tree import GuestTree
from workbench.inject.plan import FIRST, build_plan
from workbench.inject.writer import apply_plan, close_first_partition, open_first_partition
from workbench.osconf import decode_password, parse_text
from workbench.netnames import expected_names
from workbench.rehearse.boot import (BOOT_MODES, DISKS, FIRMWARES, bios_boot_code, choose_boot, choose_firmware,
                                     direct_boot, firmware_args, grub_cmdline, ovmf, serial_boot_config)
from workbench.rehearse.explain import failure_sentence
from workbench.rehearse.live import compare_network, network_rows, parse_probe
from workbench.rehearse.probe import install_probe
from workbench.rehearse.compare import compare, tree_changes
from workbench.rehearse.result import SCHEMA, STOPPED, RehearsalError, RehearsalResult
from workbench.rehearse.vm import make_overlay, nbd_export, network_notes, stop_if
from workbench.rehearse.vm import boot as vm_boot
from workbench.simulate import Change, ChangeSet, simulate

PULLS = [("/etc", []), ("/var/lib/os-conf", [])]


def rehearse(image: str, osconf_text: str, flavor: str | None = None, script: str | None = None,
             timeout: float = 600, boot: str = "auto", progress: Callable[[Progress], None] | None = None,
             console: Callable[[str], None] | None = None, notify: Callable[[str], None] | None = None,
             cancel: threading.Event | None = None, allow_backing: bool = False, disk: str = "virtio",
             firmware: str = "auto") -> RehearsalResult:
    """cancel: set it to stop the rehearsal (the guest is killed, everything made for it removed); it is looked at
    between steps and while the guest boots, not during the appliance's launch.
    disk: the system disk's bus (virtio-blk, or nvme as on newer ECS families); firmware: bios, uefi, or auto (from
    the image's boot mode)."""
    progress = progress or (lambda p: None)
    console = console or (lambda line: None)
    for value, known, what in ((boot, BOOT_MODES, "boot mode"), (disk, DISKS, "disk bus"),
                               (firmware, FIRMWARES, "firmware")):
        if value not in known:
            raise RehearsalError(f"unknown {what} {value!r}: use one of {', '.join(known)}")
    if firmware == "uefi" and ovmf() is None:
        firmware_args("uefi", "")  # refused before anything is launched
    facts = preflight(image, allow_backing)
    values, _ = parse_text(osconf_text)
    try:
        password = decode_password(values["password"]) if values.get("password") else None
    except ValueError:
        password = None
    notes: list[str] = []
    bios_code = bios_boot_code(facts)
    has_esp = any(p.is_esp for p in facts.partitions)
    if boot == "bootloader" and not bios_code and (firmware == "bios" or (firmware == "auto" and not has_esp)):
        choose_boot(boot, False, None)  # refused before anything is launched or written
    if boot == "bootloader" and firmware == "uefi" and not has_esp:
        raise RehearsalError("the image's bootloader cannot be rehearsed by UEFI: it has no EFI system partition")
    with tempfile.TemporaryDirectory(prefix="wb-rehearse-") as tmp:
        overlay = make_overlay(facts, tmp)
        ov = ImageFacts(**{**facts.__dict__, "path": overlay, "format": "qcow2", "backing_chain": [image]})
        # One appliance for the whole rehearsal: it reaches the overlay through an NBD server, which the
        # booted guest shares while the appliance waits, so the read-back needs no second launch.
        progress(Progress("Installing the parser in a throwaway overlay", None))
        with nbd_export(tmp, overlay) as sock, GuestSession(ov, progress, notify, writable_path=overlay,
                                                               nbd_socket=sock) as s:
            # 1. install the parser, the os.conf and the live-network probe in the overlay; read the state before
            report = s.open(pull="system")
            stop_if(cancel)
            if report.os is None:
                raise RehearsalError("no Linux root file system was found in the image")
            plan = build_plan(ov, report, flavor, script, [], osconf_text)
            apply_plan(s, plan, ov, report.tree)
            progress(Progress("Reading the image's boot configuration", None))
            bf = bootinfo.collect(s, report.tree, ov, report.mounts)
            probe = install_probe(s, report.os.init)
            if not probe:
                notes.append(f"the live network could not be observed: the probe does not know how to start under "
                             f"{report.os.init or 'an unknown init system'}")
            progress(Progress("Reading the state before the boot", None))
            before = GuestTree()
            s.pull(before, notes, trees=PULLS)
            fw, fw_why = choose_firmware(firmware, boot_mode_of(facts, bf))
            fw_args = firmware_args(fw, tmp)
            # a loader the firmware starts: BIOS boot code, or the UEFI fallback loader (choose_boot refuses a
            # --boot bootloader without one)
            has_code = boot != "kernel" and (bool(bf.fallback_loader) if fw == "uefi" else bios_code)
            mode, why = choose_boot(boot, has_code, serial_boot_config(s) if has_code else None, fw)
            direct: list[str] = []
            cmdline = None
            if mode == "kernel":
                progress(Progress("Taking the image's kernel and initramfs out", None))
                kernel, direct, more = direct_boot(s, tmp, report.root_device, bf, grub_cmdline(before))
                cmdline = direct[-1]
                notes.append(f"{why}; booted {kernel} (kernel and initramfs read from the image) with: {cmdline}")
                notes += more
            else:
                cmdline = bf.cmdline or None
                notes.append(f"booted with {why}")
            notes.append(f"firmware: {'UEFI (OVMF)' if fw == 'uefi' else 'BIOS (SeaBIOS)'}, {fw_why}; system disk on "
                         f"{'NVMe' if disk == 'nvme' else 'virtio-blk'}; NICs virtio-net with the os.conf's MACs")
            notes += network_notes(values)
            s.unmount_all()
            s.sync()
            # 2. the simulation of the same parser on the same files, with the NIC names this guest will use
            progress(Progress("Simulating the same parser", None))
            parser = plan.writes[0].content.decode()
            sim = simulate(before, osconf_text, parser, plan.flavor, plan.first_mountpoint, plan.first_uuid,
                           plan.first_label, nic_names=expected_names(before, cmdline or ""))
            # 3. the boot, on the same disk; the appliance has nothing mounted meanwhile
            progress(Progress("Booting the image", None))
            stop_if(cancel)
            outcome = vm_boot(tmp, f"file=nbd+unix:///?socket={sock},format=raw,cache=unsafe", s.accel, direct,
                              values, timeout, console, cancel=cancel, disk=disk, firmware=fw_args, probe=probe)
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
        live = parse_probe(outcome.probe_data, probe) if probe else None
        failure = failure_sentence(outcome.lines, outcome.stage, outcome.booted, outcome.finished,
                                   outcome.timed_out or outcome.fatal is not None, bf, disk, cmdline)
        unobserved = failure or ("the probe could not be installed" if not probe else "")
        return RehearsalResult(real, sim, mismatches, removed, outcome.finished, parser_log, outcome.lines[-40:],
                               outcome.hostname, accel, outcome.seconds, notes, mode, outcome.booted, outcome.stage,
                               live, compare_network(values, live, unobserved), failure, disk, fw, cmdline,
                               outcome.probe_seconds, network_rows(values, live) if live and live.complete else [])


__all__ = ["RehearsalResult", "RehearsalError", "rehearse", "compare", "tree_changes", "SCHEMA", "STOPPED"]
