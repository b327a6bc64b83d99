"""`workbench export` on images the fixture builder makes: verified round trips to raw and vhd whose checksums match
sha256sum and openssl's base64 MD5, refusals that write nothing, and SIGTERM leaving nothing behind."""

import base64
import os
import signal
import subprocess
import sys
import time

import pytest

from workbench.export import export, table_of
from workbench.image.preflight import preflight
from workbench.sample.build import Disk, Part, build
from workbench.units import MiB


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 96 MiB MBR disk with an ext4 /boot-like first partition holding a file."""
    from workbench.sample.build import Tree

    t = Tree()
    t.file("/hello.txt", "exported\n")
    path = tmp_path_factory.mktemp("export") / "small.qcow2"
    build(Disk(96 * MiB, "mbr", [Part(40 * MiB, "ext4", label="boot", tree=t, bootable=True),
                                 Part(40 * MiB, "ext4")], disk_id="0x0e0e0e0e"), path, "qcow2")
    return path


@pytest.mark.parametrize("fmt, qemu", [("raw", "raw"), ("vhd", "vpc"), ("qcow2", "qcow2")])
def test_round_trip_with_checksums(small, tmp_path, fmt, qemu):
    out = tmp_path / f"disk.{fmt}"
    seen = []
    result = export(str(small), str(out), fmt, progress=lambda phase, done, total: seen.append(phase))
    assert out.exists() and not [p for p in os.listdir(tmp_path) if "wb-partial" in p]
    copy, source = preflight(str(out)), preflight(str(small))
    assert copy.format == qemu and copy.virtual_size == source.virtual_size and table_of(copy) == table_of(source)
    sha = subprocess.run(["sha256sum", str(out)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert result.sha256 == sha and (tmp_path / f"disk.{fmt}.sha256").read_text() == f"{sha}  disk.{fmt}\n"
    md5 = subprocess.run(["openssl", "md5", "-binary", str(out)], capture_output=True, check=True).stdout
    assert result.content_md5 == base64.b64encode(md5).decode()
    assert {"Converting", "Verifying", "Checksums"} <= set(seen)


def test_refusals_write_nothing(small, tmp_path, run_cli):
    out = tmp_path / "disk.raw"
    out.write_bytes(b"keep me")
    proc = run_cli("export", small, "--output", out)
    assert proc.returncode == 2 and "already exists" in proc.stderr and out.read_bytes() == b"keep me"
    link = tmp_path / "same.qcow2"
    link.symlink_to(small)
    proc = run_cli("export", small, "--output", link, "--force")
    assert proc.returncode == 2 and "is the source image itself" in proc.stderr
    proc = run_cli("export", small, "--output", tmp_path / "c.raw", "--output-format", "raw", "--compress")
    assert proc.returncode == 2 and "--compress works only with" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["disk.raw", "same.qcow2"]


def test_sigterm_during_an_export_leaves_nothing(small, tmp_path):
    import shutil

    big = tmp_path / "big.qcow2"
    shutil.copyfile(small, big)
    subprocess.run(["qemu-img", "resize", "-q", "-f", "qcow2", str(big), "6G"], check=True)
    # data after the partitions, so that the conversion takes a while
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 128M 1536M", str(big)], check=True,
                   capture_output=True)
    out = tmp_path / "out" / "big.raw"
    out.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "export", str(big), "--output", str(out),
                             "--output-format", "raw"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not os.listdir(out.parent) and time.monotonic() < deadline:  # the partial file appears
        time.sleep(0.05)
    assert os.listdir(out.parent), "the export never started writing"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 143, proc.stderr.read()
    assert os.listdir(out.parent) == []  # no OUT, no OUT.sha256, no partial file
    assert not [p for p in os.popen("ps -eo args").read().splitlines() if str(out.parent) in p]  # qemu-img gone
