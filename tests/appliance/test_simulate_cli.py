"""`workbench simulate` on a real image (DESIGN.md contract); the image is never modified."""

import json
from pathlib import Path

import pytest

from tests.conftest import sha256
from tests.unit.sim_helpers import CLASSIC, VPC

pytestmark = pytest.mark.appliance


def test_simulate_json_contract(run_cli, built, tmp_path):
    image = built("sample")
    before = sha256(image)
    conf = tmp_path / "os.conf"
    conf.write_text(VPC)
    proc = run_cli("simulate", image, "--os-conf", conf, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "workbench.simulate/1" and doc["flavor"] == "sysconfig" and doc["exit_code"] == 0
    assert set(doc) == {"schema", "flavor", "exit_code", "changes", "commands", "log"}
    changes = {c["path"]: c for c in doc["changes"]}
    for c in doc["changes"]:
        assert set(c) == {"path", "action", "before", "after"} and c["action"] in ("create", "modify", "delete")
    assert changes["/boot/aliyun_custom_image/os.conf"]["action"] == "delete"
    assert changes["/etc/hostname"]["before"] == "localhost.localdomain\n"
    assert "GATEWAY=10.171.254.1" in changes["/etc/sysconfig/network-scripts/ifcfg-eth0"]["after"]
    assert {"argv": ["hostname", "iZ23r29djmjZ"]} in doc["commands"]
    assert "done; os.conf removed" in doc["log"]
    assert sha256(image) == before


def _text(cs, diff=False):
    import io

    from workbench.report.text import print_changeset

    buf = io.StringIO()
    print_changeset(cs, buf, color=False, diff=diff)
    return buf.getvalue()


def test_simulate_text_masks_and_diff(guest):
    from workbench.parsers import script_for
    from workbench.simulate import simulate_image

    facts, report = guest("sample")
    cs = simulate_image(facts, report, CLASSIC, script_for(facts, report, "networkd"))
    text = _text(cs)
    assert text.startswith("parser: networkd   exit code: 0")
    assert "create  /etc/systemd/network/10-os-conf-eth1.network" in text
    diff = _text(simulate_image(facts, report, CLASSIC, script_for(facts, report)), diff=True)
    assert "+++ b/etc/sysconfig/network-scripts/route-eth0" in diff
    assert "-password=********" in diff and "cXdlcjEyMzQK" not in diff
    assert "(hash hidden)" in diff and "$6$wbSample" not in diff


def test_simulate_operator_script_and_failures(guest, run_cli, tmp_path):
    from workbench.parsers import script_for
    from workbench.simulate import simulate_image

    facts, report = guest("sample")
    conf = VPC.replace('"0.0.0.0/0 10.171.254.1"', '"10.0.0.0/8 10.171.254.1;0.0.0.0/0 10.171.254.1"')
    script = (Path(__file__).parents[1] / "fixtures" / "parsers" / "defective.sh").read_text()
    cs = simulate_image(facts, report, conf, script_for(facts, report, custom=script))
    assert cs.flavor == "custom script"
    assert "0.0.0.0/0" not in cs.change("/etc/sysconfig/network-scripts/route-eth0").after  # default route lost
    failing = simulate_image(facts, report, conf,
                             script_for(facts, report, custom="#!/bin/sh\necho about to fail >&2\nexit 3\n"))
    text = _text(failing)
    assert failing.exit_code == 3 and "exit code: 3" in text and "about to fail" in text
    proc = run_cli("simulate", "/nonexistent.qcow2", "--os-conf", tmp_path / "none.conf")
    assert proc.returncode == 2 and "no such file" in proc.stderr
