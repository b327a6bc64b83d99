"""`workbench check` end to end, as a pipeline runs it (DESIGN.md contract)."""

import json

import pytest

from workbench.checks import all_checks

pytestmark = pytest.mark.appliance


@pytest.fixture(scope="module")
def sample_json(built, tmp_path_factory):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "workbench", "check", str(built("sample")), "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    return proc


def test_json_contract(sample_json, built):
    proc = sample_json
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "workbench.check/1"
    img = doc["image"]
    assert img["path"] == str(built("sample")) and img["format"] == "qcow2"
    assert img["virtual_size"] == 8 << 30 and img["partition_table"] == "mbr"
    p1 = img["partitions"][0]
    assert {k: p1[k] for k in ("number", "start", "size", "type", "filesystem", "label", "mountpoint")} == {
        "number": 1, "start": 1 << 20, "size": 1 << 30, "type": "83", "filesystem": "ext4", "label": "boot",
        "mountpoint": "/boot"}
    assert p1["uuid"] == "9b2c3a4e-7f1d-4c6b-8a2e-5d0f1e2a3b4c"
    assert doc["os"] == {"distro": "centos", "version": "7.9", "family": "rhel", "init": "systemd",
                         "network": "sysconfig", "first_partition_mountpoint": "/boot",
                         "pretty_name": "CentOS Linux 7 (Core)"}
    ids = [c["id"] for c in doc["checks"]]
    assert ids == [c.id for c in all_checks()]  # every registered check, passes included
    for c in doc["checks"]:
        assert set(c) == {"id", "status", "severity", "title", "detail", "evidence", "fix"}
        assert c["status"] in ("pass", "fail", "warn", "skip")
        assert c["severity"] in ("blocker", "high", "medium", "low", "info")
    writable = next(c for c in doc["checks"] if c["id"] == "limit.first-partition-writable")
    assert writable["status"] == "pass" and "trial write" in writable["detail"].lower()
    assert doc["verdict"]["outcome"] == "not ready" and proc.returncode == 1  # exit codes follow the verdict


def test_quick_json_has_null_os_and_skips(run_cli, built):
    proc = run_cli("check", built("xfs-first"), "--quick", "--format", "json")
    doc = json.loads(proc.stdout)
    assert doc["os"] is None and proc.returncode == 1
    fs = next(c for c in doc["checks"] if c["id"] == "limit.first-partition-fs")
    assert fs["status"] == "fail" and fs["fix"]


def test_text_output_without_a_tty_has_no_escapes(run_cli, built):
    proc = run_cli("check", built("exactly-5g"), "--quick")
    assert proc.returncode == 1
    assert "\x1b[" not in proc.stdout
    assert "FAIL  limit.virtual-size" in proc.stdout and "fix: Grow the virtual disk" in proc.stdout
    tail = proc.stdout.rstrip().splitlines()[-3:]
    assert tail[0].startswith("Result: 1 failed") and tail[1:] == ["Verdict: will be rejected",
                                                                    "  · Virtual size over 5 GiB (limit.virtual-size)"]


def test_a_review_with_skipped_checks_is_not_fully_reviewed(run_cli, built):
    """--quick reads no guest files: the checks that need them skip, and the verdict does not claim a pass; the
    exit code is the documented one for "not fully reviewed" (3), so a pipeline does not pass the image."""
    proc = run_cli("check", built("just-over-5g"), "--quick", "--format", "json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 3 and doc["verdict"]["outcome"] == "not fully reviewed"
    assert any(r.startswith("password.empty was skipped") for r in doc["verdict"]["reasons"])
