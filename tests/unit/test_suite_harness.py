"""The suite's own machinery: the machine cache under concurrent builders, the tier guard (a test that starts qemu
without its marker fails), and a TMPDIR of each test's own. The guard is tried in an inner pytest run that loads
the suite's conftest as a plugin."""

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.fixtures import cache

ROOT = Path(__file__).resolve().parents[2]


def _build_slowly(tmp: Path, log: str) -> None:
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    tmp.write_bytes(b"half")
    time.sleep(0.5)  # a reader that did not wait would see half an entry
    with open(tmp, "ab") as f:
        f.write(b" and the rest")


def _want(root: str, log: str, results) -> None:
    results.put(str(cache.cached("thing.bin", ["k1"], lambda tmp: _build_slowly(tmp, log), Path(root))))


def test_concurrent_builders_build_once_and_readers_see_a_whole_entry(tmp_path):
    log = tmp_path / "builds"
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_want, args=(str(tmp_path / "c"), str(log), results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    paths = {results.get(timeout=5) for _ in procs}
    assert len(paths) == 1 and len(log.read_text().split()) == 1
    entry = Path(paths.pop())
    assert entry.name == "thing.bin" and entry.read_bytes() == b"half and the rest"
    assert [p.name for p in entry.parent.iterdir()] == ["thing.bin"]  # no temporary name left


def test_a_failed_build_leaves_nothing_and_the_next_one_builds(tmp_path):
    def broken(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "part").write_text("x")
        raise RuntimeError("the builder broke")

    with pytest.raises(RuntimeError):
        cache.cached("tree", ["k"], broken, tmp_path)
    entry = cache.entry("tree", ["k"], tmp_path)
    assert not entry.exists() and list(entry.parent.iterdir()) == []
    # a builder killed outright leaves its temporary name: the next builder clears it
    (entry.parent / f".{entry.name}.tmp-999999").mkdir()
    got = cache.cached("tree", ["k"], lambda tmp: tmp.mkdir(), tmp_path)
    assert got == entry and got.is_dir() and [p.name for p in entry.parent.iterdir()] == ["tree"]


def test_the_key_names_the_entry(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("one")
    first = cache.entry("x.qcow2", ["text", a])
    assert first == cache.entry("x.qcow2", ["text", a]) and first.name == "x.qcow2"
    a.write_text("two")  # a Path key part is its content
    assert cache.entry("x.qcow2", ["text", a]) != first
    assert cache.entry("x.qcow2", ["text", "more"]) != cache.entry("x.qcow2", ["textmore"])


def test_the_matrix_images_are_entries_of_the_one_machine_cache(tmp_path, monkeypatch):
    """The conformance matrix's images go through the same cache (one lock and rename discipline, one directory the
    README names, one list of what a run built), keyed by the row's builder: built once, a change of row rebuilds."""
    from tests.fixtures import matrix

    monkeypatch.setattr(cache, "ROOT", tmp_path)
    monkeypatch.setattr(cache, "_built", [])  # not the run's list of what it built in the machine cache
    built = []
    monkeypatch.setattr(matrix, "_image", lambda row, out: built.append(row.name) or out.write_bytes(b"qcow2"))
    first = matrix.image("networkd")
    assert matrix.image("networkd") == first and built == ["networkd"] and first.read_bytes() == b"qcow2"
    assert first.parent.parent == tmp_path and first.name == "matrix-networkd.qcow2"
    assert matrix.image("openrc").parent != first.parent and built == ["networkd", "openrc"]
    monkeypatch.setitem(matrix.ROWS, "networkd", matrix.Row("networkd", ("systemd", "systemd-sysv", "changed")))
    assert matrix.image("networkd") != first and built[-1] == "networkd"


def test_each_test_has_a_tmpdir_of_its_own_that_subprocesses_inherit():
    own = os.environ["TMPDIR"]
    assert tempfile.gettempdir() == own and Path(own).is_dir()
    assert os.path.realpath(own) != os.path.realpath("/tmp") and len(own) < 60  # short: unix socket paths
    seen = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert seen == own
    assert os.environ["LIBGUESTFS_CACHEDIR"] != own  # the appliance is not rebuilt per test


INNER = '''
import os, subprocess, tempfile
import pytest

def test_unmarked_boot():
    subprocess.run(["qemu-system-x86_64", "-nodefaults", "-drive", "file=/dev/null,format=raw", "-version"])

def test_unmarked_appliance():
    import guestfs
    g = guestfs.GuestFS(python_return_dict=True)
    g.add_drive_scratch(1 << 20)
    with pytest.raises(RuntimeError):
        g.launch()

@pytest.mark.appliance
def test_appliance_may_not_boot():
    subprocess.run(["qemu-system-x86_64", "-nodefaults", "-drive", "file=/dev/null,format=raw", "-version"])

@pytest.mark.boot
def test_marked_boot():
    assert subprocess.run(["qemu-system-x86_64", "-version"], capture_output=True).returncode == 0

def test_tmp_one():
    (open(os.path.join(tempfile.gettempdir(), "mine"), "w")).close()

def test_tmp_two():
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), "mine"))
'''


def _inner(request, tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    """An inner pytest run of source, with the suite's conftest, in the environment this run started with."""
    (tmp_path / "test_inner.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WB_TEST_", "PYTEST_", "LIBGUESTFS_HV"))}
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "400"  # whole lines in the short summary
    ours = str(request.config._wb_stand_ins)
    env["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != ours)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                           "-c", os.devnull, "--rootdir", str(tmp_path), "-q", "-rA", "-o",
                           "markers=appliance\nboot", str(tmp_path / "test_inner.py")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_a_test_that_starts_qemu_without_its_marker_fails(request, tmp_path):
    out = _inner(request, tmp_path, INNER).stdout
    errors = {line.split("::")[1].split(" ")[0]: line for line in out.splitlines() if line.startswith("ERROR ")}
    assert set(errors) == {"test_unmarked_boot", "test_unmarked_appliance", "test_appliance_may_not_boot"}, out
    assert "not marked boot" in errors["test_unmarked_boot"] and "not marked boot" in errors[
        "test_appliance_may_not_boot"]
    assert "not marked appliance" in errors["test_unmarked_appliance"]
    assert "PASSED test_inner.py::test_marked_boot" in out
    assert "PASSED test_inner.py::test_tmp_one" in out and "PASSED test_inner.py::test_tmp_two" in out


def test_a_test_using_an_appliance_fixture_without_its_marker_is_refused_at_collection(request, tmp_path):
    proc = _inner(request, tmp_path, "def test_reads(guest):\n    pass\n")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "uses the guest fixture but is not marked appliance" in proc.stdout + proc.stderr
