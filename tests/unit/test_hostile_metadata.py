"""Image metadata that names host files or servers is refused before any qemu tool or appliance reads it.

Every case: exit 2 and one sentence naming the reference, nothing of the sentinel host disk in any
output, the sentinel and the image unchanged, no output file written, no connection made.
"""

import os
import select
import socket
import subprocess

import pytest

from tests.conftest import sha256
from tests.fixtures import hostile
from tests.unit.sim_helpers import VPC

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    d = tmp_path_factory.mktemp("host")
    return hostile.sentinel_disk(d / "hostdisk.raw")


@pytest.fixture(scope="module")
def listener():
    """A TCP server that accepts nothing: a connection attempt shows up in its backlog."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv
    srv.close()


def connected(srv) -> bool:
    return bool(select.select([srv], [], [], 0.2)[0])


@pytest.fixture(scope="module")
def hostile_images(tmp_path_factory, sentinel, listener):
    d = tmp_path_factory.mktemp("hostile")
    port = listener.getsockname()[1]
    data_sentinel = d / "data-hostdisk.raw"
    return {
        "data-file": (hostile.data_file_qcow2(d, data_sentinel), data_sentinel, "external file"),
        "backing-host-file": (hostile.backing_qcow2(d, str(sentinel), "backing.qcow2"), sentinel,
                              "overlay on the backing file"),
        "backing-nbd": (hostile.backing_qcow2(d, f"nbd://127.0.0.1:{port}/x", "nbd.qcow2"), sentinel, "protocol"),
        "backing-http": (hostile.backing_qcow2(d, f"http://127.0.0.1:{port}/disk.raw", "http.qcow2"), sentinel,
                         "protocol"),
        "backing-json": (hostile.backing_qcow2(d, 'json:{"driver":"file","filename":"%s"}' % sentinel,
                                               "json.qcow2"), sentinel, "protocol"),
        "backing-qed": (hostile.backing_qed(d, sentinel), sentinel, "overlay on the backing file"),
        "vmdk-descriptor": (hostile.descriptor_vmdk(d, sentinel), sentinel, "names other files as its extents"),
        "vmdk-parent": (hostile.parent_vmdk(d, sentinel), sentinel, "parent disk"),
        "vhd-differencing": (hostile.differencing_vhd(d), sentinel, "differencing VHD"),
    }


def assert_refused(proc, words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0] and "refused" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert hostile.SECRET not in proc.stdout + proc.stderr and hostile.OS_NAME not in proc.stdout + proc.stderr


CASES = ["data-file", "backing-host-file", "backing-nbd", "backing-http", "backing-json", "backing-qed",
         "vmdk-descriptor", "vmdk-parent", "vhd-differencing"]


@pytest.mark.parametrize("case", CASES)
def test_refused_by_every_command_before_anything_reads_it(case, hostile_images, listener, run_cli, tmp_path):
    image, target, words = hostile_images[case]
    before = sha256(image), sha256(target)
    conf = tmp_path / "os.conf"
    conf.write_text(VPC)
    for args in (["check", image, "--quick"], ["check", image, "--format", "json"],
                 ["inject", image, "--output", tmp_path / "out.qcow2"],
                 ["report", image, "--output", tmp_path / "r.html"],
                 ["simulate", image, "--os-conf", conf],
                 ["rehearse", image, "--os-conf", conf],
                 [image]):
        assert_refused(run_cli(*args), words)
    assert sorted(os.listdir(tmp_path)) == ["os.conf"]  # no output, no partial file
    assert (sha256(image), sha256(target)) == before
    assert not connected(listener)


def test_allow_backing_reads_only_vetted_local_files(hostile_images, sentinel, listener, run_cli, tmp_path):
    """--allow-backing takes a local backing file, names it, and still refuses protocols and data files."""
    image, _, _ = hostile_images["backing-host-file"]
    proc = run_cli("check", image, "--quick", "--allow-backing")
    assert proc.returncode == 1, proc.stderr
    assert f"backing file: {sentinel}" in proc.stdout and "limit.image-format" in proc.stdout
    for case in ("backing-nbd", "backing-json", "data-file"):
        assert_refused(run_cli("check", hostile_images[case][0], "--quick", "--allow-backing"),
                       hostile_images[case][2])
    assert not connected(listener)


def test_a_backing_file_that_lies_about_its_format(tmp_path, sentinel):
    """The header says the backing file is qcow2, the file is raw: refused rather than trusted."""
    from workbench.errors import ImageError
    from workbench.image.headers import vet

    lying = hostile.backing_qcow2(tmp_path, str(sentinel), "liar.qcow2", fmt="qcow2")
    with pytest.raises(ImageError, match="says its backing file .* is qcow2, but it is raw"):
        vet(str(lying), allow_backing=True)


def test_formats_are_found_from_the_headers_and_stated(built, monkeypatch):
    """qemu-img is never asked to probe: the format comes from the magic numbers and is passed with -f."""
    from workbench.image import qemu
    from workbench.image.preflight import preflight

    images = {name: str(built(name)) for name in ("sample", "sample-raw", "sample-vhd", "sample-vmdk")}  # built first
    seen = []
    real = subprocess.run

    def spy(cmd, *a, **k):
        if cmd[0] in ("qemu-img", "qemu-io"):
            seen.append(cmd)
        return real(cmd, *a, **k)

    monkeypatch.setattr(qemu.subprocess, "run", spy)
    for name, fmt in (("sample", "qcow2"), ("sample-raw", "raw"), ("sample-vhd", "vpc"), ("sample-vmdk", "vmdk")):
        seen.clear()
        assert preflight(images[name]).format == fmt
        assert seen and all(c[c.index("-f") + 1] == fmt and os.path.isabs(c[-1]) for c in seen), seen
        assert not any("--backing-chain" in c for c in seen)
