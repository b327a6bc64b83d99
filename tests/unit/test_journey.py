"""The journey's step states come from the results, not from clicks."""

from dataclasses import dataclass, field

from tests.unit.sim_helpers import VPC
from workbench.checks import CheckResult
from workbench.journey import next_action, steps
from workbench.osconf import parse_text, render_values
from workbench.state import ReviewState

GOOD = parse_text(VPC)[0]


@dataclass
class FakeReview:
    results: list
    guest: object = None


@dataclass
class FakeChangeSet:
    exit_code: int
    changes: list = field(default_factory=list)


@dataclass
class FakeResult:
    ok: bool
    output: str = "out.qcow2"


def r(id_, area, status, offers=None, severity="high"):
    return CheckResult(id_, status, severity, id_, "detail", [], None, area, offers or {})


def state(review=None, osconf_values=GOOD, changeset=None, simulation_error=None, chosen_fixes=frozenset(),
          inject_result=None, report_path=None, checks_running=False) -> ReviewState:
    return ReviewState("image.qcow2", review=review, osconf=render_values(osconf_values), changeset=changeset,
                       simulation_error=simulation_error, chosen_fixes=set(chosen_fixes),
                       inject_result=inject_result, report_path=report_path, checks_running=checks_running)


def states(**kw):
    return {s.key: (s.state, s.reason) for s in steps(state(**kw))}


def test_before_anything_is_read():
    st = states()
    assert st["overview"][0] == "todo" and st["security"][0] == "todo" and st["inject"][0] == "blocked"


def test_limits_blocked_explains_and_the_review_goes_on():
    review = FakeReview([r("limit.virtual-size", "limits", "fail")], guest=object())
    all_steps = steps(state(review, GOOD, FakeChangeSet(0)))
    assert all_steps[0].state == "blocked" and "will reject the image" in all_steps[0].reason
    assert next_action(all_steps).startswith("Next: 6 Report") or "Security" in next_action(all_steps) \
        or "Inject" in next_action(all_steps)
    assert not next_action(all_steps).startswith("Next: 1")


def test_security_needs_a_chosen_fix_per_finding():
    review = FakeReview([r("ssh.host-keys", "ssh", "fail", {"fix.remove-host-keys": ["/x"]}),
                         r("vuln.remote", "vulns", "fail")], guest=object())
    st = states(review=review)
    assert st["security"][0] == "attention" and "2 finding(s)" in st["security"][1]
    st = states(review=review, chosen_fixes={"fix.remove-host-keys"})
    assert st["security"][0] == "attention" and "vuln.remote" in st["security"][1]
    clean = FakeReview([r("ssh.host-keys", "ssh", "pass")], guest=object())
    assert states(review=clean)["security"][0] == "done"
    assert states(review=clean, checks_running=True)["security"][0] == "todo"


def test_osconf_simulation_and_inject_gates():
    review = FakeReview([], guest=object())
    bad = {**GOOD, "eth0_netmask": "255.0.255.0"}
    st = states(review=review, osconf_values=bad, changeset=FakeChangeSet(0))
    assert st["osconf"][0] == "attention" and st["inject"][0] == "blocked"
    st = states(review=review, changeset=FakeChangeSet(1))
    assert st["simulation"][0] == "attention" and st["inject"][0] == "blocked"
    st = states(review=review, simulation_error="no Linux root")
    assert st["simulation"] == ("blocked", "no Linux root")
    st = states(review=review, changeset=FakeChangeSet(0))
    assert st["inject"][0] == "todo"
    st = states(review=review, changeset=FakeChangeSet(0), inject_result=FakeResult(True), report_path="r.html")
    assert st["inject"][0] == "done" and st["report"] == ("done", "exported to r.html")


def test_next_action_walks_the_steps():
    review = FakeReview([], guest=object())
    done = steps(state(review, GOOD, FakeChangeSet(0), inject_result=FakeResult(True), report_path="r.html"))
    assert next_action(done) == "Review complete: hand the report over with the image"
    half = steps(state(review, GOOD, FakeChangeSet(0)))
    assert next_action(half).startswith("Next: 5 Inject")
