"""Both doors drive one review session: the CLI's report and the TUI's export are the same document for the same
image, os.conf and chosen fixes; the fix path costs one check run from either door."""

import json
import re

import pytest

from screens.app import make_app
from tests.tui.helpers import report_opener, settle, until
from workbench import osconf
from workbench.image.preflight import preflight

pytestmark = pytest.mark.appliance
TIMES = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d( [A-Z]{2,5})?")


def _timeless(doc: dict) -> dict:
    """The document with its timestamps (when it was made, when the parser logged) taken out."""
    doc = json.loads(TIMES.sub("<time>", json.dumps(doc)))
    doc["report"].pop("created")
    return doc


def _differences(a, b, at: str = "") -> list[str]:
    """Where two JSON documents differ, as paths (the first few), for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _differences(a.get(k), b.get(k), f"{at}.{k}")][:10]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{at}[{i}]")][:10]
    return [] if a == b else [f"{at}: {str(a)[:200]!r} != {str(b)[:200]!r}"]


async def test_the_cli_report_is_the_tui_export(built, recorded, run_cli, tmp_path):
    path = str(built("sample"))
    values = osconf.parse_text(osconf.EXAMPLE_VPC)[0] | {"hostname": "doors-1"}
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    tui_out = tmp_path / "tui.json"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.state.guest_ready and not app._busy("checks"), "the checks")
        offered = sorted(f.id for f in app.state.fixes)
        chosen = [f for f in ("fix.remove-host-keys", "fix.lock-account") if f in offered]
        assert len(chosen) == 2, offered
        app.choose_fixes(set(chosen))
        app.set_osconf(values)
        await until(pilot, lambda: app.state.changeset is not None and not app._busy("simulate"), "the simulation")
        await pilot.press("6")
        app.screen.query_one("#rep-output").value = str(tui_out)
        await pilot.press("ctrl+e")
        await until(pilot, tui_out.exists, "the export")
    conf = tmp_path / "os.conf"
    conf.write_text(osconf.render_values(values))
    cli_out = tmp_path / "cli.json"
    proc = run_cli("report", path, "--os-conf", conf, "--fix", chosen[0], "--fix", chosen[1], "--output", cli_out)
    assert proc.returncode == 1, proc.stderr  # the sample is not ready
    tui, cli = json.loads(tui_out.read_text()), json.loads(cli_out.read_text())
    # what the issue found missing from the TUI's file: every fix offered, and the import plan
    assert sorted(f["id"] for f in tui["fixes"]) == offered and tui["report"]["import"]["parameters"]
    assert sorted(tui["report"]["injection"]["plan"]["fixes"]) == sorted(chosen)
    assert _timeless(tui) == _timeless(cli), _differences(_timeless(tui), _timeless(cli))


def test_inject_with_fixes_runs_the_checks_once(built, tmp_path, monkeypatch):
    """`workbench inject IMAGE --fix ID` reads the image being written once and checks it once: the password scan
    (the costly check) runs one time."""
    from workbench import cli
    from workbench.checks import passwords

    scans = []
    real = passwords.scan
    monkeypatch.setattr(passwords, "scan", lambda *a, **kw: scans.append(1) or real(*a, **kw))
    out = tmp_path / "fixed.qcow2"
    code = cli.main(["inject", str(built("sample")), "--output", str(out), "--fix", "fix.remove-host-keys",
                     "--format", "json"])
    assert code == 0 and out.exists()
    assert len(scans) == 1
