"""Issue 22's examples end to end: one image (tests/fixtures/consumers.py) hides a login, a vulnerable package,
started services and a boot-stopping mount where only a reader that reads each file as its consumer does finds
them; `workbench check --format json` through the real appliance must report every one (one launch)."""

import json

import pytest

pytestmark = [pytest.mark.appliance, pytest.mark.timeout(600)]


def test_every_hidden_finding_is_reported(built, run_cli):
    proc = run_cli("check", built("consumer-debian"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    assert not [c for c in checks.values() if c["status"] == "error"]  # the uid '²' stops nothing

    def found(cid: str, *words: str) -> None:
        c = checks[cid]
        text = " ".join([c["detail"]] + c["evidence"])
        assert c["status"] == "fail" and all(w in text for w in words), (cid, c["status"], words, c["evidence"])

    # glibc: a leading blank in shadow, a four-field passwd line
    found("password.empty", "evil (uid 1002)", "ghost (uid 0)")
    # sshd: a trailing comment, a lone CR in a Match block, SSHD_OPTS
    found("ssh.sshd-config", "10-local.conf:1: PermitEmptyPasswords yes # until the LDAP migration",
          "(in Match User deploy)", "/etc/default/ssh:2: -o PermitRootLogin=yes")
    # keys: %U in Match all, quoted options, past line 10,000, a system-dir home, a nologin home; a HostKey
    found("ssh.authorized-keys", "by-uid@percent-U", "quoted@options", "late@key", "line 10501", "srv@system-home",
          "www@nologin")
    found("ssh.host-keys", "/var/lib/sshd/host_ed25519_key")
    # dpkg's journal in lower-case field names
    found("vuln.remote", "openssh-server 1:9.2p1-2: CVE-2024-6387")
    # systemd: wanted from /usr/local/lib; the first boot's presets
    found("service.risky", "FTP server", "/usr/local/lib/systemd/system/multi-user.target.wants/vsftpd.service",
          "telnet", "first boot")
    # fstab: after line 1,000, and a line only getmntent reads
    found("boot.fstab", "line 1102: /dev/sdc7 on /data", "line 1103: /dev/sdd9 on /scratch")
