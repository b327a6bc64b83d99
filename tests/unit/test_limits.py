"""The four import-limit checks on real images, host side (--quick)."""

import subprocess

import pytest

from workbench.errors import ImageError
from workbench.checks import REGISTRY, Context, all_checks, run_checks
from workbench.image.preflight import preflight
from workbench.image.session import GuestReport, TrialWrite
from workbench.image.tree import GuestTree
from workbench.image.osinfo import OsFacts


def statuses(path, guest=None, allow_backing=False):
    facts = preflight(str(path), allow_backing=allow_backing)
    results = run_checks(Context(facts, guest=guest, quick=guest is None), area="limits")
    return {r.id: r for r in results}


def test_limit_ids_are_registered():
    ids = [c.id for c in all_checks()]
    assert ids[:4] == ["limit.image-format", "limit.virtual-size", "limit.first-partition-fs",
                       "limit.first-partition-writable"]


@pytest.mark.parametrize("name,expected", [
    ("sample", {"limit.image-format": "pass", "limit.virtual-size": "pass", "limit.first-partition-fs": "pass",
                "limit.first-partition-writable": "pass"}),
    ("sample-vhd", {"limit.image-format": "pass"}),
    ("sample-vmdk", {"limit.image-format": "warn"}),
    ("exactly-5g", {"limit.virtual-size": "fail"}),
    ("just-over-5g", {"limit.virtual-size": "pass"}),
    ("gpt-esp-debian", {"limit.first-partition-fs": "pass", "limit.first-partition-writable": "pass"}),
    ("fat16-first", {"limit.first-partition-fs": "fail", "limit.first-partition-writable": "skip"}),
    ("xfs-first", {"limit.first-partition-fs": "fail"}),
    ("lvm-centos7", {"limit.first-partition-fs": "fail"}),
    ("lvm-first", {"limit.first-partition-fs": "fail", "limit.first-partition-writable": "skip"}),
    ("luks-first", {"limit.first-partition-fs": "fail"}),
    ("swap-first", {"limit.first-partition-fs": "fail"}),
    ("bios-boot-first", {"limit.first-partition-fs": "fail"}),
    ("whole-disk-ext4", {"limit.first-partition-fs": "fail", "limit.first-partition-writable": "skip"}),
    ("gpt-readonly-attr", {"limit.first-partition-fs": "pass", "limit.first-partition-writable": "fail"}),
    ("ext4-unclean", {"limit.first-partition-writable": "fail"}),
    ("ext2-full", {"limit.first-partition-fs": "pass", "limit.first-partition-writable": "fail"}),
    ("mbr-logical", {"limit.first-partition-fs": "pass"}),
])
def test_limit_statuses(built, name, expected):
    got = statuses(built(name))
    assert {k: got[k].status for k in expected} == expected
    for r in got.values():
        assert r.detail and r.detail.endswith((".", ")")), r
        if r.status == "fail":
            assert r.fix, f"{r.id} fails without a fix"
            assert r.severity == "blocker"


@pytest.mark.parametrize("name,words", [
    ("fat16-first", "FAT16"), ("xfs-first", "CentOS/RHEL 7 default"), ("lvm-first", "LVM physical volume"),
    ("luks-first", "LUKS-encrypted"),
    ("swap-first", "swap"), ("bios-boot-first", "BIOS boot partition"), ("whole-disk-ext4", "no partition table"),
])
def test_each_failing_kind_is_explained(built, name, words):
    assert words in statuses(built(name))["limit.first-partition-fs"].detail


def test_exactly_five_gib_is_refused_with_a_resize_fix(built):
    r = statuses(built("exactly-5g"))["limit.virtual-size"]
    assert "exactly 5 GiB is refused" in r.detail and "qemu-img resize" in r.fix


def test_writable_reasons(built):
    assert "read-only attribute" in statuses(built("gpt-readonly-attr"))["limit.first-partition-writable"].detail
    unclean = statuses(built("ext4-unclean"))["limit.first-partition-writable"]
    assert "journal needs recovery" in unclean.detail and "cleanly" in unclean.fix
    assert "is free" in statuses(built("ext2-full"))["limit.first-partition-writable"].detail


def test_logical_first_partition_is_noted(built):
    r = statuses(built("mbr-logical"))["limit.first-partition-fs"]
    assert any("partition 5 lies first on disk" in e for e in r.evidence)


def test_backing_file_fails_the_format_check(built, tmp_path):
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", str(built("sample")), str(overlay)],
                   check=True, capture_output=True)
    with pytest.raises(ImageError, match="overlay on the backing file .*sample.qcow2; refused"):
        statuses(overlay)  # an image must not make the workbench read another file unless the operator allows it
    r = statuses(overlay, allow_backing=True)["limit.image-format"]
    assert r.status == "fail" and "backing file" in r.detail and "qemu-img convert" in r.fix
    assert r.evidence[1] == f"backing file: {built('sample')}"


def _report(trial: TrialWrite) -> GuestReport:
    return GuestReport(os=OsFacts(distro="centos"), tree=GuestTree(), root_device="/dev/sda2", trial_write=trial)


def test_trial_write_result_decides_writability(built):
    ok = statuses(built("sample"), _report(TrialWrite(True, "wrote it", 10 << 20, 100)))
    assert ok["limit.first-partition-writable"].status == "pass"
    assert "trial write" in ok["limit.first-partition-writable"].detail.lower()
    bad = statuses(built("sample"), _report(TrialWrite(False, "mounting /dev/sda1 read-write failed: EROFS")))
    assert bad["limit.first-partition-writable"].status == "fail"
    assert "EROFS" in bad["limit.first-partition-writable"].detail


def test_quick_says_it_was_not_confirmed(built):
    r = statuses(built("sample"))["limit.first-partition-writable"]
    assert "--quick" in r.detail


def test_guest_checks_skip_with_a_reason_in_quick_mode(built):
    facts = preflight(str(built("sample")))
    for r in run_checks(Context(facts, quick=True)):
        if REGISTRY[r.id].needs_guest:
            assert r.status == "skip" and "--quick" in r.detail
