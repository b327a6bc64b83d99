"""Hostile images through the real appliance, and interruptions at the worst moments.

The hostile Debian hides findings past the read limits (an empty root password at the end of a 6 MiB
shadow, a vulnerable openssh after 100,000 packages, a private key padded to 200 KiB), carries an 8 GiB
sparse file, an sshd Include fan-out, and escape sequences and markup in its OS name, labels, user names and
key comments. The review must find or flag every hidden finding, stay bounded in time and host disk, and keep
the terminal and the documents clean.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import sha256, workbench_cmd

pytestmark = [pytest.mark.appliance, pytest.mark.timeout(600)]


@pytest.fixture
def small_tmp(tmp_path):
    """A 160 MiB tmpfs as TMPDIR: a review that expanded a sparse file or spooled a big tree would fill it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs for TMPDIR")
    d = tmp_path / "tmp"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_hostile_debian_is_reviewed_without_hiding_anything(built, run_cli, small_tmp, tmp_path):
    image = built("hostile-debian")
    before = sha256(image)
    env = {"TMPDIR": str(small_tmp), "LIBGUESTFS_CACHEDIR": "/var/tmp"}  # the appliance cache stays put
    t = time.monotonic()
    proc = run_cli("check", image, "--format", "json", env=env)
    assert proc.returncode == 1, proc.stderr
    assert time.monotonic() - t < 120
    doc = json.loads(proc.stdout)
    checks = {c["id"]: c for c in doc["checks"]}
    # the empty root password sits past the read limit: not read, so not passed, and said so
    assert checks["password.empty"]["status"] == "warn"
    assert any(e.startswith("not read: /etc/shadow") for e in checks["password.empty"]["evidence"])
    # found anyway: the openssh after 100,000 packages, the padded key
    assert checks["vuln.remote"]["status"] == "fail"
    assert checks["vuln.remote"]["evidence"][0].startswith("openssh-server 1:9.2p1-2+deb12u2: CVE-2024-6387")
    assert checks["ssh.user-keys"]["status"] == "fail"
    assert "/home/debian/.ssh/id_ed25519" in checks["ssh.user-keys"]["evidence"][0]
    assert checks["ssh.sshd-config"]["status"] == "warn"  # the Include fan-out was cut, and said so
    not_read = {n["path"] for n in doc["guest"]["not_read"]}
    assert {"/etc/shadow", "/etc/huge.img"} <= not_read
    # the terminal: text output with no control characters from the image
    proc = run_cli("check", image, env=env)
    assert proc.returncode == 1
    for bad in ("\x1b", "\x07", "\r"):
        assert bad not in proc.stdout + proc.stderr
    assert "Debian GNU/Linux 12\ufffd]52;c;aGFja2Vk\ufffd" in proc.stdout  # shown, but harmless
    # the documents: markup from the image shown as text
    for name in ("r.md", "r.html"):
        proc = run_cli("report", image, "--output", tmp_path / name, env=env)
        assert proc.returncode == 1, proc.stderr
        text = (tmp_path / name).read_text()
        assert "<img" not in text and "<script" not in text and "\x1b" not in text, name
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed: the HTML report was not rendered (the bootstrap installs it)")
    else:  # rendered: the key comment from the image is text on the page, not an element
        from tests.appliance.test_report_batch import CHROMIUM_FLAGS

        dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                              (tmp_path / "r.html").as_uri()], capture_output=True, text=True, timeout=120).stdout
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script" not in dom and "<img" not in dom
    assert sha256(image) == before


def test_a_recursive_rpm_view_is_a_warning_in_seconds(built, run_cli):
    t = time.monotonic()
    proc = run_cli("check", built("hostile-rpm"), "--format", "json")
    assert time.monotonic() - t < 90 and proc.returncode in (0, 1), proc.stderr
    vuln = next(c for c in json.loads(proc.stdout)["checks"] if c["id"] == "vuln.remote")
    assert vuln["status"] == "warn" and "a view" in vuln["detail"]


def _tmpdir(directory) -> dict:
    """The environment with TMPDIR in directory: the appliance's qemu then names it on its command line."""
    return {**os.environ, "TMPDIR": str(directory)}


def _our_qemus(directory) -> set[int]:
    """The qemu processes whose command line names DIRECTORY (this test's own: other tests and other reviews run
    qemu beside it)."""
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            if os.path.basename(cmd.split(b"\0")[0]).startswith(b"qemu-system") and str(directory).encode() in cmd:
                out.add(int(pid))
        except OSError:
            pass
    return out


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_during_the_launch_stops_it_at_once(built, sig, code, word, tmp_path):
    image = tmp_path / "sample.qcow2"
    shutil.copyfile(built("sample"), image)
    before = _our_qemus(tmp_path)
    # as from an operator's terminal: ^C acts (an xdist worker, like a shell's background job, ignores SIGINT,
    # and a child inherits that)
    proc = subprocess.Popen(workbench_cmd() + ["check", str(image)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_tmpdir(tmp_path),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while not (_our_qemus(tmp_path) - before) and time.monotonic() < deadline:  # the appliance is booting
        time.sleep(0.1)
    assert _our_qemus(tmp_path) - before, "the appliance's qemu was never seen: the signal would not land in the launch"
    time.sleep(1)
    proc.send_signal(sig)
    t = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t < 3, "the launch was not stopped at once"
    assert proc.returncode == code and out == ""
    lines = [ln for ln in err.splitlines() if ln.strip() and "KVM" not in ln]
    assert lines == [f"workbench: {word}"], err
    time.sleep(1)
    assert not (_our_qemus(tmp_path) - before), "the appliance's qemu was left running"


INTERRUPT_AT = """
import os, signal, sys
sys.path.insert(0, {root!r})
from workbench.inject import writer
real, count = writer.Writer.apply, [0]
def apply(self, w):
    count[0] += 1
    if count[0] == {at}:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives during this write: it is finished, then the run stops
    return real(self, w)
writer.Writer.apply = apply
from workbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _read(path, paths):
    from tests.appliance.test_inject import read

    return read(path, *paths)[0]


def test_an_interrupted_in_place_inject_is_undone_exactly(built, run_cli, tmp_path):
    """SIGTERM in the middle of writing: the journal (saved before the first change) lets uninject restore every
    file; a later inject and uninject never touch backups they did not make."""
    from pathlib import Path

    from workbench.image.preflight import preflight
    from workbench.image.session import GuestSession

    image = tmp_path / "disk.qcow2"
    shutil.copyfile(built("sample"), image)
    watched = ["/root/.ssh/authorized_keys", "/etc/shadow", "/etc/init.d/os-conf",
               "/etc/systemd/system/os-conf.service", "/var/lib/workbench/backup/stray"]
    with GuestSession(preflight(str(image)), writable_path=str(image)) as s:  # a file in the backup directory
        s.open(pull="none")  # that is not workbench's: nothing may delete it
        s.mkdir_p("/var/lib/workbench/backup")
        s.write_file("/var/lib/workbench/backup/stray", b"not ours\n")
        s.unmount_all()
        s.sync()
    original = _read(image, watched)
    root = str(Path(__file__).resolve().parents[2])
    # the 5th write is the first of the fixes (authorized_keys removed): the run stops right after it
    proc = subprocess.run([sys.executable, "-c", INTERRUPT_AT.format(root=root, at=5), "inject", str(image),
                           "--in-place", "--yes", "--fix", "fix.remove-authorized-keys", "--fix", "fix.lock-account"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 143, proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if "KVM" not in ln] == ["workbench: terminated"]
    # the next open says so
    proc = run_cli("check", image, "--format", "json")
    assert json.loads(proc.stdout)["guest"]["injected"] == "interrupted"
    assert "inject into this image was interrupted" in proc.stderr
    # uninject restores exactly what was there
    proc = run_cli("uninject", image, "--in-place", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert _read(image, watched) == original
    # a whole inject and its uninject: the originals come back, the stray file stays
    for args in (("inject", image, "--in-place", "--yes", "--fix", "fix.remove-authorized-keys"),
                 ("uninject", image, "--in-place", "--yes")):
        proc = run_cli(*args)
        assert proc.returncode == 0, (args, proc.stderr)
    assert _read(image, watched) == original


def test_two_in_place_injects_at_once_the_second_is_told_the_image_is_in_use(built, tmp_path):
    image = tmp_path / "disk.qcow2"
    shutil.copyfile(built("sample"), image)
    before = _our_qemus(tmp_path)
    first = subprocess.Popen(workbench_cmd() + ["inject", str(image), "--in-place", "--yes"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_tmpdir(tmp_path))
    deadline = time.monotonic() + 60
    while not (_our_qemus(tmp_path) - before) and time.monotonic() < deadline:  # its appliance has the image open
        time.sleep(0.2)
    time.sleep(2)
    second = subprocess.run(workbench_cmd() + ["inject", str(image), "--in-place", "--yes"],
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    lines = [ln for ln in second.stderr.splitlines() if ln.strip() and "KVM" not in ln]
    assert len(lines) == 1 and "in use by another process" in lines[0], second.stderr
    first.communicate(timeout=300)
    assert first.returncode == 0
