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
    disk = tmp_path / "d.img"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
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
