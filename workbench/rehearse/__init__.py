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

The guest is then booted again from the same overlay, as an instance is restarted (reboots.py): once with no
os.conf (nothing may be re-applied, the network must stay), once with an os.conf that names only a new password
and host name (only those may change); each boot is reported (`boots`). A simulation that did not run to its
end predicts nothing: the rehearsal then fails and says why, it never compares the boot with an empty set.

boot.py chooses how to boot, vm.py runs the machines, compare.py compares the files, live.py the network,
reboots.py the later boots.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Callable

from workbench.changes import Change
from workbench.image import bootinfo
from workbench.image.bootinfo import boot_mode_of
from workbench.image.preflight import ImageFacts, preflight
from workbench.image.session import GuestSession, Progress
from workbench.image.tree import GuestTree
from workbench.inject.plan import FIRST, build_plan
from workbench.inject.writer import apply_plan, close_first_partition, open_first_partition
from workbench.inits import udev_at_boot
from workbench.netnames import expected_names, nics_at_boot, os_conf_macs
from workbench.osconf import decode_password, parse_text
from workbench.parsers import script_for
from workbench.rehearse.boot import (BOOT_MODES, DISKS, FIRMWARES, bios_boot_code, choose_boot, choose_firmware,
                                     direct_boot, firmware_args, grub_cmdline, ovmf, serial_boot_config)
from workbench.rehearse.compare import compare, tree_changes
from workbench.rehearse.explain import failure_sentence
from workbench.rehearse.live import compare_network, network_rows, parse_probe
from workbench.rehearse.probe import install_probe
from workbench.rehearse.reboots import KINDS as LATER, later_boots, why_not
from workbench.rehearse.result import SCHEMA, STOPPED, BootRecord, RehearsalError, RehearsalResult
from workbench.rehearse.vm import make_overlay, nbd_export, network_notes, stop_if
from workbench.rehearse.vm import boot as vm_boot
from workbench.simulate import ChangeSet, SimulationError, simulate
from workbench.text import printable

PULLS = [("/etc", []), ("/var/lib/os-conf", [])]


@dataclass(frozen=True)
class RehearsalRequest:
    """What to rehearse: the os.conf, the parser (a flavour or the operator's script), and how ECS would boot it."""
    osconf_text: str
    flavor: str | None = None
    script: str | None = None
    boot: str = "auto"  # auto | bootloader | kernel
    disk: str = "virtio"  # the system disk's bus: virtio-blk, or NVMe as on newer ECS families
    firmware: str = "auto"  # bios | uefi | auto (from the image's boot mode)
    timeout: float = 600
    allow_backing: bool = False
    # the later boots from the same overlay (reboots.py): "reboot" (no os.conf), "change" (an os.conf with only a
    # password and a host name); () boots once, for a rehearsal in half the time
    later: tuple[str, ...] = LATER


@dataclass
class RehearsalHooks:
    """Who hears about the rehearsal: its phases, the guest's console lines, notices; cancel stops it (the guest
    is killed, everything made for it removed; looked at between steps and while the guest boots)."""
    progress: Callable[[Progress], None] | None = None
    console: Callable[[str], None] | None = None
    notify: Callable[[str], None] | None = None
    cancel: threading.Event | None = None

    def __post_init__(self) -> None:
        self.progress = self.progress or (lambda p: None)
        self.console = self.console or (lambda line: None)


@dataclass
class _Prepared:
    """What the first half of a rehearsal (in the appliance, before the boot) hands to the boot."""
    plan: object
    script: object
    before: GuestTree
    boot_facts: object
    probe: str  # the probe's token for this run, "" when it could not join the boot
    firmware: str
    mode: str
    direct: list[str]
    cmdline: str | None
    notes: list[str] = field(default_factory=list)


def _refuse_early(req: RehearsalRequest, facts: ImageFacts) -> None:
    """What can be refused before anything is launched or written."""
    for value, known, what in ((req.boot, BOOT_MODES, "boot mode"), (req.disk, DISKS, "disk bus"),
                               (req.firmware, FIRMWARES, "firmware")):
        if value not in known:
            raise RehearsalError(f"unknown {what} {value!r}: use one of {', '.join(known)}")
    if req.firmware == "uefi" and ovmf() is None:
        firmware_args("uefi", "")  # says why
    has_esp = any(p.is_esp for p in facts.partitions)
    if req.boot == "bootloader" and not bios_boot_code(facts) and (
            req.firmware == "bios" or (req.firmware == "auto" and not has_esp)):
        choose_boot(req.boot, False, None)  # says why
    if req.boot == "bootloader" and req.firmware == "uefi" and not has_esp:
        raise RehearsalError("the image's bootloader cannot be rehearsed by UEFI: it has no EFI system partition")


def _prepare(s: GuestSession, ov: ImageFacts, facts: ImageFacts, req: RehearsalRequest, hooks: RehearsalHooks,
             tmp: str) -> tuple[_Prepared, object]:
    """In the appliance: the parser, the os.conf and the probe installed in the overlay; the state before the
    boot read; how to boot chosen (and, for a direct boot, the kernel taken out)."""
    report = s.open(pull="system")
    stop_if(hooks.cancel)
    if report.os is None:
        raise RehearsalError("no Linux root file system was found in the image")
    script = script_for(ov, report, req.flavor, req.script)
    plan = build_plan(ov, report, script, [], req.osconf_text)
    apply_plan(s, plan, ov, report.tree)
    hooks.progress(Progress("Reading the image's boot configuration", None))
    bf = bootinfo.collect(s, report.tree, ov, report.mounts)
    notes: list[str] = []
    probe = install_probe(s, report.os.init)
    if not probe:
        notes.append(f"the live network could not be observed: the probe does not know how to start under "
                     f"{report.os.init or 'an unknown init system'}")
    hooks.progress(Progress("Reading the state before the boot", None))
    before = GuestTree()
    s.pull(before, notes, trees=PULLS)
    fw, fw_why = choose_firmware(req.firmware, boot_mode_of(facts, bf))
    # a loader the firmware starts: BIOS boot code, or the UEFI fallback loader
    has_code = req.boot != "kernel" and (bool(bf.fallback_loader) if fw == "uefi" else bios_boot_code(facts))
    mode, why = choose_boot(req.boot, has_code, serial_boot_config(s) if has_code else None, fw)
    direct: list[str] = []
    if mode == "kernel":
        hooks.progress(Progress("Taking the image's kernel and initramfs out", None))
        kernel, direct, more = direct_boot(s, tmp, report.root_device, bf, grub_cmdline(before),
                                             pvh=s.accel == "tcg" and fw == "bios")  # OVMF loads no ELF
        cmdline = direct[-1]
        notes.append(f"{why}; booted {kernel} (kernel and initramfs read from the image) with: {cmdline}")
        notes += more
    else:
        cmdline = bf.cmdline or None
        notes.append(f"booted with {why}")
    notes.append(f"firmware: {'UEFI (OVMF)' if fw == 'uefi' else 'BIOS (SeaBIOS)'}, {fw_why}; system disk on "
                 f"{'NVMe' if req.disk == 'nvme' else 'virtio-blk'}; NICs virtio-net with the os.conf's MACs")
    notes += network_notes(parse_text(req.osconf_text)[0])
    return _Prepared(plan, script, before, bf, probe, fw, mode, direct, cmdline, notes), report


def _read_back(s: GuestSession, ov: ImageFacts, report, notes: list[str]) -> tuple[GuestTree, bool]:
    """After the boot, past the appliance's caches: the parser's files, and whether os.conf is gone."""
    s.remount_readonly(report.mounts)
    after = GuestTree()
    s.pull(after, notes, trees=PULLS, files=["/var/log/os-conf.log"], probes=[])
    root, mounted = open_first_partition(s, ov, report.os.first_partition_mountpoint, readonly=True)
    conf_path = (root.rstrip("/") if root != "/" else "") + "/aliyun_custom_image/os.conf"
    removed = not s.exists(conf_path)
    if mounted:
        close_first_partition(s, root)
    return after, removed


class _Machine:
    """The rehearsal's guest between boots (reboots.Machine): booted from the NBD-served overlay while the appliance
    waits with nothing mounted; read back, or given an os.conf, by the appliance afterwards."""

    def __init__(self, s: GuestSession, ov: ImageFacts, report, prep: _Prepared, req: RehearsalRequest,
                 hooks: RehearsalHooks, tmp: str, sock: str, values: dict):
        self.s, self.ov, self.report, self.prep, self.req, self.hooks = s, ov, report, prep, req, hooks
        self.tmp, self.sock, self.values, self.probe = tmp, sock, values, prep.probe
        self.firmware = firmware_args(prep.firmware, tmp)  # one NVRAM for every boot, as one instance has

    def boot(self, number: int):
        self.s.unmount_all()
        self.s.sync()
        stop_if(self.hooks.cancel)
        self.hooks.progress(Progress("Booting the image" if number == 1 else f"Booting the image again (boot "
                                                                              f"{number})", None))
        where = self.tmp if number == 1 else os.path.join(self.tmp, f"b{number}")  # its own sockets
        os.makedirs(where, exist_ok=True)
        if number > 1:
            self.hooks.console(f"(workbench: boot {number} of the same overlay)")
        return vm_boot(where, f"file=nbd+unix:///?socket={self.sock},format=raw,cache=unsafe", self.s.accel,
                       self.prep.direct, self.values, self.req.timeout, self.hooks.console, cancel=self.hooks.cancel,
                       disk=self.req.disk, firmware=self.firmware, probe=self.probe)

    def read_back(self) -> tuple[GuestTree, bool]:
        self.hooks.progress(Progress("Reading back what the boot changed", None))
        return _read_back(self.s, self.ov, self.report, self.prep.notes)

    def place(self, osconf_text: str) -> None:
        """The os.conf on the first partition, as the platform writes it (mounted by itself, read-write)."""
        self.s.unmount_all()
        self.s.mount(self.ov.first_partition.device, "/")
        self.s.mkdir_p("/aliyun_custom_image")
        self.s.write_file("/aliyun_custom_image/os.conf", osconf_text.encode())
        self.s.unmount_all()
        self.s.sync()

    def simulate(self, tree: GuestTree, osconf_text: str | None) -> tuple[ChangeSet, str | None]:
        self.hooks.progress(Progress("Simulating the same parser", None))
        return _simulate(tree, osconf_text, self.prep, os_conf_macs(self.values))

    def explain(self, outcome) -> str | None:
        return failure_sentence(outcome.lines, outcome.stage, outcome.booted, outcome.finished,
                                outcome.timed_out or outcome.fatal is not None, self.prep.boot_facts, self.req.disk,
                                self.prep.cmdline)

    def conf_path(self) -> str:
        return self.prep.plan.display_path(FIRST + "/aliyun_custom_image/os.conf")


def _simulate(tree: GuestTree, osconf_text: str | None, prep: _Prepared,
              macs: list[str] | None = None) -> tuple[ChangeSet, str | None]:
    """The simulation of the same parser on the same files, with the NICs this guest boots with (macs: qemu gives
    it the first os.conf's at every boot, whatever a later os.conf says; named as the image names them, which the
    tree read before the first boot says, with its probes); and why it is no prediction when it did not run to its
    end (then nothing may be compared with it)."""
    names = expected_names(prep.before, prep.cmdline or "")
    nics = nics_at_boot(names, macs, tree, udev_at_boot(prep.script.init, tree)) if macs else None
    try:
        sim = simulate(tree, osconf_text, prep.script, prep.plan.first_mountpoint, nic_names=names, nics=nics)
    except SimulationError as e:
        return ChangeSet(prep.plan.flavor, None, log=str(e)), f"the simulation could not run: {e}"
    if sim.exit_code == 0:
        return sim, None
    last = next((ln.strip() for ln in reversed(sim.log.splitlines()) if ln.strip()), "it printed nothing")
    how = "was stopped or not trusted" if sim.exit_code is None else f"exited with {sim.exit_code}"
    return sim, f"the simulation of the same parser {how}: {printable(last, 300)}"


def rehearse(image: str, req: RehearsalRequest, hooks: RehearsalHooks | None = None) -> RehearsalResult:
    """Boot a throwaway overlay of IMAGE with the parser and the os.conf, as ECS would boot it; compare what the
    parser changed with the simulation, and the live network with the os.conf; then boot it again as req.later
    asks (reboots.py)."""
    hooks = hooks or RehearsalHooks()
    facts = preflight(image, req.allow_backing)
    _refuse_early(req, facts)
    for kind in req.later:
        if kind not in LATER:
            raise RehearsalError(f"unknown later boot {kind!r}: use {', '.join(LATER)}")
    values, _ = parse_text(req.osconf_text)
    with tempfile.TemporaryDirectory(prefix="wb-rehearse-") as tmp:
        overlay = make_overlay(facts, tmp)
        ov = ImageFacts(**{**facts.__dict__, "path": overlay, "format": "qcow2", "backing_chain": [image]})
        # One appliance for the whole rehearsal: it reaches the overlay through an NBD server, which the
        # booted guest shares while the appliance waits, so the read-back needs no second launch.
        hooks.progress(Progress("Installing the parser in a throwaway overlay", None))
        with nbd_export(tmp, overlay) as sock, GuestSession(ov, hooks.progress, hooks.notify, writable_path=overlay,
                                                               nbd_socket=sock) as s:
            prep, report = _prepare(s, ov, facts, req, hooks, tmp)
            machine = _Machine(s, ov, report, prep, req, hooks, tmp, sock, values)
            s.unmount_all()
            sim, sim_failure = machine.simulate(prep.before, req.osconf_text)
            outcome = machine.boot(1)
            after, removed = machine.read_back()
            result = _result(req, values, prep, sim, outcome, after, removed, s.accel, sim_failure)
            if req.later and not (result.booted and result.parser_finished):
                result.notes.append("the guest was not booted again: its first boot did not get through")
            elif req.later:
                result.boots += later_boots(machine, req.later, values, result.live, after,
                                            lambda: stop_if(hooks.cancel))
                result.notes += [why_not(b) for b in result.boots[1:] if not b.ok]
    return result


def _result(req: RehearsalRequest, values: dict, prep: _Prepared, sim: ChangeSet, outcome, after: GuestTree,
            removed: bool, accel: str, sim_failure: str | None = None) -> RehearsalResult:
    """What the boot did, beside what the simulation said and what the os.conf asked for. A simulation that did not
    run to its end (sim_failure) predicts nothing: the files are not compared, and the rehearsal fails."""
    try:
        password = decode_password(values["password"]) if values.get("password") else None
    except ValueError:
        password = None
    notes = prep.notes
    real_changes = tree_changes(prep.before, after)
    if removed:
        real_changes.append(Change(prep.plan.display_path(FIRST + "/aliyun_custom_image/os.conf"), "delete",
                                   req.osconf_text, None))
    parser_log = after.read_text("/var/log/os-conf.log", 1 << 20) or ""
    real = ChangeSet(prep.plan.flavor, 0 if "done; os.conf removed" in parser_log else 1, real_changes, [],
                     parser_log, outcome.seconds, sim.first_partition_dir)
    if sim_failure:
        mismatches = [f"nothing was compared: {sim_failure}"]
        notes.append(f"the files the boot wrote were not compared: {sim_failure}")
    else:
        mismatches = compare(real_changes, sim.changes, password)
    if not outcome.booted:
        notes.append("qemu could not boot the image: "
                     + (" / ".join(outcome.lines[-3:]) or "it printed nothing on the console"))
    live = parse_probe(outcome.probe_data, prep.probe) if prep.probe else None
    failure = failure_sentence(outcome.lines, outcome.stage, outcome.booted, outcome.finished,
                               outcome.timed_out or outcome.fatal is not None, prep.boot_facts, req.disk, prep.cmdline)
    unobserved = failure or ("the probe could not be installed" if not prep.probe else "")
    network_mismatches = compare_network(values, live, unobserved)
    first = BootRecord(1, "first", req.osconf_text, outcome.booted, outcome.stage, outcome.seconds, outcome.finished,
                       removed, live, network_mismatches, mismatches, [c.path for c in real_changes], [],
                       failure or sim_failure)
    return RehearsalResult(
        real=real, simulated=sim, mismatches=mismatches, os_conf_removed=removed, parser_finished=outcome.finished,
        parser_log=parser_log, console_tail=outcome.lines[-40:], hostname_seen=outcome.hostname, accel=accel,
        boot_seconds=outcome.seconds, notes=notes, boot=prep.mode, booted=outcome.booted, stage=outcome.stage,
        live=live, network_mismatches=network_mismatches, failure=failure or sim_failure, disk=req.disk,
        firmware=prep.firmware, cmdline=prep.cmdline, probe_seconds=outcome.probe_seconds,
        network=network_rows(values, live) if live and live.complete else [], simulation_failure=sim_failure,
        boots=[first])


__all__ = ["RehearsalResult", "RehearsalError", "RehearsalRequest", "RehearsalHooks", "rehearse", "compare",
           "tree_changes", "SCHEMA", "STOPPED"]
