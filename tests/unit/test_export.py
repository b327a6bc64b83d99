"""`workbench export` on images the fixture builder makes: verified round trips to raw, vhd and qcow2 whose checksums
match sha256sum, openssl's base64 MD5 and OSS's own CRC-64 (oss2's Crc64), the format from OUT's suffix, the
CRC-64 comparison commands run in a real shell against an ossutil stand-in with ossutil's own rules, refusals that
write nothing, and SIGTERM leaving nothing behind."""

import base64
import os
import signal
import subprocess
import sys
import time

import pytest
from oss2.utils import Crc64

from workbench.export import export, infer_format, recorded_crc64, table_of
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
    crc = Crc64()
    crc.update(out.read_bytes())
    assert result.crc64 == crc.crc  # what OSS reports as x-oss-hash-crc64ecma
    assert (tmp_path / f"disk.{fmt}.crc64").read_text() == f"{crc.crc}  disk.{fmt}\n"
    assert recorded_crc64(str(out)) == crc.crc and result.to_json()["crc64ecma"] == str(crc.crc)


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
    proc = run_cli("export", small, "--output", tmp_path / "c.vhd", "--output-format", "raw")
    assert proc.returncode == 2 and "ends in .vhd but --output-format is raw" in proc.stderr
    proc = run_cli("export", small, "--output", tmp_path / "new\nline.raw")
    assert proc.returncode == 2 and "does not print" in proc.stderr
    (tmp_path / "d.raw.crc64").write_text("keep\n")
    proc = run_cli("export", small, "--output", tmp_path / "d.raw")
    assert proc.returncode == 2 and "d.raw.crc64 already exists" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["d.raw.crc64", "disk.raw", "same.qcow2"]


@pytest.mark.parametrize("name, given, fmt", [("a.vhd", None, "vhd"), ("a.IMG", None, "raw"), ("a.raw", None, "raw"),
                                              ("a.qcow2", None, "qcow2"), ("a.bin", None, "qcow2"),
                                              ("a.bin", "vhd", "vhd"), ("a.qcow2", "qcow2", "qcow2")])
def test_the_format_comes_from_the_suffix(name, given, fmt):
    assert infer_format(name, given) == fmt


def test_an_export_named_vhd_is_vhd(small, tmp_path):
    result = export(str(small), str(tmp_path / "disk.vhd"))
    assert result.format == "vhd" and preflight(str(tmp_path / "disk.vhd")).format == "vpc"


def fake_ossutil(tmp_path):
    """PATH and FAKE_OSS for the ossutil stand-in (tests/fixtures/clients/fake_ossutil.py)."""
    from pathlib import Path

    bindir, store = tmp_path / "bin", tmp_path / "oss"
    bindir.mkdir()
    store.mkdir()
    script = Path(__file__).resolve().parents[1] / "fixtures" / "clients" / "fake_ossutil.py"
    (bindir / "ossutil").write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    (bindir / "ossutil").chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_OSS": str(store)}


def bash(script: str, env, cwd) -> str:
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_printed_crc_comparisons_run_against_ossutil(small, tmp_path, run_cli, monkeypatch):
    from tests.unit.test_import_plan import review
    from workbench import importcmds, importplan
    from workbench.importrules import Given

    env = fake_ossutil(tmp_path)
    monkeypatch.chdir(tmp_path)  # the image path is relative, as an operator types it
    out = tmp_path / "-disk 1.raw"  # a name that starts with '-': ossutil would take it for an option
    proc = run_cli("export", small, "--output", "-disk 1.raw", "--format", "text", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("CRC-64/ECMA ") and "-disk 1.raw.crc64" in line for line in lines)
    bash("ossutil cp ./-disk\\ 1.raw oss://BUCKET/-disk\\ 1.raw", env, tmp_path)  # the upload, by hand
    assert bash(lines[-1], env, tmp_path).strip() == "CRC-64 matches"  # export's own comparison line
    plan = importplan.build(review(fmt="raw"), Given(bucket="my-images", object="images/-disk 1.raw"))
    for image, whence in (("-disk 1.raw", "recorded"), (str(small), "hash")):
        upload = importcmds.commands(plan, image)["ossutil"]
        assert ("the one workbench export recorded" in upload) == (whence == "recorded")
        assert bash(upload, env, tmp_path).strip() == "CRC-64 matches"
    with open(out, "r+b") as f:  # the object now differs from what export recorded
        f.write(b"changed")
    upload = importcmds.commands(plan, "-disk 1.raw")["ossutil"]
    assert "recorded" not in upload  # OUT.crc64 is older than the changed file: not trusted
    os.utime(out, (0, 0))  # an old file again: the recorded CRC-64 is trusted and the object must differ
    upload = importcmds.commands(plan, "-disk 1.raw")["ossutil"]
    assert bash(upload, env, tmp_path).strip() == "CRC-64 DIFFERS"
    bad = upload.replace("ossutil cp './-disk", "ossutil cp '-disk", 1)
    assert bad != upload
    assert "Bad flag" in subprocess.run(["bash", "-c", bad], capture_output=True, text=True, env=env,
                                        cwd=tmp_path).stdout  # why the path gets its ./


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


def test_sigterm_the_moment_qemu_img_starts_stops_it_and_leaves_nothing(small, tmp_path, monkeypatch):
    """The race the test above met once under load: SIGTERM while qemu-img was being started reached the export
    before the child was known, so nothing stopped it and it wrote the partial file again after it was removed.
    Here the signal comes exactly then: it is held until the child is known, which is then stopped."""
    from workbench import export as export_mod
    from workbench.interrupt import Terminated, raise_terminated

    started = []
    real = subprocess.Popen

    def popen_then_sigterm(cmd, *args, **kwargs):
        proc = real(cmd, *args, **kwargs)
        if cmd[:2] == ["qemu-img", "convert"]:
            started.append(proc)
            os.kill(os.getpid(), signal.SIGTERM)  # delivered at once: before the caller sees proc
        return proc

    monkeypatch.setattr(export_mod.subprocess, "Popen", popen_then_sigterm)
    old = signal.signal(signal.SIGTERM, raise_terminated)  # as the CLI does
    out = tmp_path / "out"
    out.mkdir()
    try:
        with pytest.raises(Terminated):
            export(str(small), str(out / "copy.raw"), "raw")
    finally:
        signal.signal(signal.SIGTERM, old)
    assert len(started) == 1 and started[0].poll() is not None  # qemu-img was stopped, not left running
    assert os.listdir(out) == []
