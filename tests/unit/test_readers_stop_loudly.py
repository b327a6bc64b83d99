"""Where a reader of guest files stops early, the check says what it did not read (incomplete), never passes;
and numbers from the image are ASCII digits only (pure, in-memory trees)."""

from tests.unit.security_trees import context
from workbench import enablement
from workbench.checks import REGISTRY, all_checks, run_check


def run(cid, ctx):
    all_checks()
    return run_check(REGISTRY[cid], ctx)


def test_more_xinetd_files_than_are_read_is_not_a_pass():
    files = {f"/etc/xinetd.d/s{i:04}": "service x\n{\n disable = yes\n}\n" for i in range(1005)}
    files["/etc/xinetd.d/zzzz"] = "service telnet\n{\n disable = no\n}\n"  # sorts past the limit
    r = run("service.risky", context(files))
    assert r.status == "warn" and r.incomplete and "/etc/xinetd.d" in " ".join(r.evidence)


def test_more_unit_links_than_are_read_is_not_a_pass(monkeypatch):
    monkeypatch.setattr(enablement, "MAX_UNIT_FILES", 50)
    links = {f"/etc/systemd/system/multi-user.target.wants/u{i:03}.service": f"/usr/lib/systemd/system/u{i:03}.service"
             for i in range(60)}
    links["/etc/systemd/system/sockets.target.wants/telnet.socket"] = "/usr/lib/systemd/system/telnet.socket"
    ctx = context({"/usr/lib/systemd/system/telnet.socket": "[Socket]\nListenStream=23\n"}, links)
    for cid in ("service.risky", "guest.agents"):
        r = run(cid, ctx)
        assert r.status in ("warn", "fail") and r.incomplete, (cid, r.status, r.evidence)


def test_a_device_number_in_other_digits_is_not_a_crash():
    """'²' is a digit to str.isdigit and to re's \\d, not to int(): fstab /dev/sda² must not stop the review."""
    r = run("boot.fstab", context({"/etc/fstab": "/dev/sda\u00b2 /data ext4 defaults 0 2\n"}))
    assert r.status == "fail"  # a kernel name ECS will not have, not a crash
