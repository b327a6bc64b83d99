"""A rehearsal reports only what it saw: a simulation that failed inside it fails the rehearsal (nothing is compared
with it), and the later boots (a reboot without os.conf, an os.conf that changes only the password and the host name)
are held to their rules. Driven by the rehearsal's own pieces with a machine made here instead of qemu (pure)."""

from dataclasses import dataclass, field

import pytest

from workbench import crypt
from workbench.image.tree import GuestTree
from workbench.inject.plan import InjectionPlan
from workbench.parsers import ParserScript, parser_text
from workbench.rehearse import RehearsalRequest, _Prepared, _result, _simulate
from workbench.rehearse import reboots
from workbench.rehearse.reboots import CHANGE_HOSTNAME, CHANGE_PASSWORD, later_boot, later_boots, same_network
from workbench.rehearse.live import parse_probe
from workbench.simulate import ChangeSet, SimulationError
from workbench.state import ReviewOptions
from tests.unit.sim_helpers import BASE, LABEL, STACKS, UUID, VPC

TOKEN = "0123456789abcdef0123456789abcdef"
MAC = "00:8c:fa:5e:14:23"
CONF = "/boot/aliyun_custom_image/os.conf"


def _report(address="10.171.254.123/24", hostname="iZ23r29djmjZ", route="default via 10.171.254.1 dev eth0") -> bytes:
    lines = ["begin", f"if eth0 {MAC} up {address}", f"route {route}", "dns 7.7.7.7 8.8.8.8", f"hostname {hostname}",
             "sshd yes", "end"]
    return "".join(f"WB-PROBE {TOKEN} {ln}\n" for ln in lines).encode()


@dataclass
class Outcome:  # what vm.boot returns, as far as the result reads it
    probe_data: bytes
    lines: list[str] = field(default_factory=lambda: ["Linux version 6.1", "os-conf: done; os.conf removed"])
    finished: bool = True
    hostname: str | None = "iZ23r29djmjZ"
    seconds: float = 60.0
    booted: bool = True
    stage: str = "login"
    timed_out: bool = False
    fatal: str | None = None
    probe_seconds: float | None = 5.0


def _tree(files: dict) -> GuestTree:
    return GuestTree.from_dict(files)


def _applied(files: dict, sim: ChangeSet) -> dict:
    """files as a boot that did what the simulation did leaves them."""
    out = dict(files)
    for c in sim.changes:
        if c.kind == "file" and not c.path.startswith("/boot"):
            if c.action == "delete":
                out.pop(c.path, None)
            else:
                out[c.path] = c.after
    return out


def _prep(script_text: str | None = None) -> _Prepared:
    text = script_text if script_text is not None else parser_text("ifupdown", "systemd", UUID, LABEL)
    plan = InjectionPlan("ifupdown", "systemd", [], UUID, LABEL, "/boot")
    return _Prepared(plan, ParserScript("ifupdown", text, "systemd", UUID, LABEL), _tree({**BASE, **STACKS["ifupdown"]}),
                     None, TOKEN, "bios", "kernel", [], "root=/dev/vda2 net.ifnames=0", [])


def _first_boot(prep: _Prepared, sim: ChangeSet, failure: str | None):
    after = _tree(_applied({**BASE, **STACKS["ifupdown"]}, sim))
    return _result(_request(), _values(), prep, sim, Outcome(_report()), after, True, "tcg", failure)


def _values() -> dict:
    from workbench.osconf import parse_text
    return parse_text(VPC)[0]


def _request():
    from workbench.rehearse import RehearsalRequest
    return RehearsalRequest(VPC, "ifupdown")


def test_a_faithful_boot_matches_its_simulation():
    prep = _prep()
    sim, failure = _simulate(prep.before, VPC, prep)
    assert failure is None and sim.exit_code == 0
    result = _first_boot(prep, sim, failure)
    assert result.matches_simulation and result.network_matches, (result.mismatches, result.network_mismatches)
    assert result.exit_code == 0 and result.to_json()["simulation_failure"] is None
    assert [b["kind"] for b in result.to_json()["boots"]] == ["first"] and result.boots[0].ok


def test_a_simulation_that_failed_inside_the_rehearsal_fails_it():
    """As on Debian's OpenRC: the sandbox could not start the parser (bwrap: execvp ...), so it changed nothing; the
    boot changed nothing either. Two empty change sets are not a match: the rehearsal fails and says why."""
    prep = _prep("#!/sbin/no-such-interpreter\necho never\n")
    sim, failure = _simulate(prep.before, VPC, prep)
    assert sim.exit_code == 1 and sim.changes == []
    assert failure.startswith("the simulation of the same parser exited with 1: bwrap: execvp")
    result = _result(_request(), _values(), prep, sim, Outcome(_report()), prep.before, True, "tcg", failure)
    doc = result.to_json()
    assert result.exit_code == 1 and not result.matches_simulation
    assert doc["matches_simulation"] is False and doc["mismatches"] == [f"nothing was compared: {failure}"]
    assert doc["simulation_failure"] == failure and doc["failure"] == failure
    assert any(n.startswith("the files the boot wrote were not compared: ") for n in doc["notes"])
    assert doc["network_matches"]  # what was observed is still reported as observed
    assert doc["boots"][0]["matches_simulation"] is False and doc["boots"][0]["ok"] is False


@pytest.mark.parametrize("exit_code, words", [(None, "was stopped or not trusted"), (3, "exited with 3")])
def test_a_simulation_stopped_by_a_limit_or_failing_is_no_prediction(monkeypatch, exit_code, words):
    monkeypatch.setattr("workbench.rehearse.simulate", lambda *a, **k: ChangeSet(
        "ifupdown", exit_code, [], [], "os-conf: started\n(workbench: the time limit was reached)\n"))
    sim, failure = _simulate(_prep().before, VPC, _prep())
    assert failure == f"the simulation of the same parser {words}: (workbench: the time limit was reached)"
    result = _result(_request(), _values(), _prep(), sim, Outcome(_report()), _prep().before, True, "tcg", failure)
    assert result.exit_code == 1 and result.mismatches == [f"nothing was compared: {failure}"]


def test_a_sandbox_that_cannot_run_fails_the_rehearsal(monkeypatch):
    def refuse(*a, **k):
        raise SimulationError("bubblewrap (bwrap) is not installed")
    monkeypatch.setattr("workbench.rehearse.simulate", refuse)
    sim, failure = _simulate(_prep().before, VPC, _prep())
    assert sim.exit_code is None and failure == "the simulation could not run: bubblewrap (bwrap) is not installed"
    result = _result(_request(), _values(), _prep(), sim, Outcome(_report()), _prep().before, True, "tcg", failure)
    assert result.exit_code == 1 and result.to_json()["simulation"]["log"] == "bubblewrap (bwrap) is not installed"


class Machine:
    """The rehearsal's guest without qemu: each boot does what the simulation of the same parser does (or, with
    tamper, something else too), and reports the network given."""

    def __init__(self, files: dict, reports: list[bytes], tamper=None):
        self.files, self.reports, self.tamper = dict(files), list(reports), tamper
        self.placed: str | None = None
        self.probe = TOKEN
        self.booted: list[int] = []
        self.prep = _prep()

    def place(self, text):
        self.placed = text

    def simulate(self, tree, conf):
        return _simulate(tree, conf, self.prep)

    def boot(self, number):
        self.booted.append(number)
        sim, _ = _simulate(_tree(self.files), self.placed, self.prep)
        self.files = _applied(self.files, sim)
        if self.tamper:
            self.tamper(self.files)
        self.placed = None if sim.exit_code == 0 else self.placed
        return Outcome(self.reports.pop(0))

    def read_back(self):
        return _tree(self.files), self.placed is None

    def explain(self, outcome):
        return None

    def conf_path(self):
        return CONF


def _after_first() -> dict:
    prep = _prep()
    sim, _ = _simulate(prep.before, VPC, prep)
    # the first boot ran a while ago (the parser stamps each run in seconds: a later run always changes the stamp)
    return {**_applied({**BASE, **STACKS["ifupdown"]}, sim), "/var/lib/os-conf/applied-at": "2026-01-01T00:00:00\n"}


def test_a_reboot_without_os_conf_reapplies_nothing_and_keeps_the_network():
    files = _after_first()
    machine = Machine(files, [_report()])
    record, after = later_boot(machine, 2, "reboot", _values(), parse_probe(_report(), TOKEN), _tree(files))
    assert record.ok, (record.problems, record.network_mismatches, record.mismatches)
    assert record.changed == ["/var/log/os-conf.log"] and record.os_conf is None
    assert record.to_json()["kind"] == "reboot" and record.to_json()["rules_hold"]


def test_a_reboot_that_rewrites_the_network_or_loses_the_address_breaks_its_rules():
    files = _after_first()

    def rewrite(f):
        f["/etc/network/interfaces.d/os-conf"] = "auto eth0\niface eth0 inet dhcp\n"
    machine = Machine(files, [_report(address="10.0.2.15/24")], tamper=rewrite)
    record, _ = later_boot(machine, 2, "reboot", _values(), parse_probe(_report(), TOKEN), _tree(files))
    assert not record.ok and reboots.why_not(record).startswith(
        "boot 2 (reboot): /etc/network/interfaces.d/os-conf changed although no os.conf was there")
    assert record.problems == ["/etc/network/interfaces.d/os-conf changed although no os.conf was there: the parser "
                               "re-applied something"]
    assert "eth0 has 10.0.2.15/24, it had 10.171.254.123/24 at the first boot" in record.network_mismatches
    assert any("does not have 10.171.254.123/24" in m for m in record.network_mismatches)
    # the simulation of a reboot changes no network file: the boot that did is also a mismatch
    assert "/etc/network/interfaces.d/os-conf: the boot modified it, the simulation did not" in record.mismatches


def test_a_changed_os_conf_changes_only_the_password_and_the_host_name():
    files = _after_first()
    machine = Machine(files, [_report(hostname=CHANGE_HOSTNAME)])
    record, after = later_boot(machine, 3, "change", _values(), parse_probe(_report(), TOKEN), _tree(files))
    assert record.ok, (record.problems, record.network_mismatches, record.mismatches)
    assert set(record.changed) >= {"/etc/shadow", "/etc/hostname", CONF} and record.os_conf_removed
    assert "password=" in record.os_conf and f"hostname={CHANGE_HOSTNAME}" in record.os_conf
    root = next(ln for ln in after.read_text("/etc/shadow").splitlines() if ln.startswith("root:"))
    assert crypt.verify(CHANGE_PASSWORD, root.split(":")[1])


def test_a_changed_os_conf_that_touches_the_network_or_keeps_the_password_breaks_its_rules():
    files = _after_first()
    old_root = next(ln for ln in files["/etc/shadow"].splitlines() if ln.startswith("root:"))

    def wrong(f):
        f["/etc/network/interfaces.d/os-conf"] = "# emptied\n"
        f["/etc/shadow"] = old_root + "\n"
    machine = Machine(files, [_report(hostname="iZ23r29djmjZ", route="10.0.0.0/8 via 10.171.254.1 dev eth0")],
                      tamper=wrong)
    record, _ = later_boot(machine, 3, "change", _values(), parse_probe(_report(), TOKEN), _tree(files))
    assert "/etc/network/interfaces.d/os-conf changed although the os.conf named only the password and the host " \
           "name" in record.problems
    assert "root's password is not the changed os.conf's" in record.problems
    assert f"the host name is iZ23r29djmjZ, not {CHANGE_HOSTNAME}" in record.network_mismatches
    assert "the route 'default via 10.171.254.1 dev eth0' of the first boot is gone" in record.network_mismatches


def test_the_later_boots_follow_each_other_and_count_in_the_exit_code():
    prep = _prep()
    sim, failure = _simulate(prep.before, VPC, prep)
    result = _first_boot(prep, sim, failure)
    files = _after_first()
    stops = []
    machine = Machine(files, [_report(), _report(hostname=CHANGE_HOSTNAME)])
    result.boots += later_boots(machine, ("reboot", "change"), _values(), result.live, _tree(files),
                                lambda: stops.append(1))
    doc = result.to_json()
    assert [b["kind"] for b in doc["boots"]] == ["first", "reboot", "change"] and machine.booted == [2, 3]
    assert ReviewOptions().later == RehearsalRequest("").later == reboots.KINDS  # what both doors ask by default
    assert len(stops) == 2 and all(b["ok"] for b in doc["boots"]) and result.exit_code == 0
    assert _boots_as_printed(result) == [
        "✔ boot 1 (first, 60 s): the os.conf's network, files as simulated",
        "✔ boot 2 (reboot, 60 s): no os.conf: nothing re-applied, the same network",
        "✔ boot 3 (change, 60 s): an os.conf with only a password and a host name: only those changed, the network "
        "as before"]
    result.boots[1].problems.append("something")
    assert result.exit_code == 1 and result.matches_simulation and result.network_matches  # the first boot's keys
    assert _boots_as_printed(result)[1] == "✘ boot 2 (reboot): something"


def _boots_as_printed(result) -> list[str]:
    """The text output's list of boots (workbench rehearse without --format json)."""
    import io

    from workbench.report.text import print_rehearsal

    out = io.StringIO()
    print_rehearsal(result, out, color=False)
    lines = out.getvalue().splitlines()
    start = lines.index("boots") + 1
    return [ln.strip() for ln in lines[start:start + len(result.boots)]]


def test_same_network_needs_the_first_boots_report():
    assert same_network(None, parse_probe(_report(), TOKEN)) == [
        "the first boot's network was not observed, so the later boot's cannot be compared with it"]
    assert same_network(parse_probe(_report(), TOKEN), parse_probe(_report(), TOKEN)) == []
    with pytest.raises(ValueError):
        later_boot(Machine({}, []), 2, "again", {}, None, _tree({}))
    assert reboots.change_conf().count("\n") == 2


@pytest.mark.parametrize("init, renamed", [("busybox", True), ("systemd", False)])
def test_a_later_boot_is_simulated_with_the_nics_the_guest_boots_with(init, renamed):
    """qemu gives the guest the first os.conf's MACs at every boot, named as the image names them (ens5: udev's naming
    in its initramfs, no net.ifnames=0), which the tree read before the first boot says (the read-back has no
    probes). At a reboot the NIC is eth0 again where a udev daemon applies the parser's rule (systemd); under busybox
    init none does, and the simulated parser renames ens5 as the real one does, writing nothing but its log."""
    naming = {"/lib/systemd/systemd-udevd": "", "/lib/udev/rules.d/80-net-setup-link.rules": ""}
    files = {**BASE, **STACKS["ifupdown"], "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
             "/etc/init.d/rcS": "for i in /etc/init.d/S??*; do \"$i\" start; done\n", "/etc/udev/udev.conf": ""}
    plan = InjectionPlan("ifupdown", init, [], UUID, LABEL, "/boot")
    prep = _Prepared(plan, ParserScript("ifupdown", parser_text("ifupdown", init, UUID, LABEL), init, UUID, LABEL),
                     _tree({**files, **naming}), None, TOKEN, "bios", "kernel", [], "root=/dev/vda2 ro", [])
    first, failure = _simulate(prep.before, VPC, prep, [MAC])
    assert failure is None and "eth0: the NIC with MAC 00:8c:fa:5e:14:23 is ens5" in first.log
    after = _tree(_applied(files, first))  # as read back: /etc and the parser's files, no probes
    sim, failure = _simulate(after, None, prep, [MAC])
    assert failure is None, sim.log
    renames = [argv[4:] for argv in sim.commands if argv[:3] == ["ip", "link", "set"] and "name" in argv]
    assert renames == ([["ens5", "name", "oc-eth0"], ["oc-eth0", "name", "eth0"]] if renamed else []), sim.commands
    assert [c.path for c in sim.changes if c.kind != "dir"] == ["/var/log/os-conf.log"]
