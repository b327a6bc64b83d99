"""KVM that exists but cannot start: the session retries with TCG and says so once.

A qemu wrapper that refuses KVM (as qemu on this workplace's machines does)
makes the behaviour the same on every machine, with or without /dev/kvm.
"""

import os
import stat

import pytest

from workbench.image import appliance as sessmod

pytestmark = pytest.mark.appliance

# libguestfs probes qemu first (-help, -qmp); only the appliance launch (-kernel) with KVM is refused.
WRAPPER = """#!/bin/sh
case " $* " in *" -kernel "*accel=kvm*|*accel=kvm*" -kernel "*)
  echo "qemu: failed to set MSR 0x10a (test wrapper refusing KVM)" >&2; exit 1;;
esac
exec {qemu} "$@"
"""


def test_failed_kvm_launch_falls_back_to_tcg_once(tmp_path, monkeypatch):
    if not os.path.exists("/dev/kvm"):
        pytest.skip("no /dev/kvm here: libguestfs uses TCG from the start, there is nothing to fall back from")
    import shutil

    qemu = shutil.which("qemu-system-x86_64")
    hv = tmp_path / "qemu-no-kvm"
    hv.write_text(WRAPPER.format(qemu=qemu))
    hv.chmod(hv.stat().st_mode | stat.S_IXUSR)
    disk = _empty_disk(tmp_path)
    monkeypatch.setenv("LIBGUESTFS_HV", str(hv))
    monkeypatch.delenv("LIBGUESTFS_BACKEND_SETTINGS", raising=False)
    monkeypatch.setattr(sessmod, "_accel", {"tcg": False, "announced": False})
    notices = []
    g, accel = sessmod.launch(lambda h: h.add_drive_opts(str(disk), format="raw", readonly=True), notices.append)
    try:
        assert accel == "tcg"
        assert "force_tcg" in g.get_backend_settings()
    finally:
        g.close()
    assert len(notices) == 1 and "TCG" in notices[0]
    # remembered for the process: the next handle goes straight to TCG, and nothing more is said
    h = sessmod.new_handle()
    assert "force_tcg" in h.get_backend_settings()
    h.close()
    assert sessmod.expected_launch_seconds() == sessmod.EXPECTED_LAUNCH["tcg"]


@pytest.fixture
def tcg(monkeypatch):
    """This process launches by TCG (as every launch here does: qemu aborts under KVM on these machines)."""
    monkeypatch.setattr(sessmod, "_accel", {"tcg": True, "announced": True})
    monkeypatch.delenv("LIBGUESTFS_PATH", raising=False)
    monkeypatch.delenv("WORKBENCH_APPLIANCE_PVH", raising=False)


def _empty_disk(tmp_path) -> str:
    disk = tmp_path / "d.img"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    return str(disk)


def test_under_tcg_the_appliance_starts_its_kernel_at_the_pvh_entry(tmp_path, tcg):
    """The fixed appliance beside libguestfs's own: its kernel an ELF that qemu can only start at its PVH entry (qemu
    refuses an ELF without the note), its initrd and root the supermin appliance's; the appliance answers."""
    from workbench.image.pvh import PVH_PREFIX, has_pvh_note

    disk = _empty_disk(tmp_path)
    g, accel = sessmod.launch(lambda h: h.add_drive_opts(disk, format="raw", readonly=True))
    try:
        path = g.get_path()
        assert accel == "tcg" and os.path.basename(path).startswith(PVH_PREFIX), path
        with open(os.path.join(path, "kernel"), "rb") as f:
            assert has_pvh_note(f.read())
        supermin = os.path.join(g.get_cachedir(), f".guestfs-{os.geteuid()}", "appliance.d")
        assert os.readlink(os.path.join(path, "root")) == os.path.join(supermin, "root")
        assert g.list_devices() == ["/dev/sda"] and g.blockdev_getsize64("/dev/sda") == 1 << 20
    finally:
        g.close()


def test_a_fixed_appliance_that_does_not_start_falls_back_to_the_kernel_as_it_is(tmp_path, tcg, monkeypatch):
    """A kernel qemu refuses (an ELF without a PVH note): the launch is tried again with libguestfs's own appliance,
    and that one answers."""
    import shutil

    from workbench.image.pvh import fixed_appliance

    bad = tmp_path / "broken"

    def broken(g):  # the fixed appliance made as usual, then its kernel swapped for one qemu refuses
        good = fixed_appliance(g)
        bad.mkdir()
        shutil.copy("/bin/true", bad / "kernel")  # an x86-64 ELF, no PVH note
        for f in ("initrd", "root", "README.fixed"):
            os.symlink(os.path.join(good, f), bad / f)
        tried.append(good)
        return str(bad)

    tried = []
    monkeypatch.setattr(sessmod, "fixed_appliance", broken)
    disk = _empty_disk(tmp_path)
    g, accel = sessmod.launch(lambda h: h.add_drive_opts(disk, format="raw", readonly=True))
    try:
        assert tried and tried[0] and accel == "tcg" and g.get_path() not in (str(bad), tried[0])
        assert g.list_devices() == ["/dev/sda"]
    finally:
        g.close()
