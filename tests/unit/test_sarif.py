"""`workbench check --format sarif`, validated against the published SARIF 2.1.0 schema (fetched into .cache by the
bootstrap: scripts/fetch_sarif_schema.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_import_plan import review
from workbench.report.sarif import to_sarif

SCHEMA = Path(__file__).resolve().parents[2] / ".cache" / "schemas" / "sarif-2.1.0.json"


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a test dependency (pip install -e '.[test]')")
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} is missing: run scripts/fetch_sarif_schema.py (the bootstrap does)")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_a_review_with_findings_is_valid_sarif(validator):
    from tests.unit.test_boot_checks import kernel

    r = review(k=kernel(initramfs_modules=("ahci", "ext4")), boot_code=None)  # no virtio in the initramfs, no boot code
    doc = to_sarif([r])
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, [e.message for e in errors[:5]]
    run = doc["runs"][0]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert rules["boot.initramfs-drivers"]["defaultConfiguration"]["level"] == "error"
    assert rules["boot.serial-console"]["properties"]["severity"] == "low"
    results = {res["ruleId"]: res for res in run["results"]}
    found = results["boot.initramfs-drivers"]
    assert found["level"] == "error" and run["tool"]["driver"]["rules"][found["ruleIndex"]]["id"] == found["ruleId"]
    assert "lacks virtio_blk, virtio_pci" in found["message"]["text"].splitlines()[0]  # detail, then the evidence
    assert found["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == run["artifacts"][0]["location"]["uri"]
    assert {res["ruleId"] for res in run["results"]} == {x.id for x in r.results if x.status in ("fail", "warn", "error")}
    assert run["properties"]["verdict"]["outcome"] in ("not ready", "will be rejected")
    # the validator does reject what is not SARIF: a result without its message, a level SARIF does not have
    broken = json.loads(json.dumps(doc))
    del broken["runs"][0]["results"][0]["message"]
    broken["runs"][0]["results"][1]["level"] = "fatal"
    assert len(list(validator.iter_errors(broken))) >= 2


def test_the_cli_prints_one_document_for_several_images(validator, built, tmp_path):
    images = [str(built("xfs-first")), str(built("exactly-5g"))]
    proc = subprocess.run([sys.executable, "-m", "workbench", "check", "--quick", "--format", "sarif", *images],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # limits fail
    doc = json.loads(proc.stdout)
    assert not list(validator.iter_errors(doc))
    assert [run["artifacts"][0]["location"]["uri"] for run in doc["runs"]] == [Path(p).as_uri() for p in images]
    assert "limit.first-partition-fs" in {res["ruleId"] for res in doc["runs"][0]["results"]}
