"""The security review on real images read by the appliance: planted problems found, clean images clean."""

import pytest

from workbench.checks import Context, run_checks
from workbench.fixes import build_fixes

pytestmark = pytest.mark.appliance


def review(guest, name):
    facts, report = guest(name)
    return {r.id: r for r in run_checks(Context(facts, report))}


def test_sample_findings(guest):
    r = review(guest, "sample")
    expected = {"password.empty": "pass", "password.default": "fail", "password.first-login-change": "fail",
                "password.weak-hash": "fail", "ssh.host-keys": "fail", "ssh.user-keys": "fail",
                "ssh.authorized-keys": "fail", "ssh.sshd-config": "fail", "service.risky": "fail",
                "vuln.remote": "fail"}
    assert {k: r[k].status for k in expected} == expected
    assert any("bash 4.2.45-5.el7_0.2: CVE-2014-6271" in e for e in r["vuln.remote"].evidence)
    assert any("deploy@build-server" in e for e in r["ssh.authorized-keys"].evidence)
    assert r["service.risky"].detail.endswith("telnet.")


def test_sample_fixes_preview(guest):
    facts, report = guest("sample")
    results = run_checks(Context(facts, report))
    fixes = {f.id: f for f in build_fixes(results, report.tree)}
    assert set(fixes) == {"fix.lock-account", "fix.expire-passwords", "fix.remove-host-keys", "fix.remove-user-keys",
                          "fix.remove-authorized-keys", "fix.disable-service", "fix.harden-sshd",
                          "fix.initramfs-drivers", "fix.remove-agents"}
    paths = {c.path for c in fixes["fix.remove-host-keys"].changes}
    assert "/etc/ssh/ssh_host_ed25519_key.pub" in paths
    assert fixes["fix.remove-user-keys"].changes[0].path == "/home/admin/.ssh/id_ed25519"


@pytest.mark.parametrize("name", ["gpt-esp-debian", "whole-disk-ext4"])
def test_clean_images_raise_no_alarms(guest, name):
    r = review(guest, name)
    for cid in ("password.empty", "password.default", "password.first-login-change", "password.weak-hash",
                "ssh.host-keys", "ssh.user-keys", "ssh.authorized-keys", "service.risky"):
        assert r[cid].status in ("pass", "skip"), (cid, r[cid].detail, r[cid].evidence)
    assert r["vuln.remote"].status == "pass", r["vuln.remote"].detail


def test_debian_sshd_include_is_read_and_passes(guest):
    r = review(guest, "gpt-esp-debian")
    assert r["ssh.sshd-config"].status == "pass"
    assert r["password.empty"].status == "pass" and r["vuln.remote"].evidence[0].startswith("4 dpkg packages")


def test_rocky9_regresshion(guest):
    r = review(guest, "rocky9")
    assert r["vuln.remote"].status == "fail"
    assert "openssh-server 8.7p1-38.el9: CVE-2024-6387" in r["vuln.remote"].evidence[0]
    assert "redhat.com" in r["vuln.remote"].evidence[0]
