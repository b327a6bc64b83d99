import hashlib
import itertools
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures import cache, guard  # noqa: E402
from tests.fixtures.images import image_path, recorded_report  # noqa: E402
from workbench.rehearse.vm import VCPUS_ENV  # noqa: E402

# The tiers (ARCHITECTURE.md, Tests): a test marked `appliance` may launch the libguestfs appliance, one marked
# `boot` may also boot a guest with qemu; `make test-fast` runs the others. A test that uses one of these fixtures
# needs the marker named, whatever it does with it (checked at collection); any other launch fails at run time.
FIXTURE_MARKERS = {"guest": "appliance", "bootable": "appliance", "with_bootloader": "appliance"}
RUN_DIR = "WB_TEST_RUN_DIR"  # one directory per run, shared by the xdist workers, removed at the end
_counter = itertools.count(1)


def pytest_configure(config):
    if not os.environ.get(RUN_DIR):  # the controller (or a run without xdist); workers inherit it
        os.environ[RUN_DIR] = tempfile.mkdtemp(prefix="wbt-")
        config._wb_owns_run_dir = True
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    config._wb_tmp = Path(os.environ[RUN_DIR]) / worker
    config._wb_stand_ins = guard.install(config._wb_tmp / "bin")


def pytest_unconfigure(config):
    if getattr(config, "_wb_owns_run_dir", False):
        shutil.rmtree(os.environ.pop(RUN_DIR), ignore_errors=True)


def _markers(item) -> set[str]:
    return {m.name for m in item.iter_markers()} & {"appliance", "boot"}


def _order(item) -> int:
    """Under xdist: the matrix's rows first (three boots each, the longest), then the other boots, the appliance
    tests, the fast ones."""
    marks = _markers(item)
    return 0 if item.get_closest_marker("matrix") else 1 if "boot" in marks else 2 if marks else 3


def pytest_collection_modifyitems(config, items):
    """Refuse an appliance fixture without its marker. Under xdist, the matrix and the other boots first, then the
    appliance tests: the longest start early and the short ones fill the end (every worker sorts alike, as xdist
    requires)."""
    for item in items:
        marks = _markers(item)
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()) and not marks:
                raise pytest.UsageError(f"{item.nodeid} uses the {fixture} fixture but is not marked {marker}: "
                                        f"add pytestmark = pytest.mark.{marker} (ARCHITECTURE.md, Tests)")
    if "PYTEST_XDIST_WORKER" in os.environ:
        items.sort(key=_order)  # stable


@pytest.fixture(autouse=True)
def _isolated(request, monkeypatch, tmp_path_factory):
    """Each test gets its own TMPDIR (for subprocesses and libguestfs too; short, for unix socket paths) and may
    start qemu only as its markers allow (tests/fixtures/guard.py)."""
    tmp_path_factory.getbasetemp()  # pytest's own base, made before TMPDIR moves
    own = request.config._wb_tmp / str(next(_counter))
    own.mkdir(parents=True)
    log = own / ".qemu-attempts"
    # libguestfs keeps its appliance under TMPDIR unless told: keep it where it was, built once
    appliance_cache = os.environ.get("LIBGUESTFS_CACHEDIR") or os.environ.get("TMPDIR") or "/var/tmp"
    marks = _markers(request.node)
    request.node.user_properties.append(("tier", "matrix" if request.node.get_closest_marker("matrix") else "boot"
                                         if "boot" in marks else "appliance" if marks else "fast"))
    blocked = guard.blocked_env(request.config._wb_stand_ins, marks)
    guard.remember({k: os.environ.get(k) for k in blocked})
    # TMUX_TMPDIR: a tmux server of the test's own, started with the test's environment
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:  # one guest per worker: a vCPU each is faster
        monkeypatch.setenv(VCPUS_ENV, "1")
    for key, value in {"TMPDIR": str(own), "TMUX_TMPDIR": str(own), "LIBGUESTFS_CACHEDIR": appliance_cache,
                       guard.LOG: str(log), **blocked}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    yield own
    guard.forget()
    tried = guard.attempts(log)
    if tried:
        needed = "boot" if any(t.startswith("a boot") for t in tried) else "appliance"
        pytest.fail(f"this test started qemu ({tried[0]}) but is not marked {needed}: add "
                    f"pytestmark = pytest.mark.{needed} to its module, or @pytest.mark.{needed} to it "
                    "(ARCHITECTURE.md, Tests)", pytrace=False)


def pytest_sessionfinish(session):
    built = cache.built_here()
    if built:  # for the summary, which the controller prints
        lines = "".join(f"{seconds:.1f}\t{name}\n" for name, seconds in built)
        (session.config._wb_tmp / "built").write_text(lines)


def pytest_terminal_summary(terminalreporter, config):
    """Say what a cold cache cost this run (images, trees, recorded reports), so a slow run explains itself."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        return
    built = [line.split("\t") for f in Path(os.environ[RUN_DIR]).glob("*/built") for line in f.read_text().splitlines()]
    if built:
        terminalreporter.write_sep("-", f"test cache {cache.ROOT}: {len(built)} entries built (a cold cache)")
        for seconds, name in sorted(built, key=lambda b: -float(b[0])):
            terminalreporter.write_line(f"{float(seconds):7.1f} s  {name}")


@pytest.fixture(scope="session")
def built():
    """built(name) -> Path of a catalogue image (built once per machine: tests/fixtures/cache.py)."""
    return lambda name: image_path(name)


def _read(name: str) -> tuple:
    """One real appliance launch on a catalogue image: (ImageFacts, GuestReport, notices)."""
    from workbench.image.preflight import preflight
    from workbench.image.session import GuestSession

    facts = preflight(str(image_path(name)))
    notices: list[str] = []
    with GuestSession(facts, notify=notices.append) as s:
        report = s.open()
    return facts, report, notices


_launched: dict = {}  # name -> (facts, report, notices) from a launch in this run


def _launch_once(name: str) -> tuple:
    """One launch per image and run, shared by the xdist workers through the run directory."""
    shared = Path(os.environ[RUN_DIR]) / "guest" / f"{name}.pickle"
    with cache.locked(shared.with_suffix(".lock")):
        if shared.exists():
            return pickle.loads(shared.read_bytes())
        got = _read(name)
        tmp = shared.with_name(f".{shared.name}.{os.getpid()}")
        tmp.write_bytes(pickle.dumps(got))
        tmp.replace(shared)
        return got


@pytest.fixture(scope="session")
def guest():
    """guest(name) -> (ImageFacts, GuestReport) from one real appliance launch per image and run (tests marked
    appliance): for tests of the appliance and of what it reads."""
    def get(name: str):
        if name not in _launched:
            _launched[name] = _launch_once(name)
            recorded_report(name, lambda: _launched[name][1])  # recorded for the TUI's tests, if not yet
        return _launched[name][:2]

    return get


@pytest.fixture(scope="session")
def recorded():
    """recorded(name) -> (ImageFacts, GuestReport) as a real appliance read it: from this run's launch, or
    recorded by an earlier run of the same image builder and reading code (the machine's test cache); when
    neither exists, one launch records it (any tier: it is a cache entry, listed at the end of the run).
    For tests of what is done with a report (the TUI), not of the appliance."""
    from workbench.image.preflight import preflight

    reports: dict = {}

    def get(name: str):
        if name in _launched:
            return _launched[name][:2]
        if name not in reports:
            reports[name] = (preflight(str(image_path(name))), recorded_report(name, lambda: _read(name)[1]))
        return reports[name]

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
