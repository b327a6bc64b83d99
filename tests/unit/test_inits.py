"""Init styles on in-memory guests: which init system the review sees, what registers the parser with it (before the
network, in insserv's order files, in OpenRC's runlevel with depend() naming what the image has), the boot.init
check, and the script each style starts under busybox sh."""

import shutil
import subprocess

import pytest

from tests.unit import sim_helpers as h
from tests.unit.security_trees import context
from tests.unit.test_session import INIT_FILES, INIT_LINKS, session_on
from workbench.checks import all_checks, run_check
from workbench.image.osinfo import detect_init
from workbench.image.tree import GuestTree
from workbench.inits import (DEPEND_BOOT, RUNIT_SV, STYLES, init_style, insserv_order, openrc_runlevel, ordering,
                             start_number)
from workbench.parsers import parser_text

DEBIAN = {"/etc/os-release": "ID=debian\nVERSION_ID=12\n", "/etc/debian_version": "12.8\n"}
DEPEND = ("TARGETS = mountkernfs.sh udev mountall.sh mountall-bootclean.sh urandom procps networking mountnfs.sh "
          "bootmisc.sh\nINTERACTIVE = udev\nudev: mountkernfs.sh\nmountall.sh: udev\nmountall-bootclean.sh: mountall.sh\n"
          "urandom: mountall.sh\nprocps: udev mountall.sh\n"
          "networking: mountkernfs.sh mountall.sh mountall-bootclean.sh urandom procps\n"
          "mountnfs.sh: mountall.sh networking\nbootmisc.sh: udev mountnfs.sh\n")
RCS_LINKS = {f"/etc/rcS.d/S{n}": f"../init.d/{n[2:]}" for n in ("01mountkernfs.sh", "02udev", "07mountall.sh",
                                                                   "09urandom", "10networking", "11mountnfs.sh")}
SYSVINIT = ({**DEBIAN, "/etc/inittab": "id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\n", "/etc/rc2.d/": "",
             "/etc/systemd/system/": "", DEPEND_BOOT: DEPEND, "/etc/init.d/networking": ""}, RCS_LINKS)
RHEL_SYSV = ({"/etc/redhat-release": "CentOS release 6.10 (Final)\n", "/etc/inittab": "id:3:initdefault:\n",
              "/etc/rc3.d/": "", "/etc/rc2.d/": ""}, {"/etc/rc3.d/S10network": "../init.d/network"})
DEBIAN_OPENRC = ({**DEBIAN, "/etc/inittab": "si::sysinit:/etc/init.d/rcS\n", "/etc/init.d/mountall.sh": "",
                  "/etc/init.d/mountkernfs.sh": "", "/etc/init.d/networking": "", "/etc/init.d/ssh": "",
                  "/etc/runlevels/boot/": "", "/etc/rcS.d/": ""},
                 {"/etc/runlevels/sysinit/networking": "/etc/init.d/networking",
                  "/etc/runlevels/default/ssh": "/etc/init.d/ssh"})
GENTOO = ({"/etc/gentoo-release": "Gentoo Base System release 2.14\n", "/sbin/openrc": "", "/etc/init.d/localmount": "",
           "/etc/init.d/net.lo": "", "/etc/init.d/sshd": "", "/etc/runlevels/boot/": ""},
          {"/etc/init.d/net.eth0": "net.lo", "/etc/runlevels/default/net.eth0": "/etc/init.d/net.eth0",
           "/etc/runlevels/boot/localmount": "/etc/init.d/localmount"})
ALPINE = ({"/etc/os-release": "ID=alpine\n", "/bin/busybox": "", "/etc/inittab": "::sysinit:/sbin/openrc sysinit\n",
           "/etc/init.d/networking": "", "/etc/runlevels/boot/": ""},
          {"/sbin/init": "/bin/busybox", "/etc/runlevels/boot/networking": "/etc/init.d/networking"})
VOID_RUNIT = ({"/etc/os-release": "ID=void\n", "/etc/runit/1": "for f in /etc/runit/core-services/*.sh; do . $f; done\n",
               "/etc/runit/runsvdir/default/": "", "/etc/sv/dhcpcd/run": ""},
              {"/sbin/init": "/usr/bin/runit-init", "/var/service": "/etc/runit/runsvdir/default"})
S6 = ({"/etc/os-release": "ID=artix\n", "/etc/s6-linux-init/current/": "", "/etc/systemd/system/": ""},
      {"/sbin/init": "/etc/s6-linux-init/current/bin/init"})
NIXOS = ({"/etc/os-release": "ID=nixos\n", "/etc/NIXOS": "", "/etc/systemd/system/": ""}, {})
UNKNOWN = ({"/etc/os-release": "ID=mine\n", "/etc/systemd/system/": ""}, {"/sbin/init": "/usr/bin/my-own-init"})
BUSYBOX_NO_RCS = ({"/bin/busybox": "", "/etc/inittab": "::sysinit:/etc/rc.local\n", "/etc/systemd/system/": ""},
                  {"/sbin/init": "/bin/busybox"})


def tree_of(case) -> GuestTree:
    files, links = case
    return GuestTree.from_dict(files, links)


CASES = {
    "runit (Debian)": ((INIT_FILES["runit"], INIT_LINKS["runit"]), "runit", "runit"),
    "runit (Void)": (VOID_RUNIT, "runit", "runit"),
    "busybox (Buildroot)": ((INIT_FILES["busybox"], INIT_LINKS["busybox"]), "busybox", "busybox"),
    "busybox without rcS": (BUSYBOX_NO_RCS, "busybox", "unknown"),
    "sysvinit (Debian)": (SYSVINIT, "sysvinit", "sysvinit"),
    "sysvinit (RHEL)": (RHEL_SYSV, "sysvinit", "sysvinit"),
    "openrc (Debian)": (DEBIAN_OPENRC, "openrc", "openrc"),
    "openrc (Gentoo)": (GENTOO, "openrc", "openrc"),
    "openrc under busybox (Alpine)": (ALPINE, "busybox", "openrc"),
    "s6": (S6, "s6", "unknown"),
    "NixOS": (NIXOS, "nixos", "unknown"),
    "unknown /sbin/init": (UNKNOWN, None, "unknown"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_detection_and_style(name):
    """/etc/systemd/system (deb-systemd-helper makes it on runit and busybox images) never makes an image systemd."""
    case, init, style = CASES[name]
    tree = tree_of(case)
    assert detect_init(tree) == init
    assert init_style(init, tree) == style


@pytest.mark.parametrize("name", list(CASES))
def test_boot_init_check_blocks_exactly_the_inits_nothing_registers_with(name):
    case, init, style = CASES[name]
    ctx = context(*case)
    r = run_check(next(c for c in all_checks() if c.id == "boot.init"), ctx)
    if style == "unknown":
        assert (r.status, r.severity) == ("fail", "blocker"), r
        named = {"s6": "s6", "nixos": "NixOS", None: "/usr/bin/my-own-init", "busybox": "busybox init"}[init]
        assert named in r.detail and "nothing would apply" in r.detail
    else:
        assert r.status == "pass", r
        assert [e.split(":")[0] for e in r.evidence[1:]] == [w.path for w in STYLES[style].register(ctx.tree)]


@pytest.mark.parametrize("name", list(CASES))
def test_inject_writes_no_script_that_nothing_would_start(name):
    """An image whose init system nothing can register the parser with gets no parser at all: the plan is refused
    (inject exits 2, nothing written) with the init system named, as boot.init names it."""
    from workbench.inject import InjectError

    case, init, style = CASES[name]
    files, links = case
    s = session_on(GuestTree.from_dict({**h.BASE, **h.STACKS["ifupdown"], **files}, links))
    if style != "unknown":
        assert s.plan().init == style
        return
    with pytest.raises(InjectError) as refused:
        s.plan()
    named = {"s6": "s6", "nixos": "NixOS", None: "/usr/bin/my-own-init", "busybox": "busybox init"}[init]
    assert named in str(refused.value) and "nothing would start it" in str(refused.value)
    plan, why = s.injection_plan()
    assert plan is None and named in why


def test_runit_on_debian_runs_in_stage_1_before_networking_in_insserv_order():
    writes = {w.path: w for w in STYLES["runit"].register(tree_of((INIT_FILES["runit"], INIT_LINKS["runit"])))}
    assert writes["/etc/rcS.d/S09os-conf"].target == "../init.d/os-conf"  # S10networking sorts after it
    order = writes[DEPEND_BOOT].after
    assert "TARGETS = mountkernfs.sh mountall.sh os-conf networking mountnfs.sh" in order
    assert "networking: mountkernfs.sh mountall.sh os-conf" in order
    assert "os-conf: mountkernfs.sh mountall.sh" in order.splitlines()


def test_runit_without_a_stage_1_hook_gets_a_one_shot_service_in_its_runsvdir():
    writes = {w.path: w for w in STYLES["runit"].register(tree_of(VOID_RUNIT))}
    assert writes[RUNIT_SV].kind == "dir"
    run = writes[f"{RUNIT_SV}/run"]
    assert run.file_mode == 0o755 and 'sv once "$PWD"' in run.after and "exec /etc/init.d/os-conf start" in run.after
    assert writes["/etc/runit/runsvdir/default/os-conf"].target == RUNIT_SV


def test_busybox_rcs_runs_it_before_the_network_script():
    writes = STYLES["busybox"].register(tree_of((INIT_FILES["busybox"], INIT_LINKS["busybox"])))
    assert [(w.path, w.target) for w in writes] == [("/etc/init.d/S39os-conf", "os-conf")]


def test_sysvinit_debian_registers_in_runlevel_s_and_rhel_in_2_to_5():
    debian = {w.path: w for w in STYLES["sysvinit"].register(tree_of(SYSVINIT))}
    assert set(debian) == {"/etc/rcS.d/S09os-conf", DEPEND_BOOT, *(f"/etc/rc{n}.d/S05os-conf" for n in (2, 3, 4, 5))}
    assert ordering("sysvinit", tree_of(SYSVINIT)).default_start == "S"
    rhel = [w.path for w in STYLES["sysvinit"].register(tree_of(RHEL_SYSV))]
    assert rhel == [f"/etc/rc{n}.d/S05os-conf" for n in (2, 3, 4, 5)]
    assert ordering("sysvinit", tree_of(RHEL_SYSV)).default_start == "2 3 4 5"
    text = parser_text("ifupdown", "sysvinit", h.UUID, "", ordering("sysvinit", tree_of(SYSVINIT)))
    assert "# Default-Start:     S\n" in text


def test_insserv_order_is_what_insserv_would_add_without_cycles_and_idempotent():
    order = insserv_order(DEPEND, ("networking", "ssh"))
    lines = order.splitlines()
    targets = lines[0].split()[2:]
    assert targets.index("os-conf") == targets.index("networking") - 1
    assert "networking: mountkernfs.sh mountall.sh mountall-bootclean.sh urandom procps os-conf" in lines
    mine = next(ln for ln in lines if ln.startswith("os-conf:")).split()[1:]
    assert set(mine) == {"mountkernfs.sh", "mountall.sh", "mountall-bootclean.sh", "urandom", "procps"}
    assert "mountnfs.sh" not in mine and "bootmisc.sh" not in mine  # they come after networking: a cycle
    assert insserv_order(order, ("networking", "ssh")) == order
    assert insserv_order("no targets here\n", ("networking",)) is None
    # a service to precede that had no line of its own gets one
    assert "networking: os-conf" in insserv_order("TARGETS = mountall.sh networking\n", ("networking",))


def test_openrc_depend_names_only_what_the_image_has_and_joins_the_network_runlevel():
    debian, gentoo = tree_of(DEBIAN_OPENRC), tree_of(GENTOO)
    assert ordering("openrc", debian).depend == ("after mountkernfs.sh mountall.sh", "before networking ssh")
    assert openrc_runlevel(debian) == "sysinit"
    assert [w.path for w in STYLES["openrc"].register(debian)] == ["/etc/runlevels/sysinit/os-conf"]
    assert ordering("openrc", gentoo).depend == ("need localmount", "before net net.lo sshd")
    assert openrc_runlevel(gentoo) == "default"
    assert openrc_runlevel(tree_of(ALPINE)) == "boot"
    text = parser_text("netifrc", "openrc", h.UUID, "", ordering("openrc", debian))
    assert "depend() {\n    after mountkernfs.sh mountall.sh\n    before networking ssh\n}" in text
    assert "localmount" not in text


def test_start_numbers():
    assert start_number([(1, "mount"), (40, "network"), (50, "sshd")], ("network",)) == 39
    assert start_number([(1, "networking")], ("networking",)) == 1
    assert start_number([(3, "x")], ("networking",)) == 5


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
@pytest.mark.parametrize("style", list(STYLES))
def test_every_style_s_script_parses_under_busybox_sh(style, tmp_path):
    trees = {"openrc": tree_of(DEBIAN_OPENRC), "sysvinit": tree_of(SYSVINIT), "runit": tree_of(VOID_RUNIT)}
    for flavor in ("ifupdown", "netifrc", "networkd"):
        path = tmp_path / f"{flavor}.sh"
        path.write_text(parser_text(flavor, style, h.UUID, "", ordering(style, trees.get(style))))
        proc = subprocess.run(["busybox", "sh", "-n", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    run = STYLES["runit"].register(tree_of(VOID_RUNIT))[1].content
    (tmp_path / "run").write_bytes(run)
    assert subprocess.run(["busybox", "sh", "-n", str(tmp_path / "run")]).returncode == 0


@pytest.mark.parametrize("name", ["runit (Debian)", "busybox (Buildroot)", "sysvinit (Debian)", "openrc (Debian)"])
def test_the_plan_records_every_registration_write_for_uninject(name):
    """uninject undoes what the manifest lists: every registration write is in the plan, a new path as created (it
    is removed), a changed one (insserv's order file) with its previous content (it is restored from its copy)."""
    case, _, style = CASES[name]
    files, links = case
    s = session_on(GuestTree.from_dict({**h.BASE, **h.STACKS["ifupdown"], **files}, links))
    plan = s.plan()
    assert plan.init == style
    by_path = {w.path: w for w in plan.writes}
    for w in STYLES[style].register(s.review.guest.tree):
        planned = by_path[w.path]
        if planned.before is None:
            assert planned.action == "create"
        else:
            assert planned.action == "modify" and w.path == DEPEND_BOOT and planned.before == files[DEPEND_BOOT]


def test_the_openrc_script_keeps_the_path_openrc_run_gives_it(tmp_path):
    """OpenRC 0.45 (Debian 12) runs ebegin and eend from /lib/rc/bin, which openrc-run puts on PATH: a script that
    sets its own PATH must keep that one, or OpenRC reports it failed (a real boot said "eend: not found")."""
    rc_bin = tmp_path / "rc-bin"
    rc_bin.mkdir()
    (rc_bin / "eend").write_text("#!/bin/sh\nexit 0\n")
    (rc_bin / "eend").chmod(0o755)
    script = tmp_path / "os-conf"
    script.write_text(parser_text("ifupdown", "openrc", h.UUID, "", ordering("openrc", tree_of(DEBIAN_OPENRC))))
    proc = subprocess.run(["sh", "-c", '. "$0" && command -v eend', str(script)], capture_output=True, text=True,
                          env={"PATH": f"{rc_bin}:/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout.strip() == str(rc_bin / "eend"), proc.stderr


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
@pytest.mark.parametrize("style", ["busybox", "runit"])
def test_the_busybox_and_runit_scripts_run_under_busybox_sh_and_its_applets(style):
    """Started as rcS (or runit's stage 1) starts it, under busybox's sh and applets only: the ifupdown stanza is
    one busybox's ifup reads (address and netmask apart, the file sourced by its name)."""
    cs = h.run("ifupdown", init=style, busybox=True)
    assert cs.exit_code == 0, cs.log
    stanza = h.after(cs, "/etc/network/interfaces.d/os-conf")
    assert "    address 10.171.254.123\n    netmask 255.255.255.0\n" in stanza
    assert "source /etc/network/interfaces.d/os-conf" in h.after(cs, "/etc/network/interfaces").splitlines()
    assert h.after(cs, "/etc/hostname") == "iZ23r29djmjZ\n"


# -- the NICs' names at later boots, where no udev applies the parser's rule ------------------------------------------
MAC = "00:8c:fa:5e:14:23"
RULES = "/etc/udev/rules.d/70-os-conf-net.rules"
UDEV_CONF = {"/etc/udev/udev.conf": ""}
SHELLS = [False] + ([True] if shutil.which("busybox") else [])


def _booted_once(files: dict, links: dict | None, init: str) -> dict:
    """The files after the first boot: the NIC was ens5 (the initramfs's udev named it), the parser renamed it eth0
    and wrote its rule for later boots."""
    cs = h.run("ifupdown", h.VPC, tree=GuestTree.from_dict(files, links), init=init, nics=[("ens5", MAC)])
    assert cs.exit_code == 0 and cs.change(RULES).action == "create", cs.log
    out = dict(files)
    for c in cs.changes:
        if c.kind == "file" and not c.path.startswith("/boot/"):
            out[c.path] = c.after
    return out


def _renames(cs) -> list[list[str]]:
    return [argv[4:] for argv in cs.commands if argv[:3] == ["ip", "link", "set"] and "name" in argv]


@pytest.mark.parametrize("busybox", SHELLS, ids=lambda b: "busybox" if b else "sh")
@pytest.mark.parametrize("kind", ["reboot", "change"])
def test_where_no_udev_runs_every_start_names_the_nics_again_and_writes_nothing_for_it(kind, busybox):
    """busybox init runs no udev (the initramfs's named the NIC ens5 and is gone): at every later start, os.conf or
    not, the parser gives the NIC with the rule's MAC its name back before the network script, changing no file but
    its log (a reboot), or the identity files the os.conf names (a change): the later boots' rules."""
    from workbench.rehearse.reboots import BOOKKEEPING, IDENTITY, change_conf

    files = {**h.BASE, **h.STACKS["ifupdown"], **INIT_FILES["busybox"], **UDEV_CONF}  # Debian's udev, never started
    after = _booted_once(files, INIT_LINKS["busybox"], "busybox")
    conf = change_conf() if kind == "change" else None
    cs = h.run("ifupdown", conf, tree=GuestTree.from_dict(after, INIT_LINKS["busybox"]), init="busybox",
               busybox=busybox, nics=[("ens5", MAC)])
    assert cs.exit_code == 0, cs.log
    assert _renames(cs) == [["ens5", "name", "oc-eth0"], ["oc-eth0", "name", "eth0"]], cs.commands
    assert f"no udev daemon runs to apply {RULES}" in cs.log and f"ens5 renamed to eth0 (MAC {MAC})" in cs.log
    changed = [c.path for c in cs.changes if c.kind != "dir"]
    allowed = BOOKKEEPING if kind == "reboot" else BOOKKEEPING + IDENTITY + ("/boot/aliyun_custom_image/os.conf",)
    assert changed and all(p.startswith(allowed) for p in changed), changed
    # a NIC that already has its name is left alone, and a MAC no NIC has is only logged
    for nics in ([("eth0", MAC)], [("ens5", "52:54:00:12:34:56")]):
        again = h.run("ifupdown", None, tree=GuestTree.from_dict(after, INIT_LINKS["busybox"]), init="busybox",
                      nics=nics)
        assert again.exit_code == 0 and _renames(again) == [], again.commands
    assert f"eth0: no network interface has the MAC address {MAC}; no NIC is named eth0" in again.log


UDEV_RUNS = {
    "systemd": ({**INIT_FILES["systemd"]}, None, "systemd"),
    "sysvinit with udev": ({**INIT_FILES["sysvinit"], **UDEV_CONF}, None, "sysvinit"),
    "busybox with its own udev script (Buildroot's S10udev)": (
        {**INIT_FILES["busybox"], **UDEV_CONF, "/etc/init.d/S10udev": "#!/bin/sh\n"}, INIT_LINKS["busybox"], "busybox"),
}


@pytest.mark.parametrize("name", list(UDEV_RUNS))
def test_where_udev_runs_the_parser_leaves_the_names_to_it(name):
    """Where the boot runs a udev daemon (systemd's directory, or a process called udevd, in the sandbox as at the
    boot), udev applies the rule: the parser renames nothing at a later start, as before."""
    extra, links, init = UDEV_RUNS[name]
    files = {**h.BASE, **h.STACKS["ifupdown"], **extra}
    after = _booted_once(files, links, init)
    cs = h.run("ifupdown", None, tree=GuestTree.from_dict(after, links), init=init, nics=[("ens5", MAC)])
    assert cs.exit_code == 0 and _renames(cs) == [] and "no udev daemon" not in cs.log, (cs.commands, cs.log)


def test_which_boots_run_a_udev_daemon():
    from workbench.inits import udev_at_boot

    def tree(extra, links=None):
        return GuestTree.from_dict({**h.BASE, **extra}, links)
    assert udev_at_boot("systemd", tree({}))
    assert udev_at_boot("sysvinit", tree(UDEV_CONF)) and not udev_at_boot("sysvinit", tree({}))
    assert udev_at_boot("openrc", tree(UDEV_CONF)) and udev_at_boot("runit", tree(UDEV_CONF))
    busybox = {**INIT_FILES["busybox"], **UDEV_CONF}
    assert not udev_at_boot("busybox", tree(busybox, INIT_LINKS["busybox"]))  # installed, started by nothing
    assert udev_at_boot("busybox", tree({**busybox, "/etc/init.d/S10udev": ""}, INIT_LINKS["busybox"]))
