"""fstab as the instance's two readers read it — libmount (`findmnt --fstab --tab-file`) and glibc's
getmntent (systemd's fstab-generator mounts by it at boot, through ctypes here) — against
workbench/image/fstab.py and the boot.fstab check, over a generated corpus of hostile variations."""

from __future__ import annotations

import ctypes
import json
import random

import pytest

from tests.unit.differential import consumers
from tests.unit.differential.consumers import need, report, run
from tests.unit.security_trees import context
from workbench.checks import REGISTRY, all_checks, run_check
from workbench.image.fstab import parse_fstab

CORPUS = 400
SOURCES = ["UUID=1111-aaaa", "/dev/sdb1", "/dev/sdc2", "LABEL=data", "/dev/vdb1", "server:/export", "tmpfs",
           "/dev/mapper/vg-lv", "/dev/sdd1"]
TARGETS = ["/", "/data", "/srv/x", "/with\\040space", "/tab\\011in", "/back\\134slash", "/odd\\101", "none",
           "/mnt/a", "/var/log"]
TYPES = ["ext4", "xfs", "nfs", "tmpfs", "auto", "swap", "vfat"]
OPTIONS = ["defaults", "nofail", "defaults,nofail", "noauto", "rw,relatime", "x-systemd.device-timeout=5s",
           "_netdev", "defaults,noatime"]
NUMBERS = ["0 0", "0 1", "0 2", "1", "", "0 x", "# comment", "0 0 # comment", "0\t2", "-1 0", "0 0 extra"]
BLANKS = [" ", " ", "\t", "  ", " \t"]


class Mntent(ctypes.Structure):
    _fields_ = [("mnt_fsname", ctypes.c_char_p), ("mnt_dir", ctypes.c_char_p), ("mnt_type", ctypes.c_char_p),
                ("mnt_opts", ctypes.c_char_p), ("mnt_freq", ctypes.c_int), ("mnt_passno", ctypes.c_int)]


@pytest.fixture(scope="module")
def libc():
    return consumers.libc({"setmntent": (ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]),
                           "getmntent": (ctypes.POINTER(Mntent), [ctypes.c_void_p]),
                           "endmntent": (ctypes.c_int, [ctypes.c_void_p])})


def glibc_entries(libc, path) -> list[tuple[str, str, str, str]]:
    f = libc.setmntent(str(path).encode(), b"r")
    out = []
    try:
        while True:
            e = libc.getmntent(f)
            if not e:
                return out
            m = e.contents
            out.append(tuple((x or b"").decode("utf-8", "surrogateescape")
                             for x in (m.mnt_fsname, m.mnt_dir, m.mnt_type, m.mnt_opts)))
    finally:
        libc.endmntent(f)


def _line(r: random.Random) -> str:
    fields = [r.choice(SOURCES), r.choice(TARGETS), r.choice(TYPES), r.choice(OPTIONS)]
    fields = fields[:r.choice([2, 3, 4, 4, 4, 4])]
    text = "".join(f + r.choice(BLANKS) for f in fields[:-1]) + fields[-1]
    if len(fields) == 4 and r.random() < 0.7:
        text += r.choice(BLANKS) + r.choice(NUMBERS)
    return r.choice(["", "", "", " ", "\t"]) + text + r.choice(["", "", "", " ", "\r", "\t", " \r"])


def corpus(n: int = CORPUS, seed: int = 22) -> list[bytes]:
    r = random.Random(seed)
    out = []
    for i in range(n):
        lines = [_line(r) for _ in range(r.randint(1, 8))]
        for _ in range(r.randint(0, 3)):
            lines.insert(r.randrange(len(lines) + 1), r.choice(["# comment", "", "   ", "\t# x", "#/dev/sdb1 /x ext4"]))
        if r.random() < 0.08:
            k = r.randrange(len(lines))
            lines[k] = lines[k][:4] + "\0" + lines[k][4:]
        if r.random() < 0.06:
            lines.insert(r.randrange(len(lines) + 1), "/dev/sdb1 /" + "x" * 5000 + " ext4 defaults 0 0")
        if i % 40 == 3:  # past any line limit: the entry that matters comes after line 1,000
            lines = ["# filler"] * 1_100 + lines
        brk = r.choice(["\n", "\n", "\n", "\r\n"])
        out.append((brk.join(lines) + (brk if r.random() < 0.85 else "")).encode())
    return out


def _required_missing(entries) -> set[int]:
    """Indexes of the entries systemd would wait for on ECS and never get: /dev/sdX (no such disk there)
    without nofail or noauto."""
    return {k for k, (spec, _mp, _t, opts) in enumerate(entries)
            if spec.startswith("/dev/sd") and not {"nofail", "noauto"} & set(opts.split(","))}


def test_fstab_as_libmount_and_glibc_read_it(libc, tmp_path):
    """Every entry findmnt reads and every entry getmntent reads, we read the same way; and where systemd
    would wait for a disk ECS will not have, boot.fstab fails."""
    findmnt = need("findmnt")
    all_checks()
    bad: list[str] = []
    items = corpus()
    seen = {"findmnt": 0, "getmntent": 0, "wait": 0}
    for i, data in enumerate(items):
        path = tmp_path / f"fstab{i}"
        path.write_bytes(data)
        proc = run([findmnt, "--fstab", "--tab-file", str(path), "-J", "-o", "SOURCE,TARGET,FSTYPE,OPTIONS"])
        rows = json.loads(proc.stdout or b'{"filesystems": []}')["filesystems"]
        mount = {(f["source"], f["target"], f["fstype"], f["options"] or "defaults") for f in rows}
        glibc = glibc_entries(libc, path)
        try:
            ours = parse_fstab(data)
        except Exception as e:  # a crash is a disagreement too
            bad.append(f"#{i}: {type(e).__name__}: {e}")
            continue
        ours_m = {(e.spec, e.mountpoint, e.fstype, e.options) for e in ours if e.reader in ("both", "libmount")}
        ours_g = [(e.spec, e.mountpoint, e.fstype, e.options) for e in ours if e.reader in ("both", "glibc")]
        seen["findmnt"] += len(mount)
        seen["getmntent"] += len(glibc)
        theirs_g = [(s, d, t or "auto", o or "defaults") for s, d, t, o in glibc]
        short = f"{data[-600:]!r}"
        if not mount <= ours_m:
            bad.append(f"#{i} {short}: findmnt reads {sorted(mount - ours_m)}; we do not")
        if ours_g != theirs_g:
            bad.append(f"#{i} {short}: getmntent reads {theirs_g}; we read {ours_g}")
        if _required_missing(glibc) or _required_missing([(s, d, t, o) for s, d, t, o in mount]):
            seen["wait"] += 1
            r = run_check(REGISTRY["boot.fstab"], context({"/etc/fstab": data}))
            if r.status != "fail":
                bad.append(f"#{i} {short}: systemd would wait for a disk ECS does not have; boot.fstab says {r.status}")
    report(bad, len(items), f"findmnt --fstab ({seen['findmnt']} entries) and glibc getmntent ({seen['getmntent']} "
                            f"entries; {seen['wait']} files where systemd would wait for a missing disk)")


def test_an_entry_after_line_1000_is_read(libc, tmp_path):
    findmnt = need("findmnt")
    data = ("# padding\n" * 1_200 + "UUID=1111-aaaa / ext4 defaults 0 1\n/dev/sdb1 /data ext4 defaults 0 2\n").encode()
    (tmp_path / "fstab").write_bytes(data)
    rows = json.loads(run([findmnt, "--fstab", "--tab-file", str(tmp_path / "fstab"), "-J"]).stdout)["filesystems"]
    assert any(f["source"] == "/dev/sdb1" for f in rows)  # libmount reads it, and so does systemd
    all_checks()
    r = run_check(REGISTRY["boot.fstab"], context({"/etc/fstab": data}))
    assert r.status == "fail" and any(e.startswith("line 1202: /dev/sdb1 on /data") for e in r.evidence)


def test_a_trailing_comment_hides_an_entry_from_libmount_not_from_systemd(libc, tmp_path):
    data = b"/dev/sdb1 /data ext4 defaults # added by hand\n"
    (tmp_path / "fstab").write_bytes(data)
    assert glibc_entries(libc, tmp_path / "fstab")[0][0] == "/dev/sdb1"  # systemd mounts it at boot
    all_checks()
    assert run_check(REGISTRY["boot.fstab"], context({"/etc/fstab": data})).status == "fail"
