"""Version ordering: the tricky pairs each package manager is known for."""

import pytest

from workbench.versions import apk_compare, dpkg_compare, rpm_compare, rpmvercmp


@pytest.mark.parametrize("a,b,want", [
    ("1.0", "1.0", 0), ("1.0", "1.1", -1), ("1:1.0", "2.0", 1), ("0:1.0", "1.0", 0),
    ("1.0~rc1", "1.0", -1), ("1.0~~", "1.0~", -1), ("1.0", "1.0+b1", -1), ("1.0-1", "1.0-1~bpo1", 1),
    ("1:9.2p1-2+deb12u2", "1:9.2p1-2+deb12u3", -1), ("1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u3", 0),
    ("1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u3", 1), ("1:8.9p1-3ubuntu0.10", "1:8.9p1-3ubuntu0.9", 1),
    ("5.6.1+really5.4.5-1", "5.6.1-1", 1), ("1.2a", "1.2", 1), ("1.01", "1.1", 0), ("2.0-1", "2.0-1.1", -1),
    ("4.2+dfsg-0.1+deb7u1", "4.2+dfsg-0.1", 1), ("1.0a", "1.0-", 1),
])
def test_dpkg(a, b, want):
    assert dpkg_compare(a, b) == want
    assert dpkg_compare(b, a) == -want


@pytest.mark.parametrize("a,b,want", [
    ("1.0", "1.0", 0), ("1.0", "1.0.1", -1), ("2.0", "10", -1), ("1.0a", "1.0", 1), ("1.0", "1.0a", -1),
    ("1.0~rc1", "1.0", -1), ("1.0^git1", "1.0", 1), ("1.0^git1", "1.0.1", -1), ("1.0.1", "1.0a", 1),
    ("001", "1", 0), ("1.0.0", "1.0", 1), ("a", "1", -1), ("1_0", "1.0", 0),
])
def test_rpmvercmp(a, b, want):
    assert rpmvercmp(a, b) == want
    assert rpmvercmp(b, a) == -want


@pytest.mark.parametrize("a,b,want", [
    ("8.7p1-38.el9_4.1", "8.7p1-38.el9_4.1", 0), ("8.7p1-38.el9", "8.7p1-38.el9_4.1", -1),
    ("8.7p1-38.el9_4.4", "8.7p1-38.el9_4.1", 1), ("8.7p1-43.el9", "8.7p1-38.el9_4.1", 1),
    ("1:1.0-1", "2.0-1", 1), ("4.2.46-34.el7", "4.2.45-5.el7_0.4", 1), ("1.0.1e-16.el6_5.7", "1.0.1e-16.el6_5", 1),
    ("1.0.1e-15.el6", "1.0.1e-16.el6_5.7", -1), ("1.0", "1.0-1", 0),
])
def test_rpm(a, b, want):
    assert rpm_compare(a, b) == want
    assert rpm_compare(b, a) == -want


@pytest.mark.parametrize("a,b,want", [
    ("1.0-r0", "1.0-r1", -1), ("1.0_rc1-r0", "1.0-r0", -1), ("1.0_p1-r0", "1.0-r0", 1), ("1.0a-r0", "1.0-r0", 1),
    ("9.7_p1-r4", "9.7_p1-r5", -1), ("5.6.1-r2", "5.6.1-r1", 1), ("1.2.10", "1.2.9", 1), ("1.0_alpha", "1.0_beta", -1),
    ("2.0", "2.0-r0", 0),
])
def test_apk(a, b, want):
    assert apk_compare(a, b) == want
    assert apk_compare(b, a) == -want
