"""The matrix images' cache (tests/fixtures/matrix.py:_cached): built once per key, under a lock, at a temporary
name renamed into place, so a failed or concurrent build never leaves or uses a half-made image."""

import threading
import time

import pytest

from tests.fixtures import matrix


def test_a_key_is_built_once_and_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WB_TEST_CACHE", str(tmp_path / "cache"))
    calls = []

    def build(out):
        calls.append(out.name)
        out.write_text("image")

    assert matrix._cached("row-1.qcow2", build).read_text() == "image"
    assert matrix._cached("row-1.qcow2", build) == tmp_path / "cache" / "row-1.qcow2"
    assert calls == ["row-1.qcow2.partial"]  # built at a temporary name, once

    def fail(out):
        out.write_text("half")
        raise RuntimeError("debootstrap failed")

    with pytest.raises(RuntimeError):
        matrix._cached("row-2.qcow2", fail)
    assert not (tmp_path / "cache" / "row-2.qcow2").exists()
    assert matrix._cached("row-2.qcow2", build).read_text() == "image"  # the leftover is not taken for a result


def test_a_second_run_waits_for_the_first_build_instead_of_building_again(tmp_path, monkeypatch):
    monkeypatch.setenv("WB_TEST_CACHE", str(tmp_path))
    started, calls, got = threading.Event(), [], []

    def slow(out):
        calls.append(1)
        started.set()
        time.sleep(0.5)
        out.write_text("image")

    first = threading.Thread(target=lambda: got.append(matrix._cached("row.qcow2", slow)))
    first.start()
    started.wait(5)
    got.append(matrix._cached("row.qcow2", slow))  # blocks on the lock, then finds the image
    first.join()
    assert calls == [1] and got[0] == got[1] and got[1].read_text() == "image"
