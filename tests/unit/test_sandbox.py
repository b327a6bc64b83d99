"""The simulation's sandbox runs only host code: the guest's files are data, whatever they are.

A guest with an /etc/ld.so.preload naming a compiled library of its own, an nsswitch.conf naming a module,
a fake /bin/sh and executable scripts under /etc: the parser runs (start and reload, which restarts the
network), and none of the guest's code runs. Each planted piece would leave a PWNED file in the guest's
/etc (which the simulation reports as a change) and a line on the parser's output.
"""

import shutil
import subprocess

import pytest

from tests.unit.sim_helpers import VPC, run, tree_for
from workbench.image.tree import GuestTree, Node

EVIL_C = r"""
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void pwn(void) {
    int fd = open("/etc/PWNED-PRELOAD", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) { write(fd, "x", 1); close(fd); }
    fputs("PWNED by the guest's preload library\n", stderr);
}
"""
MARK = "#!/bin/sh\necho PWNED by {what} >&2\necho x > /etc/PWNED-{tag}\n"


@pytest.fixture(scope="module")
def evil_library(tmp_path_factory) -> bytes:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: the planted preload library cannot be compiled here")
    d = tmp_path_factory.mktemp("evil")
    (d / "evil.c").write_text(EVIL_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(d / "evil.so"), str(d / "evil.c")], check=True)
    return (d / "evil.so").read_bytes()


def hostile_tree(evil: bytes) -> GuestTree:
    tree = tree_for("sysconfig", {
        "/etc/ld.so.preload": "/etc/evil.so\n/var/lib/evil.so\n",
        "/etc/nsswitch.conf": "passwd: evil files\nhosts: evil files\n",
        "/etc/ld.so.conf.d/evil.conf": "/etc\n",
        "/etc/profile": MARK.format(what="/etc/profile", tag="PROFILE"),
    })
    for path in ("/etc/evil.so", "/var/lib/evil.so", "/etc/libnss_evil.so.2"):
        tree.add(Node(path, "file", 0o755, size=len(evil), data=evil))
    for path, tag in (("/bin/sh", "SH"), ("/usr/bin/sh", "USRSH"), ("/etc/init.d/network", "INITD"),
                      ("/etc/rc.d/init.d/network", "RCD")):
        script = MARK.format(what=path, tag=tag).encode()
        tree.add(Node(path, "file", 0o755, size=len(script), data=script))
    return tree


@pytest.mark.parametrize("action", ["start", "reload"])
def test_no_guest_code_runs_in_the_sandbox(evil_library, action):
    cs = run("sysconfig", VPC, tree=hostile_tree(evil_library), action=action)
    assert "PWNED" not in cs.log, cs.log
    assert not [c.path for c in cs.changes if "PWNED" in c.path]
    assert cs.exit_code == 0, cs.log
    # the parser itself did its work: the planted files did not stop it
    assert cs.change("/etc/sysconfig/network-scripts/ifcfg-eth0") is not None
    if action == "reload":  # the network restart went to the recording stubs, not to the guest's init script
        assert ["nmcli", "connection", "reload"] in cs.commands


def test_the_planted_pieces_would_run_without_the_sandbox(evil_library, tmp_path):
    """The test can fail: the same library, preloaded on the host, does write its mark."""
    lib = tmp_path / "evil.so"
    lib.write_bytes(evil_library)
    proc = subprocess.run(["/bin/true"], env={"LD_PRELOAD": str(lib)}, capture_output=True, text=True, cwd=tmp_path)
    assert "PWNED" in proc.stderr
