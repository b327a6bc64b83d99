"""The sandbox never shows the host's files for the guest's, and its limits hold.

The sandbox's /usr, /bin and /lib are the host's: a guest link that leads there (/etc/hosts -> /usr/lib/os-release
in a guest without that file) must read as the guest's own file or as nothing, never as the host's. A guest link
to /dev/zero, an endless loop, a flood of output or a huge file must end the run under its limits and make the
result untrusted (exit_code None), never a success with a wrong diff.
"""

import io
import tarfile
import time
from pathlib import Path

import pytest

from tests.unit.sim_helpers import BASE, STACKS, VPC, run
from workbench import sandbox
from workbench.image.tree import GuestTree

# what the parser sees through each link, copied into files the diff then shows
PEEK = "#!/bin/sh\nfor f in hosts os-release cmdline mounts relative inside fifo dev; do\n" \
       "  if [ -e /etc/$f ]; then cat /etc/$f > /etc/seen-$f 2>&1; else echo absent > /etc/seen-$f; fi\ndone\n"
HOST_OS_RELEASE = Path("/usr/lib/os-release").read_text() if Path("/usr/lib/os-release").exists() else ""
HOST_CMDLINE = Path("/proc/cmdline").read_text()


def guest(extra=None, links=None, without=("/etc/hosts",)) -> GuestTree:
    files = {k: v for k, v in {**BASE, **STACKS["sysconfig"], **(extra or {})}.items() if k not in without}
    return GuestTree.from_dict(files, links)


def seen(cs, name: str) -> str | None:
    ch = cs.change(f"/etc/seen-{name}")
    return ch.after if ch is not None else None


LINKS = {"/etc/hosts": "../usr/lib/os-release", "/etc/os-release": "/usr/lib/../lib/os-release",
         "/etc/cmdline": "/proc/cmdline", "/etc/mounts": "../proc/self/mounts", "/etc/relative": "sysconfig/network",
         "/etc/inside": "/etc/sysconfig/../hostname"}


def test_links_out_of_the_copy_never_reach_the_hosts_files():
    assert HOST_OS_RELEASE, "the host has no /usr/lib/os-release to tell apart"
    cs = run("sysconfig", script=PEEK, tree=guest(links=LINKS))
    assert cs.exit_code == 0, cs.log
    for name in ("hosts", "os-release", "cmdline", "mounts"):
        assert seen(cs, name) == "absent\n", (name, seen(cs, name))
    everything = cs.log + "".join((c.before or "") + (c.after or "") for c in cs.changes)
    assert HOST_OS_RELEASE not in everything and HOST_CMDLINE.strip() not in everything
    # links that stay inside the copy still lead where they lead in the guest
    assert seen(cs, "relative") == STACKS["sysconfig"]["/etc/sysconfig/network"]
    assert seen(cs, "inside") == BASE["/etc/hostname"]


def test_a_link_out_of_the_copy_reads_the_guests_own_file_and_a_write_through_it_is_reported():
    tree = guest({"/usr/lib/os-release": "ID=guest-own\n"}, LINKS)
    cs = run("sysconfig", script=PEEK + "echo appended >> /etc/os-release\n", tree=tree)
    assert seen(cs, "hosts") == "ID=guest-own\n" and seen(cs, "os-release") == "ID=guest-own\n"
    ch = cs.change("/usr/lib/os-release")
    assert ch is not None and ch.action == "modify" and ch.after == "ID=guest-own\nappended\n"
    assert cs.change("/etc/os-release") is None  # the link itself is untouched, and shown as the guest has it


def test_the_parser_on_a_guest_whose_hosts_leads_out():
    """The issue's image: /etc/hosts -> /usr/lib/os-release, a file the guest lacks (report --os-conf showed the
    host's os-release as the guest's /etc/hosts)."""
    cs = run("ifupdown", tree=GuestTree.from_dict({k: v for k, v in {**BASE, **STACKS["ifupdown"]}.items()
                                                   if k != "/etc/hosts"}, {"/etc/hosts": "../usr/lib/os-release"}))
    assert cs.exit_code == 0
    everything = "".join((c.before or "") + (c.after or "") for c in cs.changes)
    assert HOST_OS_RELEASE not in everything and "VERSION_CODENAME" not in everything


def _with_specials(tree: GuestTree) -> GuestTree:
    """A FIFO and a character device under /etc, as tar_out reports them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind in (("./fifo", tarfile.FIFOTYPE), ("./dev", tarfile.CHRTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.devmajor, info.devminor = kind, 1, 5
            tar.addfile(info)
    buf.seek(0)
    tree.add_tar(buf, "/etc")
    return tree


def test_devices_and_fifos_are_not_copied_in():
    tree = _with_specials(guest())
    assert tree.node("/etc/fifo").kind == "other" and tree.node("/etc/dev").kind == "other"
    cs = run("sysconfig", script=PEEK, tree=tree)
    assert seen(cs, "fifo") == "absent\n" and seen(cs, "dev") == "absent\n"


def test_the_copy_is_never_written_through_a_link_on_the_host(tmp_path):
    """A guest tree can hold a link and, from a damaged directory, entries below it: materialised on the host, the
    entries must not land where the link points."""
    victim = tmp_path / "victim"
    victim.mkdir()
    state = {"/etc": sandbox.Entry("dir"), "/etc/x": sandbox.Entry("link", target=str(victim)),
             "/etc/x/planted": sandbox.Entry("file", b"x"), "/etc/x/sub": sandbox.Entry("dir")}
    root = tmp_path / "root"
    root.mkdir()
    sandbox.write_tree(str(root), state)
    assert list(victim.iterdir()) == []


# -- the limits --------------------------------------------------------------------------------------------------
def test_a_link_to_dev_zero_hits_the_memory_limit_and_is_not_a_success():
    """The issue's /etc/conf.d/net -> /dev/zero: the netifrc parser's sed reads it as one endless line. Capped, sed
    gives up silently and the parser says it is done: the simulation must not."""
    files = {k: v for k, v in {**BASE, **STACKS["netifrc"]}.items() if k != "/etc/conf.d/net"}
    t = time.monotonic()
    cs = run("netifrc", tree=GuestTree.from_dict(files, {"/etc/conf.d/net": "/dev/zero"}))
    assert time.monotonic() - t < 15
    assert cs.exit_code is None and "grew to" in cs.log and "not trusted" in cs.log, cs.log[-500:]
    grown = int(cs.log.split("grew to ")[1].split(" MiB")[0])
    assert sandbox.MEM_SPOILED >> 20 <= grown <= sandbox.MEM_LIMIT >> 20  # the cap held


def test_sed_gives_up_silently_under_the_cap_so_the_run_is_watched():
    """Why the exit code cannot be trusted: sed on /dev/zero, under the cap, exits 0 having done nothing."""
    cs = run("sysconfig", script="#!/bin/sh\nsed -n 's/^x=//p' /dev/zero\necho sed=$?\n")
    assert "sed=0" in cs.log and cs.exit_code is None


def test_cpu_output_and_file_size_limits(monkeypatch):
    monkeypatch.setattr(sandbox, "CPU_LIMIT", 1)
    cs = run("sysconfig", script="#!/bin/sh\nwhile :; do :; done\n")
    assert cs.exit_code is None and ("CPU" in cs.log or "did not finish" in cs.log), cs.log[-300:]
    monkeypatch.setattr(sandbox, "OUTPUT_LIMIT", 64 << 10)
    t = time.monotonic()
    cs = run("sysconfig", script="#!/bin/sh\nyes flood\n")
    assert time.monotonic() - t < 10 and cs.exit_code is None and "output" in cs.log
    assert len(cs.log) < 70 << 10
    monkeypatch.setattr(sandbox, "FILE_LIMIT", 1 << 20)
    cs = run("sysconfig", script="#!/bin/sh\nhead -c 3000000 /dev/zero > /etc/big\nexit 0\n")
    assert cs.exit_code is None and "reached the 1 MiB" in cs.log
    big = cs.change("/etc/big")
    assert big is not None and "1048576 bytes" in (big.after or "")


def test_an_ordinary_run_is_untouched_by_the_limits():
    """Also from a big process (a TUI holding a large review): the sandbox's usage is its own, not its parent's."""
    ballast = bytearray(b"\1" * (300 << 20))
    cs = run("sysconfig")
    assert cs.exit_code == 0 and "not trusted" not in cs.log, cs.log[-300:]
    assert cs.change("/etc/sysconfig/network-scripts/ifcfg-eth0") is not None
    del ballast


@pytest.mark.parametrize("path,expected", [("/etc/a/../hostname", "/etc/hostname"), ("/etc/up", "/usr/lib/x"),
                                           ("/etc/loop", None), ("/etc/dotdot/../hostname", "/usr/hostname")])
def test_links_resolve_as_the_kernel_does(path, expected):
    """.. after a link goes up from where the link led (/etc/dotdot -> /usr/lib, then .. is /usr)."""
    tree = GuestTree.from_dict({"/etc/hostname": "h\n", "/usr/lib/x": "x", "/etc/a/": ""},
                               {"/etc/up": "../usr/lib/x", "/etc/loop": "loop", "/etc/dotdot": "/usr/lib"})
    assert sandbox.canonical(tree, path) == expected
