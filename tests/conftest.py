import hashlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.images import image_path, load_recorded, record_report  # noqa: E402

# Under TCG one launch takes 12-15 s: every appliance fixture is session-scoped, and tests that only need
# what an appliance read (the TUI's) take it recorded from an earlier run.
_reports: dict = {}


@pytest.fixture(scope="session")
def built():
    """built(name) -> Path of a catalogue image (built once, cached between runs)."""
    return lambda name: image_path(name)


def _launch(name: str):
    """One real appliance launch on a catalogue image; its report is recorded for recorded()."""
    from workbench.image.preflight import preflight
    from workbench.image.session import GuestSession

    path = str(image_path(name))
    facts = preflight(path)
    notices: list[str] = []
    with GuestSession(facts, notify=notices.append) as s:
        report = s.open()
    _reports[name] = (facts, report, notices)
    record_report(name, report)
    return facts, report


@pytest.fixture(scope="session")
def guest():
    """guest(name) -> (ImageFacts, GuestReport) from one real appliance launch per image and session:
    for tests of the appliance and of what it reads."""
    def get(name: str):
        if name not in _reports:
            _launch(name)
        return _reports[name][:2]

    return get


@pytest.fixture(scope="session")
def recorded():
    """recorded(name) -> (ImageFacts, GuestReport) as a real appliance read it, from this session's launch, or
    recorded by an earlier run of the same image builder and reading code (.cache/test-images); launched only
    when neither exists. For tests of what is done with a report (the TUI), not of the appliance."""
    from workbench.image.preflight import preflight

    def get(name: str):
        if name in _reports:
            return _reports[name][:2]
        report = load_recorded(name)
        if report is None:
            return _launch(name)
        _reports[name] = (preflight(str(image_path(name))), report, [])
        return _reports[name][:2]

    return get


def sha256(path) -> str:
    """Hash of size, mtime and content, reading only data extents (sparse images hash fast).

    Every non-zero 64 KiB block is hashed with its index, so the result does not depend on how
    the host file system happens to lay the extents out (delayed allocation changes that).
    """
    block = 1 << 16
    h = hashlib.sha256()
    st = os.stat(path)
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    zero = bytes(block)
    with open(path, "rb") as f:
        fd, pos = f.fileno(), 0
        while pos < st.st_size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            first = start // block
            f.seek(first * block)
            for index in range(first, (end + block - 1) // block):
                data = f.read(block)
                if data and data != zero[:len(data)]:
                    h.update(index.to_bytes(8, "little") + data)
            pos = max(end, (index + 1) * block)
    return h.hexdigest()


def gpt_raw_copy(src, dst, damage: str = "both"):
    """A raw copy of a GPT image with its primary header (or both headers) damaged."""
    import subprocess

    subprocess.run(["qemu-img", "convert", "-O", "raw", str(src), str(dst)], check=True)
    size = os.path.getsize(dst)
    spots = [512 + 60] if damage == "primary" else [512 + 24, size - 512 + 24]
    with open(dst, "r+b") as f:
        for at in spots:
            f.seek(at)
            f.write(b"\x01\x02\x03\x04")
    return dst


def workbench_cmd() -> list[str]:
    return [sys.executable, "-m", "workbench"]


@pytest.fixture
def run_cli(tmp_path):
    """Run the real CLI in a subprocess; returns CompletedProcess."""
    import subprocess

    def run(*args, cwd=None, env=None, timeout=300):
        return subprocess.run(workbench_cmd() + [str(a) for a in args], capture_output=True, text=True,
                              cwd=cwd or tmp_path, env={**os.environ, **(env or {})}, timeout=timeout)

    return run
