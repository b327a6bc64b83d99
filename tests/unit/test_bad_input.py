"""Bad input: one clear sentence on stderr, exit 2, no traceback, nothing written."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from tests.conftest import gpt_raw_copy, sha256


def assert_one_sentence(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for w in words:
        assert w in lines[0], lines[0]


def listing(d):
    return sorted(os.listdir(d))


@pytest.fixture
def workdir(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.mark.parametrize("quick", [True, False])
def test_missing_path(run_cli, workdir, quick):
    args = ["check", workdir / "nope.qcow2"] + (["--quick"] if quick else [])
    assert_one_sentence(run_cli(*args), "no such file")
    assert listing(workdir) == []


def test_directory(run_cli, workdir):
    assert_one_sentence(run_cli("check", workdir, "--quick"), "is a directory")


def test_empty_file(run_cli, workdir):
    (workdir / "empty.img").write_bytes(b"")
    assert_one_sentence(run_cli("check", workdir / "empty.img"), "is empty")
    assert listing(workdir) == ["empty.img"]


def test_random_bytes(run_cli, workdir):
    img = workdir / "random.bin"
    img.write_bytes(os.urandom(1 << 20))
    before = sha256(img)
    assert_one_sentence(run_cli("check", img), "neither a partition table nor a file system")
    assert sha256(img) == before and listing(workdir) == ["random.bin"]


def test_truncated_qcow2(run_cli, built, workdir):
    img = workdir / "cut.qcow2"
    shutil.copyfile(built("sample"), img)
    os.truncate(img, 3 << 20)
    before = sha256(img)
    assert_one_sentence(run_cli("check", img), "truncated")
    assert sha256(img) == before


def test_qcow2_header_only(run_cli, built, workdir):
    img = workdir / "head.qcow2"
    img.write_bytes(built("sample").read_bytes()[:100])
    assert_one_sentence(run_cli("check", img, "--quick"), "cannot be opened as a disk image")


LUKS_QCOW2 = ["qemu-img", "create", "-q", "-f", "qcow2", "--object", "secret,id=s0,data=pw", "-o",
              "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=200"]


def _make_encrypted(out) -> None:
    # qemu-img times its key derivation by the thread's CPU clock; on a busy machine a round can read as 0 ms and it
    # gives up ("Unable to get accurate CPU usage"): a retry is a new measurement (five in a row failed under load)
    for attempt in range(60):
        made = subprocess.run([*LUKS_QCOW2, str(out), "1G"], capture_output=True, text=True)
        if made.returncode == 0 or "accurate CPU usage" not in made.stderr:
            break
        time.sleep(min(0.1 * attempt, 2))
    assert made.returncode == 0, made.stderr


def test_encrypted_image(run_cli, workdir):
    from tests.fixtures import cache

    img = workdir / "enc.qcow2"
    shutil.copyfile(cache.cached("luks.qcow2", [" ".join(LUKS_QCOW2)], _make_encrypted), img)  # once per machine
    assert_one_sentence(run_cli("check", img), "encrypted")


def test_corrupt_gpt(run_cli, built, workdir):
    img = gpt_raw_copy(built("gpt-esp-debian"), workdir / "gpt.raw")
    before = sha256(img)
    assert_one_sentence(run_cli("check", img, "--quick"), "corrupt GPT")
    assert sha256(img) == before


@pytest.mark.boot  # a real qemu holds the image
def test_image_locked_by_a_running_vm(run_cli, built, workdir):
    img = workdir / "busy.qcow2"
    shutil.copyfile(built("just-over-5g"), img)
    vm = subprocess.Popen(["qemu-system-x86_64", "-accel", "tcg", "-m", "32", "-S", "-nographic",
                           "-nodefaults", "-monitor", "none", "-serial", "none",
                           "-drive", f"file={img},format=qcow2,if=virtio"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:  # wait until qemu holds the lock
            probe = subprocess.run(["qemu-img", "info", str(img)], capture_output=True, text=True)
            if probe.returncode != 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("qemu did not lock the image within 20 s")
        assert_one_sentence(run_cli("check", img), "in use by another process")
    finally:
        vm.kill()
        vm.wait()


def test_unreadable_file(built, tmp_path):
    """As an unprivileged user (root reads everything, so drop to nobody when root)."""
    d = tempfile.mkdtemp(prefix="wb-unreadable-")
    os.chmod(d, 0o755)
    img = os.path.join(d, "secret.qcow2")
    shutil.copyfile(built("just-over-5g"), img)
    os.chmod(img, 0o000)
    cmd = [sys.executable, "-m", "workbench", "check", img, "--quick"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=d,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HOME": d})
        assert_one_sentence(proc, "permission denied")
    finally:
        shutil.rmtree(d)


@pytest.mark.parametrize("args,words", [
    (["check"], "the following arguments are required: image"),
    (["check", "a.qcow2", "--format", "xml"], "invalid choice"),
    (["check", "a.qcow2", "--bogus"], "unrecognized arguments"),
    (["frobnicate.qcow2", "extra"], "unrecognized arguments"),
    (["check", "a.qcow2", "--advisories", "/nonexistent-dir"], "no such directory"),
])
def test_bad_arguments(run_cli, args, words):
    assert_one_sentence(run_cli(*args), words)


def test_tui_refuses_bad_input_before_the_screen(run_cli, workdir):
    assert_one_sentence(run_cli(workdir / "missing.qcow2"), "no such file")


def test_demo_refuses_to_overwrite(run_cli, workdir):
    (workdir / "sample.qcow2").write_bytes(b"keep")
    assert_one_sentence(run_cli("demo", workdir / "sample.qcow2"), "already exists")
    assert (workdir / "sample.qcow2").read_bytes() == b"keep"


def test_rehearse_refuses_before_booting(run_cli, built, workdir):
    """Bad input to rehearse: one sentence, exit 2, nothing written, no appliance launched."""
    sample = built("sample")
    conf = workdir / "os.conf"
    conf.write_text("hostname=iZ23r29djmjZ\n")
    before = listing(workdir)
    assert_one_sentence(run_cli("rehearse", sample, "--os-conf", workdir / "missing.conf"), "missing.conf")
    assert_one_sentence(run_cli("rehearse", sample, "--os-conf", conf, "--timeout", "0"), "--timeout")
    assert_one_sentence(run_cli("rehearse", workdir / "none.qcow2", "--os-conf", conf), "no such file")
    # an image with no boot code in its first sector: a bootloader boot is refused at once
    proc = run_cli("rehearse", built("gpt-esp-debian"), "--os-conf", conf, "--boot", "bootloader", "--firmware", "bios")
    assert_one_sentence(proc, "no BIOS boot code")
    proc = run_cli("rehearse", sample, "--os-conf", conf, "--boot", "bootloader", "--firmware", "uefi")
    assert_one_sentence(proc, "no EFI system partition")
    assert_one_sentence(run_cli("rehearse", sample, "--os-conf", conf, "--disk", "scsi"), "--disk")
    assert listing(workdir) == before
