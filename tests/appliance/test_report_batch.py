"""workbench report (checked in headless Chromium) and the batch check."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.unit.sim_helpers import VPC

pytestmark = pytest.mark.appliance
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def reports(built, tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    conf = d / "os.conf"
    conf.write_text(VPC)
    out = {}
    html = d / "review.html"
    proc = subprocess.run([sys.executable, "-m", "workbench", "report", str(built("sample")), "--output", str(html),
                           "--os-conf", str(conf), "--fix", "fix.remove-host-keys"], capture_output=True, text=True,
                          timeout=600)
    out["html"] = (html, proc)
    return out


def test_report_cli(reports):
    html, proc = reports["html"]
    assert proc.returncode == 1  # the sample fails checks
    # the import rules forbid what the sample has: the verdict says so, naming the rules and the checks
    assert proc.stdout.strip() == (
        f"{html}: not ready: the import rules forbid default or empty passwords (password.default); the import rules "
        "forbid default SSH key pairs and logins (ssh.host-keys, ssh.user-keys, ssh.authorized-keys, ssh.sshd-config); "
        "the import rules forbid remotely exploitable vulnerabilities (vuln.remote); it would not start on ECS "
        "(boot.initramfs-drivers)")
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text and "http" not in text.split("<body>")[0]
    assert "cXdlcjEyMzQK" not in text and "password=********" in text


def test_html_report_in_headless_chromium(reports, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (the bootstrap installs Debian's chromium)")
    html, _ = reports["html"]
    profile = tmp_path / "profile"
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", html.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    for section in ("image", "checks", "fixes", "osconf", "simulation", "injection", "import", "versions"):
        assert f'<section id="{section}">' in dom, section
    assert "Verdict: not ready" in dom and "it would not start on ECS (boot.initramfs-drivers)" in dom
    # the os.conf keeps its line structure: one line per key, nothing replaced
    import html as html_mod
    import re

    block = html_mod.unescape(re.search(r'<pre id="osconf-text">(.*?)</pre>', dom, re.S).group(1))
    assert block.splitlines() == [("password=********" if ln.startswith("password=") else ln)
                                  for ln in VPC.splitlines()] and "\ufffd" not in block
    terraform = html_mod.unescape(re.findall(r"<pre>(.*?)</pre>", dom, re.S)[-1])
    assert 'resource "alicloud_image_import" "workbench" {' in terraform.splitlines()
    assert 'class="add"' in dom and 'class="del"' in dom  # coloured diffs
    assert "<b>(chosen)</b>" in dom and "CVE-2024-6387" in dom
    pdf = tmp_path / "review.pdf"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={pdf}",
                    "--no-pdf-header-footer", html.as_uri()], capture_output=True, timeout=120)
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000  # it prints


def test_markdown_and_json_reports(built, tmp_path):
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    for out in (md, js):
        proc = subprocess.run([sys.executable, "-m", "workbench", "report", str(built("gpt-esp-debian")), "--output",
                               str(out)], capture_output=True, text=True, timeout=600)
        assert proc.returncode in (0, 1), proc.stderr
    text = md.read_text()
    assert text.startswith(r"# Image review: gpt\-esp\-debian\.qcow2") and "**Verdict: " in text  # escaped
    doc = json.loads(js.read_text())
    assert doc["schema"] == "workbench.check/1" and doc["report"]["schema"] == "workbench.report/1"
    assert doc["report"]["simulation"] is None and "no os.conf was given" in doc["report"]["notes"][0]
    assert doc["report"]["injection"]["plan"]["flavor"] == "ifupdown"
    assert doc["report"]["versions"]["bundled_advisories"] == 4
    imp = doc["report"]["import"]
    assert imp["schema"] == "workbench.import/1" and imp["parameters"]["BootMode"] == "UEFI"
    assert imp["commands"]["aliyun"].startswith("aliyun ecs ImportImage ") and "## Import" in text


def test_batch_check_in_parallel(built, tmp_path):
    images = [built("gpt-esp-debian"), built("xfs-first")]
    proc = subprocess.run([sys.executable, "-m", "workbench", "check", *map(str, images), "--format", "json"],
                          capture_output=True, text=True, timeout=600)
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["image"]["path"] for d in docs] == list(map(str, images))
    assert docs[0]["os"]["distro"] == "debian" and proc.returncode == 1  # the worst: xfs first fails
    text = subprocess.run([sys.executable, "-m", "workbench", "check", "--quick", *map(str, images),
                           str(tmp_path / "missing.qcow2")], capture_output=True, text=True, timeout=600)
    lines = text.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"{images[1]}: will be rejected")
    assert text.returncode == 2 and "missing.qcow2: no such file" in text.stderr
