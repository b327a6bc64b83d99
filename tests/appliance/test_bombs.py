"""One image with several bombs at once (tests/fixtures/bombs.py "multi"): a grub.cfg whose variable doubles, an
initramfs that is a FIFO (reading it hung the check), an lzma initramfs asking for a 2 GiB dictionary lying in
/boot, and password hashes of extreme cost. The real CLI ends in time with "not fully reviewed": no crash, no
check in error, no pass; each bomb is named where it was cut. (benchmarks/bench_bombs.py measures each bomb.)"""

import json
import time

import pytest

from tests.fixtures import bombs
from tests.fixtures.images import CACHE

pytestmark = pytest.mark.appliance


def test_a_multi_bomb_image_is_not_fully_reviewed_and_nothing_crashes(run_cli):
    image = bombs.image("multi", CACHE)
    t = time.monotonic()
    proc = run_cli("check", image, "--format", "json", timeout=400)
    took = time.monotonic() - t
    assert proc.returncode == 3, proc.stderr[-2000:]  # not fully reviewed (2 would be a check that could not finish)
    doc = json.loads(proc.stdout)
    checks = {c["id"]: c for c in doc["checks"]}
    assert not [c for c in checks.values() if c["status"] == "error"]
    assert doc["verdict"]["outcome"] == "not fully reviewed", doc["verdict"]
    undecided = " ".join(doc["verdict"]["reasons"])
    for cid in ("boot.kernel", "boot.initramfs-drivers", "password.default"):
        assert checks[cid]["status"] == "warn" and f"{cid} could not read all it needs" in undecided, checks[cid]
    kernel = " ".join(checks["boot.kernel"]["evidence"])
    assert "expansion grew past 16 KiB" in kernel and f"{bombs.INITRD} is not a regular file (a FIFO)" in kernel
    accounts = " ".join(checks["password.default"]["evidence"])
    assert all(f"{u} (uid" in accounts for u in bombs.HASH_BOMBS) and "bcrypt with cost 31" in accounts
    print(f"multi-bomb check: {took:.0f} s")
