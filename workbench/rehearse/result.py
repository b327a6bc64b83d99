"""What a rehearsal found: the real changes, the simulated ones, and how they differ."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.errors import WorkbenchError
from workbench.rehearse.live import LiveNetwork, NetworkRow
from workbench.simulate import ChangeSet

SCHEMA = "workbench.rehearse/1"
STOPPED = "the rehearsal was stopped before it finished; nothing of it was kept"


@dataclass
class BootRecord:
    """One boot of the rehearsal's guest: what the platform left on the first partition before it, what the boot did
    (its files against a simulation of the same parser on the same files, its live network), and the rules that
    boot is held to (a reboot re-applies nothing; a changed os.conf changes only what it names)."""
    number: int
    kind: str  # "first" (the os.conf), "reboot" (no os.conf), "change" (an os.conf with only password and host name)
    os_conf: str | None
    booted: bool
    stage: str
    seconds: float
    parser_finished: bool
    os_conf_removed: bool
    live: LiveNetwork | None
    network_mismatches: list[str]
    mismatches: list[str]  # what the boot did differently from the simulation, file by file
    changed: list[str]  # the paths (in the parser's domain) the boot changed
    problems: list[str] = field(default_factory=list)  # the boot's own rules that do not hold
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return (self.booted and self.parser_finished and self.os_conf_removed and not self.mismatches
                and not self.network_mismatches and not self.problems and self.failure is None)

    def to_json(self) -> dict:
        return {"boot": self.number, "kind": self.kind, "os_conf": self.os_conf, "booted": self.booted,
                "stage": self.stage, "boot_seconds": round(self.seconds, 1), "parser_finished": self.parser_finished,
                "os_conf_removed": self.os_conf_removed,
                "live": self.live.to_json() if self.live is not None else None,
                "network_matches": not self.network_mismatches, "network_mismatches": self.network_mismatches,
                "matches_simulation": not self.mismatches, "mismatches": self.mismatches, "changed": self.changed,
                "rules_hold": not self.problems, "problems": self.problems, "failure": self.failure,
                "ok": self.ok}


class RehearsalError(WorkbenchError):
    """The rehearsal boot could not be done (exit 2)."""

    title = "The rehearsal boot could not be done"


@dataclass
class RehearsalResult:
    real: ChangeSet
    simulated: ChangeSet
    mismatches: list[str]
    os_conf_removed: bool
    parser_finished: bool
    parser_log: str
    console_tail: list[str]
    hostname_seen: str | None
    accel: str
    boot_seconds: float
    notes: list[str] = field(default_factory=list)
    boot: str = "kernel"  # "bootloader" (the image's own) or "kernel" (direct kernel boot)
    booted: bool = True  # False: qemu could not run the image at all
    stage: str = "login"  # how far the boot got (rehearse/stages.py)
    live: LiveNetwork | None = None  # what the probe saw of the guest's network (None: it never reported)
    network_mismatches: list[str] = field(default_factory=list)  # the os.conf's intent the live guest does not show
    failure: str | None = None  # why the boot did not get to a configured network, in one sentence
    disk: str = "virtio"  # the system disk's bus
    firmware: str = "bios"
    cmdline: str | None = None  # the kernel command line of a direct boot
    probe_seconds: float | None = None  # from the parser's end to the probe's report
    network: list[NetworkRow] = field(default_factory=list)  # the os.conf's intent beside the live network
    simulation_failure: str | None = None  # the simulation inside the rehearsal did not run to its end: nothing compared
    boots: list[BootRecord] = field(default_factory=list)  # every boot, the first included (reboots.py)

    @property
    def matches_simulation(self) -> bool:
        return not self.mismatches

    @property
    def network_matches(self) -> bool:
        return not self.network_mismatches

    @property
    def exit_code(self) -> int:
        ok = (self.booted and self.matches_simulation and self.network_matches and self.parser_finished
              and self.os_conf_removed and self.simulation_failure is None and all(b.ok for b in self.boots))
        return 0 if ok else 1

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "matches_simulation": self.matches_simulation, "mismatches": self.mismatches,
                "os_conf_removed": self.os_conf_removed, "parser_finished": self.parser_finished,
                "hostname_seen": self.hostname_seen, "accel": self.accel, "boot": self.boot,
                "booted": self.booted, "stage": self.stage,
                "boot_seconds": round(self.boot_seconds, 1),
                "real": self.real.to_json(), "simulation": self.simulated.to_json(), "parser_log": self.parser_log,
                "console_tail": self.console_tail, "notes": self.notes,
                "live": self.live.to_json() if self.live is not None else None,
                "network_matches": self.network_matches, "network_mismatches": self.network_mismatches,
                "failure": self.failure, "disk": self.disk, "firmware": self.firmware, "cmdline": self.cmdline,
                "simulation_failure": self.simulation_failure, "boots": [b.to_json() for b in self.boots]}
