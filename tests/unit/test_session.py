"""The one review session both doors drive: one script for the simulation and inject, one check run for the fix
path, exit codes that follow the verdict, reads that were pulled (in-memory guests: no appliance)."""

import dataclasses

import pytest

from tests.unit import sim_helpers as h
from tests.unit.security_trees import FACTS, SHA_123456, passwd
from workbench import fixes as fixes_mod
from workbench.checks import CheckResult, Check, Context, REGISTRY, all_checks, run_check
from workbench.flavors import FLAVORS
from workbench.image.osinfo import detect
from workbench.image.preflight import Partition
from workbench.image.session import GuestReport
from workbench.image.sniff import FsInfo
from workbench.image.tree import GuestTree, NotPulled, strict_reads
from workbench.inits import INSTALL_PATH, STYLES
from workbench.review import Review
from workbench.state import ReviewOptions, ReviewSession

BOOT = Partition(1, 1 << 20, 1 << 30, "83", "Linux", FsInfo("ext4", h.LABEL, h.UUID, 1 << 30, 1 << 29, clean=True))
IMAGE = dataclasses.replace(FACTS, partitions=[BOOT], partition_table="dos")
# what makes each init style the image's: the init system's own files
INIT_FILES = {
    "systemd": {"/usr/lib/systemd/systemd": "", "/etc/systemd/system/": ""},
    "sysvinit": {"/etc/inittab": "id:2:initdefault:\n", "/etc/rc2.d/": "", "/etc/rc3.d/": ""},
    "openrc": {"/etc/runlevels/default/": "", "/sbin/openrc": ""},
    # Debian's runit-init: stage 1 runs /etc/rcS.d (insserv's order files present), deb-systemd-helper's directory
    "runit": {"/etc/runit/1": "for script in /etc/rcS.d/S* ; do\n\t\"$script\" start --force-sysv\ndone\n",
              "/etc/runit/runsvdir/default/": "", "/etc/sv/ssh/run": "", "/etc/systemd/system/": "",
              "/lib/runit/runit-init": "", "/etc/init.d/networking": "", "/etc/init.d/mountall.sh": "",
              "/etc/init.d/.depend.boot": "TARGETS = mountkernfs.sh mountall.sh networking mountnfs.sh\n"
                                          "mountall.sh: mountkernfs.sh\nnetworking: mountkernfs.sh mountall.sh\n"
                                          "mountnfs.sh: mountall.sh networking\n"},
    # busybox init, Buildroot's way: inittab runs rcS, which runs /etc/init.d/S??* in order
    "busybox": {"/bin/busybox": "", "/etc/systemd/system/": "",
                "/etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100\n",
                "/etc/init.d/rcS": "#!/bin/sh\nfor i in /etc/init.d/S??*; do\n    \"$i\" start\ndone\n",
                "/etc/init.d/S01mount": "#!/bin/sh\n", "/etc/init.d/S40network": "#!/bin/sh\n",
                "/etc/init.d/S50sshd": "#!/bin/sh\n"},
}
INIT_LINKS = {
    "runit": {"/sbin/init": "/lib/runit/runit-init", "/etc/rcS.d/S10networking": "../init.d/networking",
              "/etc/rcS.d/S07mountall.sh": "../init.d/mountall.sh", "/etc/runit/runsvdir/default/ssh": "/etc/sv/ssh"},
    "busybox": {"/sbin/init": "/bin/busybox"},
}


def session_on(tree: GuestTree, **options) -> ReviewSession:
    report = GuestReport(os=detect(tree), tree=tree, root_device="/dev/sda2")
    report.os.first_partition_mountpoint = "/boot"
    s = ReviewSession("/nonexistent/test.qcow2", ReviewOptions(**options), opener=lambda f, p, n: (report, None))
    s.take_facts(IMAGE)
    s.take_guest(*s.read_guest())
    return s


@pytest.mark.parametrize("init", list(STYLES))
@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_the_simulation_runs_the_bytes_inject_writes(flavor, init, monkeypatch):
    """For every flavour and init style: the script the sandbox ran is the file inject installs, byte for byte, and
    it runs there as that init system starts it (an openrc-run script through OpenRC's interpreter)."""
    from workbench import simulate as sim

    files = {**h.BASE, **h.STACKS[flavor], **INIT_FILES[init]}
    if init != "openrc":  # netifrc's tree comes with OpenRC's runlevels: here its parser is asked for elsewhere
        files.pop("/etc/runlevels/default/", None)
    s = session_on(GuestTree.from_dict(files, INIT_LINKS.get(init)), flavor=flavor)
    ran = []
    real = sim.simulate
    monkeypatch.setattr(sim, "simulate", lambda t, c, script, *a, **kw: ran.append(script) or real(t, c, script, *a,
                                                                                                       **kw))
    s.set_osconf(h.VPC)
    cs = s.simulate()
    assert cs is not None and cs.exit_code == 0, (s.simulation_error, cs and cs.log)
    plan = s.plan()
    assert plan.init == init and plan.flavor == flavor
    installed = next(w for w in plan.writes if w.path == INSTALL_PATH)
    assert [r.text.encode() for r in ran] == [installed.content]
    assert ran[0].init == init
    first_line = installed.content.split(b"\n", 1)[0]
    assert first_line == (b"#!/sbin/openrc-run" if init == "openrc" else b"#!/bin/sh")
    assert cs.change("/etc/hostname").after == "iZ23r29djmjZ\n"  # the parser really ran


def test_the_operator_script_is_what_both_run():
    s = session_on(h.tree_for("ifupdown", INIT_FILES["systemd"]), script="#!/bin/sh\necho mine\n")
    s.set_osconf(h.VPC)
    assert s.simulate().log.strip().endswith("mine")
    assert s.plan().writes[0].content == b"#!/bin/sh\necho mine\n" and s.plan().flavor == "custom script"


def _accounts_tree():
    return h.tree_for("ifupdown", {
        **INIT_FILES["systemd"],
        "/etc/passwd": passwd("root:x:0:0:root:/root:/bin/bash", "a:x:1000:1000::/home/a:/bin/bash"),
        "/etc/shadow": f"root:{SHA_123456}:19000:0:99999:7:::\na::19000:0:99999:7:::\n",
        "/etc/ssh/ssh_host_rsa_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    })


def test_the_plan_takes_the_fixes_the_review_built_without_checking_again(monkeypatch):
    """The fix path costs one check run, and each chosen fix's builder runs once (when it was built) unless an
    earlier chosen fix changed a file it changes too."""
    s = session_on(_accounts_tree())
    s.check()
    offered = {f.id for f in s.fixes}
    assert {"fix.lock-account", "fix.expire-passwords", "fix.remove-host-keys"} <= offered
    calls = []
    monkeypatch.setattr(fixes_mod, "REGISTRY", {k: dataclasses.replace(v, build=lambda f, view, b=v.build: (
        calls.append(f.id), b(f, view))[1]) for k, v in fixes_mod.REGISTRY.items()})
    import workbench.checks as checks_mod

    monkeypatch.setattr(checks_mod, "run_check", lambda *a: pytest.fail("the plan ran a check"))
    s.choose_fixes(["fix.remove-host-keys", "fix.lock-account", "fix.expire-passwords"])
    plan = s.plan()
    assert calls == ["fix.expire-passwords"]  # after lock-account changed /etc/shadow too; the others: as built
    shadow = next(w for w in plan.writes if w.path == "/etc/shadow")
    assert f"root:!{SHA_123456}:0:" in shadow.after  # locked, then expired
    assert plan is s.plan()  # kept until an input changes (the inject screen asks on every refresh)
    s.choose_fixes(["fix.remove-host-keys"])
    assert plan is not s.plan()


def test_unknown_fix_ids_are_bad_input_and_unoffered_ones_are_named():
    from workbench.errors import UsageError

    s = session_on(_accounts_tree())
    with pytest.raises(UsageError, match="fix.nonsense is not a fix the workbench knows"):
        s.choose_fixes(["fix.nonsense"])
    s.check()
    s.choose_fixes(["fix.serial-console", "fix.lock-account"])
    assert s.idle_fixes() == ["fix.serial-console"]
    assert [f.id for f in s.chosen()] == ["fix.lock-account"]


def _result(status, area="passwords", incomplete=False):
    return CheckResult("x.y", status, "high", "t", "d", area=area, incomplete=incomplete)


@pytest.mark.parametrize("results,code", [
    ([_result("pass")], 0),
    ([_result("warn", "boot")], 0),  # ready with warnings
    ([_result("fail", "passwords")], 1),  # not ready
    ([_result("fail", "limits")], 1),  # will be rejected
    ([_result("skip")], 3),  # not fully reviewed
    ([_result("warn", incomplete=True)], 3),
    ([_result("error"), _result("fail", "limits")], 2),  # a check that raised
])
def test_exit_codes_follow_the_verdict(results, code):
    assert Review(FACTS, results=results).exit_code == code


def test_a_check_reading_what_nothing_pulled_is_an_error_not_an_absence():
    tree = GuestTree()
    tree.add_tar(_tar({"passwd": b"root:x:0:0::/root:/bin/sh\n"}), "/etc")
    tree.look("/usr/bin/telnetd")
    with strict_reads():
        assert tree.node("/etc/passwd") is not None and tree.node("/etc/nothing") is None  # pulled: a fact
        assert not tree.exists("/usr/bin/telnetd")  # probed: a fact
        assert tree.listdir("/") == ["etc"]  # above what was pulled
        with pytest.raises(NotPulled):
            tree.exists("/opt/backdoor/run")
    assert tree.node("/opt/backdoor/run") is None  # outside a check: a plain lookup
    c = Check("test.unpulled", "t", "services", "high", True, lambda c, ctx: c.result(
        "pass" if not ctx.tree.exists("/opt/backdoor/run") else "fail", "d"))
    r = run_check(c, Context(FACTS, GuestReport(os=detect(tree), tree=tree, root_device="/dev/sda1")))
    assert r.status == "error" and "NotPulled" in r.detail and "/opt/backdoor/run" in r.detail


def test_below_an_absent_pulled_root_and_through_a_mask_are_facts():
    """A pulled tree whose root the image lacks (an rpm image without /usr/lib/systemd/system) holds nothing below
    it: a fact, not NotPulled. A unit masked by a link to /dev/null is masked without reading /dev/null."""
    from workbench.enablement import UNIT_DIRS, masked

    tree = GuestTree()
    tree.add_tar(_tar({"passwd": b"root:x:0:0::/root:/bin/sh\n"}), "/etc")
    for root in UNIT_DIRS:  # pull_trees looks at each root; those outside /etc were not there
        tree.look(root)
    tree.look("/opt/probe")
    tree.add_file("/opt/probe", b"x")
    tree.add_link("/etc/systemd/system/telnet.socket", "/dev/null")
    with strict_reads():
        assert not tree.exists("/usr/lib/systemd/system/sshd-keygen.service")
        assert masked(tree, "telnet.socket")
        with pytest.raises(NotPulled):  # a present file looked at says nothing of what is below a directory there
            tree.exists("/opt/probe/child")
        with pytest.raises(NotPulled):
            tree.exists("/dev/null")


def _tar(files: dict):
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_every_path_a_check_declares_is_one_the_review_pulls():
    """A check's reads= must be covered by image/pull.py's lists, or it would see "absent" and pass."""
    from workbench.image.pull import review_covers

    tree = GuestTree.from_dict({"/etc/passwd": passwd("root:x:0:0::/root:/bin/sh", "u:x:1000:1000::/srv/u:/bin/sh"),
                                "/root/": "", "/srv/u/": "", "/home/v/": ""})
    ctx = Context(FACTS, GuestReport(os=detect(tree), tree=tree, root_device="/dev/sda1"))
    from workbench.checks.ssh import homes

    account_homes = [home for _, home in homes(tree)]
    assert "/srv/u" in account_homes
    missing = [(c.id, p) for c in all_checks() for p in c.read_paths(ctx) if not review_covers(p, account_homes)]
    assert missing == []
    assert not review_covers("/opt/app/config") and review_covers("/etc/ssh/sshd_config")
    assert REGISTRY  # the registry was loaded


def test_the_document_never_carries_a_simulation_made_for_another_os_conf():
    s = session_on(_accounts_tree())
    s.check()
    s.set_osconf(h.VPC)
    s.simulate()
    s.set_osconf(h.VPC.replace("iZ23r29djmjZ", "other-host"))  # typed after the last simulation
    doc = s.document()
    assert doc.changeset.change("/etc/hostname").after == "other-host\n"
    assert doc.osconf_text == s.osconf and doc.import_plan is not None and doc.plan is not None
    assert [f.id for f in doc.review.fixes] == [f.id for f in s.fixes] and s.fixes


def test_a_new_parser_choice_judges_the_parser_s_checks_again():
    """net.interface-names and net.conflicts are judged with the parser that will run: choosing another one in the
    TUI judges them again, so its export is what `check --script` (or `--flavor`) writes for the same choice."""
    from workbench.state import PARSER_CHECKS

    by_name = "#!/bin/sh\nip addr add 10.0.0.5/24 dev eth0\nip link set eth0 up\n"
    tree = h.tree_for("ifupdown", INIT_FILES["systemd"])
    s = session_on(tree)
    s.check()
    first = {r.id: r for r in s.review.results}
    s.choose_parser(None, by_name)
    again = {r.id: r for r in s.review.results}
    fresh = session_on(tree, script=by_name)
    fresh.check()
    assert [r.id for r in s.review.results] == [r.id for r in fresh.review.results]
    for r in fresh.review.results:
        assert (again[r.id].status, again[r.id].detail) == (r.status, r.detail), r.id
        if r.id not in PARSER_CHECKS:
            assert again[r.id] is first[r.id]  # nothing else is run again
    assert [f.id for f in s.fixes] == [f.id for f in fresh.fixes]
    assert any(first[i].detail != again[i].detail for i in PARSER_CHECKS)  # the choice mattered here


def test_every_check_that_reads_the_parser_choice_is_judged_again_when_it_changes():
    import inspect

    from workbench.state import PARSER_CHECKS

    reads = {c.id for c in all_checks()
             if any(w in inspect.getsource(c.func) for w in ("ctx.flavor", "ctx.script", "chosen_flavor(ctx)"))}
    assert reads == set(PARSER_CHECKS)
