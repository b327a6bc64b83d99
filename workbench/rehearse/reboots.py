"""The rehearsal's later boots: the guest started again from the same overlay, as an instance is restarted on ECS.

- reboot: nothing on the first partition (the platform writes os.conf when it creates the instance, not at every
  start). The parser must re-apply nothing: no file of the parser's domain changes but its log and bookkeeping, and
  the live network is the first boot's.
- change: the platform wrote an os.conf again after a change in the console (a password reset, a new host name),
  one that names only the password and the host name. Only those change (the shadow file, the host name files);
  the network stays as it was, up.

Each later boot is held to what the first is held to (its files against a simulation of the same parser on the
files the boot before it left, its live network against the os.conf's intent) and to its own rules. The machine
(boot, read back, place an os.conf, simulate) is the rehearsal's own (rehearse/__init__.py:_Machine); this module
decides only what each boot must show, so a unit test can drive it with a machine of its own.
"""

from __future__ import annotations

import base64
from typing import Protocol

from workbench import crypt
from workbench.changes import Change
from workbench.image.tree import GuestTree
from workbench.rehearse.compare import compare, tree_changes
from workbench.rehearse.live import LiveNetwork, compare_network, parse_probe
from workbench.rehearse.result import BootRecord
from workbench.simulate import ChangeSet

KINDS = ("reboot", "change")
CHANGE_HOSTNAME = "wb-rehearsal-changed"
CHANGE_PASSWORD = "Wb-Rehearsal-Changed-7"
CONF_PATH = "/aliyun_custom_image/os.conf"
# what the parser may write at any start: its log and its own bookkeeping
BOOKKEEPING = ("/var/log/os-conf.log", "/var/lib/os-conf/")
# what an os.conf with only a password and a host name may change
IDENTITY = ("/etc/shadow", "/etc/hostname", "/etc/HOSTNAME", "/etc/hosts", "/etc/conf.d/hostname")


def change_conf() -> str:
    """The os.conf the console would write after a password reset and a new host name: those two keys only."""
    return f"hostname={CHANGE_HOSTNAME}\npassword={base64.b64encode(CHANGE_PASSWORD.encode()).decode()}\n"


class Machine(Protocol):
    """The rehearsal's guest between boots (the appliance waits with nothing mounted while it boots)."""

    def boot(self, number: int) -> object:  # a vm.BootOutcome
        ...

    def read_back(self) -> tuple[GuestTree, bool]:  # the parser's files, whether os.conf is gone
        ...

    def place(self, osconf_text: str) -> None:  # an os.conf where the platform puts it
        ...

    def simulate(self, tree: GuestTree, osconf_text: str | None) -> tuple[ChangeSet, str | None]:
        ...

    def explain(self, outcome) -> str | None:  # why a boot did not get to a configured network
        ...

    def conf_path(self) -> str:  # the os.conf's path as the views show it
        ...

    probe: str  # the probe's token ("": it could not join the boot)


def same_network(first: LiveNetwork | None, later: LiveNetwork | None, hostname_changes: bool = False) -> list[str]:
    """How a later boot's live network differs from the first boot's (each NIC by its MAC: name, state, addresses;
    the routes; the nameservers; the host name unless the boot was to change it; sshd)."""
    if first is None or not first.complete:
        return ["the first boot's network was not observed, so the later boot's cannot be compared with it"]
    if later is None or not later.complete:
        return []  # compare_network says why it was not observed
    out = []
    for a in first.interfaces:
        b = later.by_mac(a.mac)
        if b is None:
            out.append(f"the NIC with MAC {a.mac} ({a.name} at the first boot) is gone")
            continue
        if b.name != a.name:
            out.append(f"the NIC with MAC {a.mac} is called {b.name}, not {a.name} as at the first boot")
        if b.state != a.state:
            out.append(f"{b.name} is {b.state}, it was {a.state} at the first boot")
        if sorted(b.addresses) != sorted(a.addresses):
            out.append(f"{b.name} has {', '.join(b.addresses) or 'no IPv4 address'}, it had "
                       f"{', '.join(a.addresses) or 'no IPv4 address'} at the first boot")
    for r in sorted(set(first.routes) - set(later.routes)):
        out.append(f"the route '{r}' of the first boot is gone")
    for r in sorted(set(later.routes) - set(first.routes)):
        out.append(f"a route the first boot did not have: '{r}'")
    if first.nameservers != later.nameservers:
        out.append(f"the nameservers are {', '.join(later.nameservers) or 'none'}, they were "
                   f"{', '.join(first.nameservers) or 'none'} at the first boot")
    if not hostname_changes and first.hostname != later.hostname:
        out.append(f"the host name is {later.hostname or 'unset'}, it was {first.hostname or 'unset'}")
    if first.sshd_listening and not later.sshd_listening:
        out.append("sshd listened at the first boot and does not now")
    return out


def _root_hash(tree: GuestTree) -> str | None:
    for line in (tree.read_text("/etc/shadow", 1 << 20) or "").splitlines():
        fields = line.split(":")
        if fields[0] == "root" and len(fields) > 1:
            return fields[1]
    return None


def rules(kind: str, changed: list[str], conf_path: str, after: GuestTree) -> list[str]:
    """What does not hold of the boot's own rules, given the paths it changed."""
    if kind == "reboot":
        return [f"{p} changed although no os.conf was there: the parser re-applied something" for p in changed
                if not p.startswith(BOOKKEEPING)]
    problems = [f"{p} changed although the os.conf named only the password and the host name" for p in changed
                if not p.startswith(BOOKKEEPING + IDENTITY) and p != conf_path]
    hashed = _root_hash(after)
    if not hashed or not crypt.verify(CHANGE_PASSWORD, hashed):
        problems.append("root's password is not the changed os.conf's")
    return problems


def later_boot(machine: Machine, number: int, kind: str, values: dict, first: LiveNetwork | None,
               before: GuestTree) -> tuple[BootRecord, GuestTree]:
    """Boot the guest again (after placing the changed os.conf for a "change"): its record, and the files it left."""
    if kind not in KINDS:
        raise ValueError(f"unknown later boot {kind!r}")
    conf = change_conf() if kind == "change" else None
    if conf is not None:
        machine.place(conf)
    sim, sim_failure = machine.simulate(before, conf)
    outcome = machine.boot(number)
    after, removed = machine.read_back()
    changes = tree_changes(before, after)
    if conf is not None and removed:
        changes.append(Change(machine.conf_path(), "delete", conf, None))
    mismatches = [f"nothing was compared: {sim_failure}"] if sim_failure else compare(
        changes, sim.changes, CHANGE_PASSWORD if conf else None)
    live = parse_probe(outcome.probe_data, machine.probe) if machine.probe else None
    failure = machine.explain(outcome)
    intent = {**values, "hostname": CHANGE_HOSTNAME} if conf else values
    network = compare_network(intent, live, failure or ("the probe could not be installed" if not machine.probe
                                                        else ""))
    network += same_network(first, live, hostname_changes=conf is not None)
    changed = [c.path for c in changes]
    return BootRecord(number, kind, conf, outcome.booted, outcome.stage, outcome.seconds, outcome.finished,
                      removed, live, network, mismatches, changed, rules(kind, changed, machine.conf_path(), after),
                      failure or sim_failure), after


def why_not(record: BootRecord) -> str:
    """One note for a later boot that did not keep to its rules (the text output lists the notes)."""
    why = record.problems + record.network_mismatches + record.mismatches + ([record.failure] if record.failure else [])
    why += ([] if record.booted else ["qemu could not boot the image"]) + \
        ([] if record.parser_finished else ["the parser did not say it was done"]) + \
        ([] if record.os_conf_removed else ["os.conf was not removed"])
    return f"boot {record.number} ({record.kind}): " + "; ".join(why)


HELD = {"first": "the os.conf's network, files as simulated",
        "reboot": "no os.conf: nothing re-applied, the same network",
        "change": "an os.conf with only a password and a host name: only those changed, the network as before"}


def boot_line(record: BootRecord) -> tuple[bool, str]:
    """(held, one line) for the views' list of boots: what the boot was given and whether its rules held."""
    if record.ok:
        return True, f"boot {record.number} ({record.kind}, {record.seconds:.0f} s): {HELD[record.kind]}"
    return False, why_not(record)


def later_boots(machine: Machine, kinds: tuple[str, ...], values: dict, first: LiveNetwork | None,
                after: GuestTree, stop=lambda: None) -> list[BootRecord]:
    """The later boots asked for, in order, each from the files the one before left; stop() is called before each
    (it raises to stop the rehearsal)."""
    records = []
    for n, kind in enumerate(kinds, start=2):
        stop()
        record, after = later_boot(machine, n, kind, values, first, after)
        records.append(record)
    return records
