"""Every door that writes a file refuses a file or link planted at the hidden name it stages the output under
(.OUT.wb-partial-PID, a predictable name): export, inject --output, uninject --output and report --output, in
this process so that the PID is known. The planted link's target stays untouched and nothing is written; before,
export's qemu-img wrote the image through the link."""

import os
import signal

import pytest

from tests.unit.test_export import small  # noqa: F401 (the fixture: a small two-partition image)
from workbench import cli, staging
from workbench.errors import UsageError
from workbench.export import export
from workbench.inject.run import inject
from workbench.inject.uninject import uninject
from workbench.image.preflight import preflight
from workbench.state import InjectTarget

PRECIOUS = b"precious, not to be overwritten\n"


@pytest.fixture
def plant(tmp_path):
    """plant(OUT) -> the victim file whose link now sits at OUT's staging name for this process."""
    def at(out, name=None):
        victim = tmp_path / f"victim-{name or os.path.basename(out)}"
        victim.write_bytes(PRECIOUS)
        os.symlink(victim, os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.wb-partial-{os.getpid()}"))
        return victim
    return at


def _never(*_):
    raise AssertionError("the image was opened although its output was refused")


def _nothing_written(tmp_path, victims, out):
    assert all(v.read_bytes() == PRECIOUS for v in victims)
    assert not os.path.lexists(out)


@pytest.mark.parametrize("door", ["export", "export's checksum file", "inject", "uninject"])
def test_a_planted_link_is_refused(door, small, tmp_path, plant):  # noqa: F811
    out = str(tmp_path / "out.qcow2")
    victim = plant(out + ".sha256" if door == "export's checksum file" else out)
    with pytest.raises(UsageError, match="planted"):
        if door.startswith("export"):
            export(str(small), out)
        elif door == "inject":
            inject(preflight(str(small)), InjectTarget(output=out), plan_for=_never)
        else:
            uninject(str(small), output=out)
    _nothing_written(tmp_path, [victim], out)


def test_report_refuses_before_the_review(small, tmp_path, plant, capsys):  # noqa: F811
    out = str(tmp_path / "r.md")
    victim = plant(out)
    old = signal.getsignal(signal.SIGTERM)
    try:
        code = cli.main(["report", str(small), "--output", out])
    finally:
        signal.signal(signal.SIGTERM, old)
    assert code == 2 and "planted" in capsys.readouterr().err
    _nothing_written(tmp_path, [victim], out)


def test_a_link_planted_between_the_check_and_the_write_is_refused(tmp_path, monkeypatch):
    """The name is created exclusively and without following links: a link that appears after check_output (a
    race) still cannot take the write."""
    out = str(tmp_path / "r.md")
    victim = tmp_path / "victim"
    victim.write_bytes(PRECIOUS)
    real_check = staging.check_output

    def check_then_plant(*a, **kw):
        real_check(*a, **kw)
        os.symlink(victim, staging.partial_name(out))

    monkeypatch.setattr(staging, "check_output", check_then_plant)
    with pytest.raises(UsageError, match="appeared before it was written"):
        staging.write_text(out, "# report\n")
    _nothing_written(tmp_path, [victim], out)


def test_stale_partials_of_dead_processes_go_and_a_normal_write_works(tmp_path):
    out = str(tmp_path / "r.md")
    victim = tmp_path / "victim"
    victim.write_bytes(PRECIOUS)
    os.symlink(victim, tmp_path / ".r.md.wb-partial-999999999")  # no such process: removed, the link only
    staging.write_text(out, "# report\n")
    assert open(out).read() == "# report\n" and victim.read_bytes() == PRECIOUS
    assert sorted(os.listdir(tmp_path)) == ["r.md", "victim"]
