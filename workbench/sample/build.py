"""Build real disk images without root or loop devices, for the sample and the tests.

sfdisk writes the table into a sparse raw file; mke2fs -d / mkfs.vfat + mcopy
/ mkfs.xfs -p populate each file system at its partition offset; debugfs fixes
owners and modes (so no root is needed to stage root-owned files); layouts
that need LVM or LUKS are finished inside a writable libguestfs appliance;
qemu-img converts to the requested format.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

from workbench.sample.model import (GPT_ALIASES, MBR_ALIASES, DEFAULT_TYPE, BuildError, Disk, Entry,  # noqa: F401
                                    LogicalVolume, Part, Tree, GiB, MiB, new_uuid)

def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except FileNotFoundError:
        raise BuildError(f"{cmd[0]} is not installed") from None
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd[:3])}... failed: {proc.stderr.strip()[:500]}")
    return proc


def _sfdisk_type(table: str, part: Part) -> str:
    t = part.type or DEFAULT_TYPE.get(part.fs, "linux")
    if table == "gpt":
        return GPT_ALIASES.get(t, t)
    return MBR_ALIASES.get(t, t)


def layout(disk: Disk) -> list[int]:
    """Start offsets: 1 MiB aligned, one after another."""
    starts, at = [], MiB
    for p in disk.parts:
        starts.append(at)
        at += p.size
    if at > disk.size - (MiB if disk.table == "gpt" else 0):
        raise BuildError("the partitions do not fit on the disk")
    return starts


def logical_layout(container: Part, start: int) -> list[int]:
    """Logical partitions inside an extended one, each after a 1 MiB gap for its EBR."""
    starts, at = [], start + MiB
    for lp in container.logical:
        starts.append(at)
        at += lp.size + MiB
    if at - MiB > start + container.size:
        raise BuildError("the logical partitions do not fit in the extended partition")
    return starts


def _write_table(raw: Path, disk: Disk, starts: list[int]) -> None:
    lines = [f"label: {'dos' if disk.table == 'mbr' else 'gpt'}"]
    if disk.disk_id:
        lines.append(f"label-id: {disk.disk_id}")
    for p, start in zip(disk.parts, starts):
        spec = [f"start={start // 512}", f"size={p.size // 512}", f"type={_sfdisk_type(disk.table, p)}"]
        if disk.table == "gpt":
            if p.name:
                spec.append(f'name="{p.name}"')
            if p.partuuid:
                spec.append(f"uuid={p.partuuid}")
            if p.attrs:
                spec.append(f'attrs="{p.attrs}"')
        elif p.bootable:
            spec.append("bootable")
        lines.append(", ".join(spec))
        for lp, lstart in zip(p.logical, logical_layout(p, start) if p.logical else []):
            lines.append(f"start={lstart // 512}, size={lp.size // 512}, type={_sfdisk_type('mbr', lp)}")
    _run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(raw)], input="\n".join(lines) + "\n")


def _debugfs_fixups(raw: Path, offset: int, tree: Tree) -> None:
    """Owners and modes as the Tree says, whatever user built the image."""
    cmds = []
    for path, e in sorted(tree.entries.items()):
        if e.kind == "symlink":
            continue
        kind_bits = stat.S_IFDIR if e.kind == "dir" else stat.S_IFREG
        q = '"' + path + '"'
        cmds += [f"sif {q} uid {e.uid}", f"sif {q} gid {e.gid}", f"sif {q} mode 0{kind_bits | e.mode:o}"]
    if not cmds:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".debugfs") as script:
        script.write("\n".join(cmds) + "\n")
        script.flush()
        _run(["debugfs", "-w", "-f", script.name, f"{raw}?offset={offset}"])


def _make_ext(raw: Path, offset: int, p: Part, work: Path) -> None:
    stage = work / f"stage-{offset}"
    stage.mkdir()
    if p.tree:
        p.tree.stage(stage)
    if p.source_dir:
        stage = Path(p.source_dir)
    cmd = ["mke2fs", "-q", "-F", "-t", p.fs, "-E", f"offset={offset},root_owner=0:0", "-d", str(stage)]
    if p.uuid:
        cmd += ["-U", p.uuid]
    if p.label:
        cmd += ["-L", p.label]
    for opt in p.ext_options:
        cmd += ["-O", opt]
    cmd += [str(raw), f"{p.size // 1024}k"]
    _run(cmd, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000", "MKE2FS_DEVICE_SECTSIZE": "512"})
    if p.tree:
        _debugfs_fixups(raw, offset, p.tree)


def _make_fat(raw: Path, offset: int, p: Part) -> None:
    bits = "32" if p.fs == "fat32" else "16"
    cmd = ["mkfs.vfat", "-F", bits, f"--offset={offset // 512}"]
    if bits == "32" and p.size < GiB:
        cmd += ["-s", "1"]  # enough clusters for a valid FAT32 (mtools insists) on a small ESP
    if p.uuid:
        cmd += ["-i", p.uuid.replace("-", "")]
    if p.label:
        cmd += ["-n", p.label]
    cmd += [str(raw), str(p.size // 1024)]
    _run(cmd)
    if not p.tree:
        return
    img = f"{raw}@@{offset}"
    for path, e in sorted(p.tree.entries.items()):
        if path == "/":
            continue
        if e.kind == "dir":
            _run(["mmd", "-i", img, "::" + path])
        elif e.kind == "file":
            with tempfile.NamedTemporaryFile() as tmp:
                tmp.write(e.data)
                tmp.flush()
                _run(["mcopy", "-i", img, tmp.name, "::" + path])


def sparse_copy(src: Path, dst: Path, offset: int) -> None:
    """Copy only the data extents of src into dst at offset (SEEK_DATA/SEEK_HOLE)."""
    size = src.stat().st_size
    with open(src, "rb") as fin, open(dst, "r+b") as fout:
        fd = fin.fileno()
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            fin.seek(data)
            remaining = hole - data
            fout.seek(offset + data)
            while remaining:
                chunk = fin.read(min(remaining, 4 * MiB))
                fout.write(chunk)
                remaining -= len(chunk)
            pos = hole


def _make_separate(raw: Path, offset: int, p: Part, work: Path) -> None:
    part = work / f"part-{offset}.img"
    with open(part, "wb") as f:
        f.truncate(p.size)
    if p.fs == "xfs":
        cmd = ["mkfs.xfs", "-q", "-f"]
        if p.uuid:
            cmd += ["-m", f"uuid={p.uuid}"]
        if p.label:
            cmd += ["-L", p.label]
        _run(cmd + [str(part)])
    elif p.fs == "swap":
        cmd = ["mkswap"]
        if p.uuid:
            cmd += ["-U", p.uuid]
        if p.label:
            cmd += ["-L", p.label]
        _run(cmd + [str(part)])
    sparse_copy(part, raw, offset)
    part.unlink()


def _finish_in_appliance(raw: Path, disk: Disk, starts: list[int], work: Path) -> None:
    """LVM and LUKS need device-mapper: do them inside a writable appliance."""
    from workbench.image.appliance import launch

    g, _ = launch(lambda h: h.add_drive_opts(str(raw), format="raw", readonly=False))
    try:
        for n, p in enumerate(disk.parts, start=1):
            dev = f"/dev/sda{n}"
            if p.fs == "luks":
                g.luks_format(dev, "workbench-test", 0)
            elif p.fs == "lvm":
                g.pvcreate(dev)
                g.vgcreate(disk.vg, [dev])
                for lv in p.lvs:
                    g.lvcreate(lv.name, disk.vg, lv.size_mb)
                    lvdev = f"/dev/{disk.vg}/{lv.name}"
                    if lv.fs == "swap":
                        g.mkswap(lvdev, label=lv.label) if lv.label else g.mkswap(lvdev)
                        continue
                    g.mkfs(lv.fs, lvdev, label=lv.label) if lv.label else g.mkfs(lv.fs, lvdev)
                    if lv.uuid:
                        g.set_uuid(lvdev, lv.uuid)
                    if lv.tree:
                        tar = work / f"{lv.name}.tar"
                        _tar_tree(lv.tree, tar)
                        g.mount(lvdev, "/")
                        g.tar_in(str(tar), "/", xattrs=False)
                        g.umount_all()
        g.shutdown()
    finally:
        g.close()


def _tar_tree(tree: Tree, out: Path) -> None:
    import io
    import tarfile

    with tarfile.open(out, "w") as tar:
        for path, e in sorted(tree.entries.items()):
            if path == "/":
                continue
            info = tarfile.TarInfo("." + path)
            info.uid, info.gid, info.mode, info.mtime = e.uid, e.gid, e.mode, 1700000000
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))


def build(disk: Disk, out: str | Path, fmt: str = "qcow2") -> Path:
    """Write the image to out (atomically: a temporary name, renamed when complete)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wb-build-", dir=out.parent) as tmp:
        work = Path(tmp)
        raw = work / "disk.raw"
        with open(raw, "wb") as f:
            f.truncate(disk.size)
        if disk.table == "none":
            if len(disk.parts) != 1:
                raise BuildError("a disk without a partition table holds exactly one file system")
            starts = [0]
        else:
            starts = layout(disk)
            _write_table(raw, disk, starts)
        needs_appliance = False
        placed = list(zip(disk.parts, starts))
        for p, start in list(placed):
            if p.logical:
                placed += list(zip(p.logical, logical_layout(p, start)))
        for p, start in placed:
            if p.fs in ("ext2", "ext3", "ext4"):
                _make_ext(raw, start, p, work)
            elif p.fs in ("fat16", "fat32"):
                _make_fat(raw, start, p)
            elif p.fs in ("xfs", "swap"):
                _make_separate(raw, start, p, work)
            elif p.fs in ("lvm", "luks"):
                needs_appliance = True
        if needs_appliance:
            _finish_in_appliance(raw, disk, starts, work)
        if disk.boot_code:
            with open(raw, "r+b") as f:
                f.write(disk.boot_code[:440])
        final = work / "final"
        if fmt == "raw":
            raw.rename(final)
        else:
            opts = {"vpc": ["-o", "subformat=dynamic,force_size=on"]}.get(fmt, [])
            _run(["qemu-img", "convert", "-f", "raw", "-O", fmt, *opts, str(raw), str(final)])
        final.rename(out)
    return out
