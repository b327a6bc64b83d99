"""net.conflicts judged per stack with the parser that will run (issue 24), and fix.network-conflicts, which lets the
parser's configuration win (in-memory trees)."""

import pytest

from tests.unit.test_boot_checks import context, run
from workbench.changes import Change
from workbench.fixes import build_fixes, combine
from workbench.fixes.network import ASIDE, CLOUD_INIT_OFF, comment_out_stanza
from workbench.netdhcp import netplan_definitions
from workbench.verdict import verdict_of

NETWORKD = "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
DHCP_EN = "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n"
NETPLAN_ALL_EN = ('network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    all-en:\n      match:\n'
                  '        name: "en*"\n      dhcp4: true\n')
ENI_ENS5 = "auto lo\niface lo inet loopback\n\nallow-hotplug ens5\niface ens5 inet dhcp\n"
CLOUD = {"/usr/bin/cloud-init": "", "/etc/cloud/cloud.cfg": "datasource_list: [NoCloud]\n",
         "/etc/systemd/system/cloud-init.target.wants/cloud-init-local.service": "",
         "/etc/network/interfaces": "auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n",
         "/sbin/ifup": ""}


def _check(files, flavor=None):
    ctx = context(files=files)
    ctx.flavor = flavor
    return run("net.conflicts", ctx), ctx


def test_networkd_s_own_dhcp_file_sorting_after_the_parsers_loses_to_it():
    """As in the matrix's networkd image: 80-dhcp.network for en* beside the parser's 10-os-conf-eth0.network, which
    networkd applies first (the live network came up with the os.conf's address): no failure, a note."""
    r, _ = _check({"/etc/systemd/network/80-dhcp.network": DHCP_EN, NETWORKD: ""})
    assert r.status == "pass", (r.detail, r.evidence)
    assert "the parser's wins" in r.evidence[0] and r.offers == {}


def test_networkd_s_own_dhcp_file_sorting_first_wins_and_blocks():
    r, ctx = _check({"/etc/systemd/network/05-dhcp.network": DHCP_EN, NETWORKD: ""})
    assert r.status == "fail" and r.severity == "blocker" and "sorts before the parser's" in r.evidence[0]
    assert r.offers == {"fix.network-conflicts": ["networkd:/etc/systemd/network/05-dhcp.network"]}
    assert verdict_of([r]).outcome == "not ready"
    fix = next(f for f in build_fixes([r], ctx.tree) if f.id == "fix.network-conflicts")
    assert [(c.path, c.action) for c in fix.changes] == [
        ("/etc/systemd/network/05-dhcp.network", "delete"), ("/etc/systemd/network/05-dhcp.network" + ASIDE, "create")]
    assert fix.changes[1].after == DHCP_EN
    # a file for another MAC, or networkd not running at all: nothing that fights
    r, _ = _check({"/etc/systemd/network/05-dhcp.network": "[Match]\nMACAddress=52:54:00:00:00:01\n[Network]\n"
                                                             "DHCP=yes\n", NETWORKD: ""})
    assert r.status == "warn" and r.severity == "low"
    r, _ = _check({"/etc/systemd/network/05-dhcp.network": DHCP_EN, "/etc/network/interfaces": ENI_ENS5},
                  flavor="ifupdown")
    assert r.status == "pass", r.evidence  # networkd is not enabled; the parser comments out ens5's stanza


def test_netplan_s_dhcp_for_en_star_wins_and_the_fix_moves_it_aside():
    """As in the matrix's netplan image: the image's all-en definition renders 10-netplan-all-en.network, which sorts
    before the parser's eth0 and takes the NIC by its alternative name: DHCP, not the os.conf (classic: routes lost)."""
    r, ctx = _check({"/etc/netplan/50-dhcp.yaml": NETPLAN_ALL_EN, NETWORKD: "", "/usr/sbin/netplan": ""})
    assert r.status == "fail" and r.severity == "blocker", r.evidence
    assert "10-netplan-all-en.network" in r.evidence[0]
    assert r.offers == {"fix.network-conflicts": ["netplan:/etc/netplan/50-dhcp.yaml"]}
    fix = next(f for f in build_fixes([r], ctx.tree) if f.id == "fix.network-conflicts")
    changes, _ = combine([fix], ctx.tree)
    assert {(c.path, c.action) for c in changes} == {("/etc/netplan/50-dhcp.yaml", "modify"),
                                                     ("/etc/netplan/50-dhcp.yaml" + ASIDE, "create")}
    # a netplan file stays (with no definition), so the image is still netplan's (the real boot of the classic row
    # showed that, with the only file gone, the next detection picked ifupdown, which this image does not run)
    stub = next(c.after for c in changes if c.path == "/etc/netplan/50-dhcp.yaml")
    assert stub.endswith("network:\n  version: 2\n") and netplan_definitions(stub) == []
    r, _ = _check({"/etc/netplan/50-dhcp.yaml": stub, NETWORKD: "", "/usr/sbin/netplan": ""})
    assert r.status == "pass"
    # the same definition as the parser's (eth0) is merged, and the parser's file, read last, turns DHCP off
    r, _ = _check({"/etc/netplan/50-cloud-init.yaml": "network:\n  version: 2\n  ethernets:\n    eth0:\n"
                                                      "      dhcp4: true\n", "/usr/sbin/netplan": ""})
    assert r.status == "pass" and "turns DHCP off" in r.evidence[0]


def test_ifupdown_stanzas_per_file_and_per_flavour():
    # the parser comments out the main file's stanzas for the NIC's names (ens5 here), not interfaces.d's
    r, _ = _check({"/etc/network/interfaces": ENI_ENS5, "/sbin/ifup": ""})
    assert r.status == "pass" and "comments it out" in r.evidence[0]
    files = {"/etc/network/interfaces": "auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n",
             "/etc/network/interfaces.d/50-cloud-init": "auto eth0\niface eth0 inet dhcp\n", "/sbin/ifup": ""}
    r, ctx = _check(files)
    assert r.status == "fail" and r.severity == "blocker"
    assert r.offers == {"fix.network-conflicts": ["ifupdown:/etc/network/interfaces.d/50-cloud-init:eth0"]}
    fix = next(f for f in build_fixes([r], ctx.tree) if f.id == "fix.network-conflicts")
    assert fix.changes == [Change("/etc/network/interfaces.d/50-cloud-init", "modify",
                                  "auto eth0\niface eth0 inet dhcp\n",
                                  "# workbench (fix.network-conflicts): auto eth0\n"
                                  "# workbench (fix.network-conflicts): iface eth0 inet dhcp\n")]
    # another flavour on an image that runs ifupdown: both would configure the NIC
    r, _ = _check({"/etc/network/interfaces": ENI_ENS5, "/sbin/ifup": ""}, flavor="networkd")
    assert r.status == "fail" and "while the parser writes networkd" in r.evidence[0]


def test_cloud_init_with_its_network_on_blocks_and_the_fix_disables_it():
    r, ctx = _check(CLOUD)
    assert r.status == "fail" and r.severity == "blocker" and r.offers == {"fix.network-conflicts": ["cloud-init"]}
    fix = next(f for f in build_fixes([r], ctx.tree) if f.id == "fix.network-conflicts")
    assert [(c.path, c.action) for c in fix.changes] == [(CLOUD_INIT_OFF, "create")]
    # the image as the fix leaves it: the check passes
    r, _ = _check({**CLOUD, CLOUD_INIT_OFF: fix.changes[0].after})
    assert r.status == "pass", r.evidence


def test_the_stanza_reader_and_writer_keep_everything_else():
    text = ("auto lo\niface lo inet loopback\n\nallow-hotplug ens5\niface ens5 inet dhcp\n    hostname x\n\n"
            "auto ens6\niface ens6 inet static\n    address 10.0.0.2/24\n")
    out = comment_out_stanza(text, "ens5")
    assert out.splitlines()[3:6] == ["# workbench (fix.network-conflicts): allow-hotplug ens5",
                                     "# workbench (fix.network-conflicts): iface ens5 inet dhcp",
                                     "# workbench (fix.network-conflicts):     hostname x"]
    assert out.splitlines()[7:] == text.splitlines()[7:] and out.splitlines()[:3] == text.splitlines()[:3]
    defs = netplan_definitions(NETPLAN_ALL_EN + "  bridges:\n    br0:\n      dhcp4: true\n")
    assert defs == [{"id": "all-en", "dhcp4": True, "name": "en*", "mac": None}]


@pytest.mark.parametrize("flavor", ["networkd", "netplan", "ifupdown"])
def test_an_image_without_any_other_configuration_passes(flavor):
    r, _ = _check({}, flavor=flavor)
    assert r.status == "pass" and r.evidence == []


def test_the_session_s_checks_judge_with_the_operators_parser():
    """The check run of a review session gets the parser the operator chose (ReviewOptions: flavour or script)."""
    from tests.unit import sim_helpers as h
    from tests.unit.test_session import INIT_FILES, session_on

    names = {"/usr/lib/systemd/systemd-udevd": "", "/usr/lib/udev/rules.d/80-net-setup-link.rules": ""}
    own = session_on(h.tree_for("ifupdown", {**INIT_FILES["systemd"], **names}))
    mine = session_on(h.tree_for("ifupdown", {**INIT_FILES["systemd"], **names}),
                      script="#!/bin/sh\nip addr add 10.0.0.5/24 dev eth0\n")
    got = {}
    for name, s in (("own", own), ("mine", mine)):
        results, _ = s.compute_checks()
        got[name] = next(r for r in results if r.id == "net.interface-names")
    assert got["own"].status == "pass" and "renames the NIC" in got["own"].detail, got["own"].detail
    assert got["mine"].status == "fail" and "the operator's parser script configures eth0" in got["mine"].detail


def test_a_unit_masked_by_the_distribution_is_no_error():
    """Debian 12 ships masks (/lib/systemd/system/hwclock.service -> /dev/null): following one must end at /dev/null,
    not ask the tree for /dev/null (never pulled), which made net.conflicts, service.risky and guest.agents error on
    the matrix's Debian 12 images."""
    from workbench.image.tree import GuestTree

    ctx = context(files={"/lib/systemd/system/hwclock.service": "", NETWORKD: ""})
    tree = GuestTree.from_dict({**{n.path: (ctx.tree.read_text(n.path) or "") for n in ctx.tree.walk("/")
                                   if n.kind == "file"}}, {"/lib/systemd/system/hwclock.service": "/dev/null"})
    tree.scoped, tree.pulled = True, ["/etc", "/lib", "/usr", "/sbin"]  # as a review pulls: /dev never
    ctx.guest.tree = tree
    for cid in ("net.conflicts", "service.risky", "guest.agents"):
        assert run(cid, ctx).status != "error", run(cid, ctx).detail
