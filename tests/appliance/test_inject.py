"""inject and uninject on real images of each layout: what is written, verified, idempotent, reversible."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import sha256
from tests.unit.sim_helpers import VPC
from workbench.checks import Context, run_checks
from workbench.image.preflight import preflight
from workbench.image.session import GuestSession
from workbench.image.tree import mode_kind
from workbench.inject import MANIFEST, uninject
from workbench.state import InjectTarget, ReviewSession


def inject(src: str, output: str | None = None, fix_ids=(), osconf_text: str | None = None, in_place: bool = False):
    """`workbench inject` as the CLI runs it: a session on SRC, its os.conf and fixes, then the write."""
    s = ReviewSession(src)
    s.take_facts(s.preflight())
    s.set_osconf(osconf_text)
    s.choose_fixes(fix_ids)
    return s.inject(InjectTarget(output, in_place, with_osconf=osconf_text is not None))


pytestmark = pytest.mark.appliance


def read(path, *paths):
    """{path: (kind, content or target, mode, uid, gid)} of an image, through a read-only session."""
    facts = preflight(str(path))
    out = {}
    with GuestSession(facts) as s:
        report = s.open()
        for p in paths:
            st = s.lstat(p)
            if st is None:
                out[p] = None
                continue
            mode, uid, gid = st
            kind = mode_kind(mode)
            data = s.read_file(p) if kind == "file" else s.readlink(p) if kind == "link" else None
            out[p] = (kind, data, mode & 0o7777, uid, gid)
    return out, facts, report


@pytest.fixture(scope="module")
def sample_injected(built, tmp_path_factory):
    src = built("sample")
    before = sha256(src)
    out = tmp_path_factory.mktemp("inject") / "injected.qcow2"
    result = inject(str(src), str(out), fix_ids=("fix.remove-host-keys", "fix.disable-service", "fix.lock-account"))
    return src, before, out, result


def test_new_image_written_verified_source_untouched(sample_injected):
    src, before, out, result = sample_injected
    assert result.ok and out.exists() and sha256(src) == before
    assert not [n for n in os.listdir(out.parent) if ".wb-partial-" in n]
    shown = {w.path: w for w in result.plan.writes}
    assert shown["/etc/rc.d/init.d/os-conf"].mode == 0o755  # behind the /etc/init.d -> rc.d/init.d link
    assert result.plan.init == "systemd" and result.plan.flavor == "sysconfig"
    assert {v.path for v in result.verified} >= {"/etc/rc.d/init.d/os-conf", "/boot/aliyun_custom_image",
                                                 "/etc/systemd/system/multi-user.target.wants/os-conf.service"}
    assert "/.autorelabel" in result.labelling  # permissive SELinux without file contexts: relabel at boot


def test_written_files_modes_links_and_manifest(sample_injected):
    _, _, out, _ = sample_injected
    got, facts, report = read(out, "/etc/init.d/os-conf", "/etc/systemd/system/os-conf.service",
                              "/etc/systemd/system/multi-user.target.wants/os-conf.service", "/boot/aliyun_custom_image",
                              "/etc/ssh/ssh_host_rsa_key", "/etc/shadow", MANIFEST, "/.autorelabel")
    kind, script, mode, uid, _ = got["/etc/init.d/os-conf"]
    assert kind == "file" and mode == 0o755 and uid == 0
    assert script.startswith(b"#!/bin/sh\n### BEGIN INIT INFO") and b"FIRST_UUID='9b2c3a4e-7f1d" in script
    assert got["/etc/systemd/system/os-conf.service"][1].startswith(b"# written by workbench")
    assert got["/etc/systemd/system/multi-user.target.wants/os-conf.service"][:2] == (
        "link", "/etc/systemd/system/os-conf.service")
    assert got["/boot/aliyun_custom_image"][0] == "dir"
    assert got["/etc/ssh/ssh_host_rsa_key"] is None
    shadow = got["/etc/shadow"]
    assert shadow[1].startswith(b"root:!$6$") and shadow[2] == 0o000  # locked, mode kept
    manifest = json.loads(got[MANIFEST][1])
    assert manifest["schema"] == "workbench.manifest/1" and sorted(manifest["fixes"]) == [
        "fix.disable-service", "fix.lock-account", "fix.remove-host-keys"]
    entries = {e["path"]: e for e in manifest["entries"]}
    assert entries["/etc/ssh/ssh_host_rsa_key"]["action"] == "delete" and entries["/etc/ssh/ssh_host_rsa_key"]["backup"]
    assert entries["/etc/shadow"]["previous_sha256"] and entries["/etc/rc.d/init.d/os-conf"]["action"] == "create"
    results = {r.id: r for r in run_checks(Context(facts, report))}
    assert results["ssh.host-keys"].status == "pass" and results["service.risky"].status == "pass"
    assert "os-conf parser runs ssh-keygen -A" in results["ssh.host-keys"].evidence[0]


def test_reinject_changes_only_the_manifest_time_then_uninject_restores(sample_injected, tmp_path):
    src, _, out, first = sample_injected
    again = tmp_path / "again.qcow2"
    second = inject(str(out), str(again), fix_ids=("fix.remove-host-keys", "fix.lock-account"))
    assert second.ok and second.written == []
    assert len(second.unchanged) >= 4
    restored = tmp_path / "restored.qcow2"
    done = uninject(str(again), str(restored))
    assert "/etc/rc.d/init.d/os-conf" in done["removed"] and "/etc/shadow" in done["restored"]
    paths = ("/etc/init.d/os-conf", "/etc/systemd/system/os-conf.service", "/boot/aliyun_custom_image",
             "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ed25519_key.pub", "/etc/shadow", "/etc/xinetd.d/telnet",
             MANIFEST, "/var/lib/workbench", "/.autorelabel")
    now, _, _ = read(restored, *paths)
    original, _, _ = read(src, *paths)
    assert now == original  # content, modes and owners (the host keys' group 997) as before


def test_debian_fat32_esp_and_os_conf(built, tmp_path):
    out = tmp_path / "deb.qcow2"
    result = inject(str(built("gpt-esp-debian")), str(out), osconf_text=VPC)
    assert result.ok
    assert result.plan.flavor == "ifupdown" and result.plan.init == "systemd"
    got, _, _ = read(out, "/boot/efi/aliyun_custom_image/os.conf", "/etc/init.d/os-conf")
    assert got["/boot/efi/aliyun_custom_image/os.conf"][1] == VPC.encode()  # on the FAT32 ESP
    assert b"FIRST_UUID='ABCD-1234'" in got["/etc/init.d/os-conf"][1]


def test_sysvinit_rc_links_and_selinux_labels(built, tmp_path):
    out = tmp_path / "c6.qcow2"
    result = inject(str(built("centos6-sysv-selinux")), str(out))
    assert result.ok and result.plan.init == "sysvinit"
    links = [w.path for w in result.plan.writes if w.kind == "link"]
    assert links == [f"/etc/rc.d/rc{n}.d/S05os-conf" for n in (2, 3, 4, 5)]
    labels = {v.path: v.detail for v in result.verified if v.path.endswith("(SELinux label)")}
    assert labels["/etc/rc.d/init.d/os-conf (SELinux label)"] == "labelled system_u:object_r:initrc_exec_t:s0"
    assert labels[f"{MANIFEST} (SELinux label)"] == "labelled system_u:object_r:var_lib_t:s0"
    assert result.labelling.startswith("labelled") and "/.autorelabel" not in result.labelling


def test_openrc_in_place(built, tmp_path):
    work = tmp_path / "alpine.qcow2"
    shutil.copyfile(built("alpine-openrc"), work)
    result = inject(str(work), in_place=True)
    assert result.ok and result.in_place and result.plan.init == "openrc" and result.plan.flavor == "ifupdown"
    got, _, _ = read(work, "/etc/init.d/os-conf", "/etc/runlevels/default/os-conf")
    assert got["/etc/init.d/os-conf"][1].startswith(b"#!/sbin/openrc-run")
    assert got["/etc/runlevels/default/os-conf"][:2] == ("link", "/etc/init.d/os-conf")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_refusals_write_nothing(built, tmp_path):
    src = built("just-over-5g")
    existing = tmp_path / "exists.qcow2"
    existing.write_bytes(b"keep me")
    for args, words in ([("inject", src, "--output", existing), "already exists"],
                        [("inject", src, "--in-place"), "add --yes"],
                        [("inject", src), "say where to write"],
                        [("inject", src, "--output", src), "--output is the source image"],
                        [("inject", src, "--output", tmp_path / "x.qcow2", "--fix", "fix.nonsense"), "not a fix"],
                        [("inject", tmp_path / "missing.qcow2", "--output", tmp_path / "y.qcow2"), "no such file"],
                        [("uninject", src, "--output", tmp_path / "z.qcow2"), "no workbench manifest"]):
        proc = cli(*args)
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert existing.read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["exists.qcow2"]


def test_refuses_read_only_storage_and_too_little_space(built, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only bind and a small tmpfs")
    src = built("just-over-5g")
    ro, small = tmp_path / "ro", tmp_path / "small"
    ro.mkdir()
    small.mkdir()
    subprocess.run(["mount", "--bind", str(ro), str(ro)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        proc = cli("inject", src, "--output", ro / "out.qcow2")
        assert proc.returncode == 2 and "read-only storage" in proc.stderr
        proc = cli("inject", src, "--output", small / "out.qcow2")
        assert proc.returncode == 2 and "MiB free" in proc.stderr
        assert os.listdir(small) == [] and os.listdir(ro) == []
    finally:
        subprocess.run(["umount", str(ro)])
        subprocess.run(["umount", str(small)])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_mid_write_leaves_no_output(built, tmp_path, sig):
    out = tmp_path / "out.qcow2"
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "inject", str(built("just-over-5g")), "--output",
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not [n for n in os.listdir(tmp_path) if ".wb-partial-" in n]:
        time.sleep(0.05)
    assert [n for n in os.listdir(tmp_path) if ".wb-partial-" in n], "the partial output never appeared"
    time.sleep(3)  # the copy is done and the appliance is starting or writing
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert not out.exists()
    partial = [n for n in os.listdir(tmp_path) if ".wb-partial-" in n]
    if sig == signal.SIGTERM:
        assert partial == [] and proc.returncode != 0
    else:  # no chance to clean up: the next run removes the dead process's partial file
        assert len(partial) == 1
        from workbench.staging import partial_name as _partial_name

        _partial_name(str(out))
        assert [n for n in os.listdir(tmp_path) if ".wb-partial-" in n] == []


def test_a_second_uninject_after_an_interrupted_one_loses_nothing(sample_injected, tmp_path, monkeypatch):
    """The first uninject stops between restoring (its backups already removed) and removing the manifest, as ^C
    there would. Run again, it used to remove each restored file and then fail on its missing backup: the image
    lost /etc/shadow (as it lost /etc/ssh/sshd_config in the issue). Now it restores nothing twice, removes only
    what is still workbench's, and the image ends as it was before the inject."""
    src, _, out, _ = sample_injected
    image = tmp_path / "twice.qcow2"
    shutil.copyfile(out, image)
    real_remove = GuestSession.remove

    def interrupted(self, path):
        if path == MANIFEST:
            raise KeyboardInterrupt
        real_remove(self, path)

    monkeypatch.setattr(GuestSession, "remove", interrupted)
    with pytest.raises(KeyboardInterrupt):
        uninject(str(image), in_place=True)
    monkeypatch.setattr(GuestSession, "remove", real_remove)
    paths = ("/etc/shadow", "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ed25519_key.pub", "/etc/xinetd.d/telnet",
             "/etc/init.d/os-conf", "/etc/systemd/system/os-conf.service", MANIFEST, "/var/lib/workbench/backup")
    between, _, _ = read(image, *paths)
    assert between[MANIFEST] is not None and between["/var/lib/workbench/backup"] is None  # as interrupted
    done = uninject(str(image), in_place=True)
    assert done["restored"] == [] and done["left"] == [], done  # all of it was restored the first time
    now, _, _ = read(image, *paths)
    original, _, _ = read(src, *paths)
    assert now == original and now["/etc/shadow"] is not None and now[MANIFEST] is None
