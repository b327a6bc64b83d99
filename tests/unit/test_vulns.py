"""Package databases, OSV matching and the vuln.remote check."""

import json
import time

import pytest

from tests.unit.security_trees import context
from workbench.checks import REGISTRY, run_check
from workbench.checks.vulns import cvss3_base, ecosystem_matches, load_advisories
from workbench.sample.rpmdb import rpm_database
from workbench.image.osinfo import OsFacts
from workbench.packages import parse_apk_installed, parse_dpkg_status

DEB12 = {"/etc/os-release": 'ID=debian\nVERSION_ID="12"\n'}


def dpkg(*pkgs, status="install ok installed"):
    return "\n".join(f"Package: {n}\nStatus: {status}\nArchitecture: amd64\nSource: {src}\nVersion: {v}\n"
                     f"Description: x\n continuation line\n" for n, v, src in pkgs) + "\n"


def vuln(ctx):
    return run_check(REGISTRY["vuln.remote"], ctx)


def test_dpkg_status_parsing():
    text = dpkg(("openssh-server", "1:9.2p1-2+deb12u2", "openssh"))
    text += "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: bad\n\n"
    pkgs = parse_dpkg_status(text)
    assert [(p.name, p.version, p.source) for p in pkgs] == [("openssh-server", "1:9.2p1-2+deb12u2", "openssh")]


def test_regresshion_on_debian12_by_source_package():
    ctx = context({**DEB12, "/var/lib/dpkg/status": dpkg(("openssh-server", "1:9.2p1-2+deb12u2", "openssh"),
                                                         ("bash", "5.2.15-2+b2", "bash"))})
    r = vuln(ctx)
    assert r.status == "fail"
    assert r.evidence[0].startswith("openssh-server 1:9.2p1-2+deb12u2: CVE-2024-6387")
    assert "< 1:9.2p1-2+deb12u3 (fixed)" in r.evidence[0] and "dsa-5724" in r.evidence[0]
    fixed = context({**DEB12, "/var/lib/dpkg/status": dpkg(("openssh-server", "1:9.2p1-2+deb12u3", "openssh"))})
    assert vuln(fixed).status == "pass"


@pytest.mark.parametrize("version,status", [("1:8.9p1-3ubuntu0.6", "fail"), ("1:8.9p1-3ubuntu0.10", "pass"),
                                            ("1:8.9p1-3ubuntu0.13", "pass")])
def test_ubuntu_2204(version, status):
    ctx = context({"/etc/os-release": 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n',
                   "/var/lib/dpkg/status": dpkg(("openssh-server", version, "openssh"))})
    assert vuln(ctx).status == status


def test_other_release_is_not_matched():
    ctx = context({"/etc/os-release": 'ID=debian\nVERSION_ID="11"\n',
                   "/var/lib/dpkg/status": dpkg(("openssh-server", "1:8.4p1-5+deb11u1", "openssh"))})
    assert vuln(ctx).status == "pass"


@pytest.mark.parametrize("kind,release,status", [("sqlite", "38.el9", "fail"), ("sqlite", "38.el9_4.1", "pass"),
                                                 ("bdb", "38.el9_4", "fail")])
def test_rocky9_rpm_databases(kind, release, status):
    files = rpm_database([("openssh-server", "8.7p1", release, None), ("bash", "5.1.8", "9.el9", None)], kind)
    name = next(iter(files))
    ctx = context({"/etc/os-release": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n',
                   f"/usr/lib/sysimage/rpm/{name}": files[name]}, {"/var/lib/rpm": "../../usr/lib/sysimage/rpm"})
    r = vuln(ctx)
    assert r.status == status, r.evidence
    assert any("2 rpm packages compared" in e for e in r.evidence)


def test_apk_and_busybox_alpine():
    text = "C:Q1abc=\nP:busybox\nV:1.36.1-r29\nA:x86_64\no:busybox\n\nP:openssl\nV:3.3.2-r0\n\n"
    assert [(p.name, p.version) for p in parse_apk_installed(text)] == [("busybox", "1.36.1-r29"), ("openssl", "3.3.2-r0")]
    ctx = context({"/etc/os-release": "ID=alpine\nVERSION_ID=3.20.3\n", "/lib/apk/db/installed": text})
    assert vuln(ctx).status == "pass"


def test_no_package_database_is_a_skip_not_a_pass():
    r = vuln(context(DEB12))
    assert r.status == "skip" and "no package database" in r.detail


def test_garbage_rpm_database_is_a_warning_not_a_pass_or_skip():
    """A package database that is there but cannot be read decides nothing: the check warns, naming it."""
    ctx = context({"/etc/os-release": 'ID="centos"\nVERSION_ID="7"\n', "/var/lib/rpm/Packages": b"\x00" * 8192})
    r = vuln(ctx)
    assert r.status == "warn" and "Berkeley DB" in r.detail and "Not reviewed" in r.detail


def test_huge_dpkg_status_is_bounded():
    one = dpkg(("pkg", "1.0-1", "pkg"))
    text = one * (50_000_000 // len(one))
    t = time.monotonic()
    ctx = context({**DEB12, "/var/lib/dpkg/status": text})
    r = vuln(ctx)
    assert time.monotonic() - t < 20
    assert r.status == "pass"


def test_cvss3():
    assert cvss3_base("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == (9.8, "N")
    assert cvss3_base("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H") == (8.1, "N")
    assert cvss3_base("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H") == (10.0, "N")
    assert cvss3_base("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H") == (7.8, "L")
    assert cvss3_base("garbage") is None


def test_ecosystems():
    deb = OsFacts(distro="debian", version="12", family="debian")
    rocky = OsFacts(distro="rocky", version="9.4", family="rhel")
    fedora = OsFacts(distro="fedora", version="40", family="rhel")
    assert ecosystem_matches("Debian:12", deb) and not ecosystem_matches("Debian:11", deb)
    assert ecosystem_matches("Red Hat:enterprise_linux:9::baseos", rocky)
    assert ecosystem_matches("AlmaLinux:9", rocky) and not ecosystem_matches("Rocky Linux:8", rocky)
    assert not ecosystem_matches("Red Hat:enterprise_linux:9", fedora) and ecosystem_matches("Fedora:40", fedora)
    assert ecosystem_matches("Ubuntu:22.04:LTS", OsFacts(distro="ubuntu", version="22.04"))
    assert ecosystem_matches("Alpine:v3.20", OsFacts(distro="alpine", version="3.20.3"))


def test_operator_advisories_are_kept_to_remote_high(tmp_path):
    base = {"affected": [{"package": {"ecosystem": "Debian:12", "name": "curl"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.88.1-10+deb12u5"}]}]}]}
    (tmp_path / "remote.json").write_text(json.dumps({**base, "id": "CVE-2099-0001", "summary": "remote one",
                                                      "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}))
    (tmp_path / "local.json").write_text(json.dumps({**base, "id": "CVE-2099-0002",
                                                     "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}]}))
    (tmp_path / "bad.json").write_text("{not json")
    sets = load_advisories((str(tmp_path),))
    assert [a.id for a in sets.advisories if not a.bundled] == ["CVE-2099-0001"]
    assert sets.not_remote == 1 and any("bad.json" in p for p in sets.problems)
    ctx = context({**DEB12, "/var/lib/dpkg/status": dpkg(("curl", "7.88.1-10+deb12u4", "curl"))},
                  advisories=(str(tmp_path),))
    r = vuln(ctx)
    assert r.status == "fail" and "CVE-2099-0001" in r.evidence[0]
    assert any("left out" in e for e in r.evidence)


def test_bundled_advisories_cite_sources():
    for a in load_advisories().advisories:
        assert a.bundled and a.references and any(x.startswith("CVE-") for x in a.aliases)
    assert {x for a in load_advisories().advisories for x in a.aliases} >= {
        "CVE-2024-6387", "CVE-2024-3094", "CVE-2014-6271", "CVE-2014-0160"}
