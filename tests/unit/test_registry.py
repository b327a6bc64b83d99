"""The check and fix registries: typed statuses, unique ids, and a check that raises is an error, never a pass."""

import json

import pytest

from workbench import cli
from workbench.checks import REGISTRY, CheckResult, Context, DuplicateCheck, Status, all_checks, check, run_checks
from workbench.fixes import REGISTRY as FIXES
from workbench.fixes import known_fixes, register_fix


def test_status_and_severity_are_checked_when_a_result_is_made():
    r = CheckResult("x.y", "fail", "high", "t", "d")
    assert r.status is Status.FAIL and r.to_json()["status"] == "fail"
    with pytest.raises(ValueError):
        CheckResult("x.y", "failed", "high", "t", "d")
    with pytest.raises(ValueError):
        CheckResult("x.y", "pass", "severe", "t", "d")


def test_a_check_id_cannot_be_registered_twice():
    all_checks()  # the registry is filled on first use
    with pytest.raises(DuplicateCheck, match="limit.virtual-size"):
        check("limit.virtual-size", "again", "limits", "blocker")(lambda c, ctx: None)
    assert REGISTRY["limit.virtual-size"].title == "Virtual size over 5 GiB"


def test_a_fix_id_cannot_be_registered_twice():
    known_fixes()
    with pytest.raises(RuntimeError, match="fix.harden-sshd"):
        register_fix("fix.harden-sshd", "again")(lambda fix, view: None)
    assert FIXES["fix.harden-sshd"].title == "Harden sshd_config"


@pytest.fixture
def raising_check():
    """A limits check that raises, registered for one test only."""
    def broken(c, ctx):
        raise KeyError("no such partition")

    all_checks()
    check("limit.broken-for-test", "A check that raises", "limits", "blocker")(broken)
    yield "limit.broken-for-test"
    REGISTRY.pop("limit.broken-for-test", None)


def test_a_check_that_raises_is_an_error_and_the_others_still_run(raising_check, built):
    from workbench.image.preflight import preflight

    results = {r.id: r for r in run_checks(Context(preflight(str(built("sample"))), quick=True))}
    bad = results[raising_check]
    assert bad.status == "error" and "KeyError" in bad.detail and "not fully reviewed" in bad.detail
    assert results["limit.virtual-size"].status == "pass"


def test_check_exits_2_naming_the_check_that_raised(raising_check, built, capsys, monkeypatch):
    monkeypatch.setattr("signal.signal", lambda *a: None)  # main() installs a SIGTERM handler; not in a test
    code = cli.main(["check", str(built("sample")), "--quick", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 2
    doc = json.loads(out)
    assert {c["id"]: c["status"] for c in doc["checks"]}[raising_check] == "error"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and raising_check in lines[0] and "could not finish" in lines[0]
    assert "Traceback" not in err
    code = cli.main(["check", str(built("sample")), "--quick"])
    out, err = capsys.readouterr()
    assert code == 2 and "ERROR" in out and raising_check in err
