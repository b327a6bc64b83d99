"""The whole guided review, as an operator walks it, on a real image (one real write)."""

import pytest
from textual.widgets import Input, SelectionList

from screens.help import HelpScreen
from screens.widgets.journey import JourneyBar
from tests.tui.helpers import report_opener, settle, static_text, until
from screens.app import make_app
from workbench.image.preflight import preflight

pytestmark = pytest.mark.appliance


def states(app):
    return {s.key: s.state for s in app.state.steps()}


async def test_walk_the_whole_journey(built, recorded, tmp_path):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    out, report = tmp_path / "ecs.qcow2", tmp_path / "review.html"
    async with app.run_test(size=(120, 42)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.state.changeset is not None and not app._busy("checks"), "checks and simulation")
        # first step focused: within the limits, but it would not boot on ECS (no virtio in its initramfs, an
        # agent enabled); security needs attention; os.conf (the example) valid
        assert app.focused.id == "limits"
        st = states(app)
        assert st == {"overview": "attention", "security": "attention", "osconf": "done", "simulation": "done",
                      "inject": "todo", "report": "todo"}
        bar = str(app.screen.query_one(JourneyBar).render())
        assert "Next: 1 Limits: will not boot or answer on ECS as it is: boot.initramfs-drivers, guest.agents" in bar
        # 2: choose every offered fix; the boot findings are covered, the vulnerable bash has none
        await pilot.press("2", "f")
        sl = app.screen.query_one("#sec-fixes", SelectionList)
        sl.select_all()
        await pilot.pause()
        assert states(app)["overview"] == "done" and states(app)["security"] == "attention"
        assert "vuln.remote" in str(app.screen.query_one(JourneyBar).render())
        # 3: break the os.conf: inject is blocked, with the reason on its screen
        await pilot.press("3")
        app.screen.query_one("#in-eth0_netmask", Input).value = "255.0.255.0"
        await until(pilot, lambda: states(app)["osconf"] == "attention", "os.conf problem")
        assert states(app)["inject"] == "blocked"
        assert app.check_action("write_image", ()) is None
        await pilot.press("escape", "5")
        assert "Writing is disabled" in static_text(app.screen, "#inj-summary")
        await pilot.press("3")
        app.screen.query_one("#in-eth0_netmask", Input).value = "255.255.255.0"
        await until(pilot, lambda: states(app)["osconf"] == "done" and states(app)["simulation"] == "done"
                    and app.state.changeset.change("/etc/hostname") is not None, "valid os.conf and its simulation")
        # 4: the simulation shows the parser's work
        await pilot.press("escape", "4")
        assert "exit code 0" in static_text(app.screen, "#sim-status")
        # 5: write a new image with all the fixes
        await pilot.press("5")
        app.screen.query_one("#inj-output", Input).value = str(out)
        await pilot.press("ctrl+w")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: app.state.inject_result is not None or app.state.inject_error is not None, "the write")
        assert app.state.inject_error is None and app.state.inject_result.ok and out.exists()
        assert states(app)["inject"] == "done"
        # 6: export the report
        await pilot.press("6")
        app.screen.query_one("#rep-output", Input).value = str(report)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert states(app)["report"] == "done" and report.exists()
        html = report.read_text()
        assert "Verdict: not ready" in html and "written to" in html.lower()
        assert 'id="simulation"' in html and "cXdlcjEyMzQK" not in html and 'id="import"' in html
        # the hand-off: the ImportImage parameters with the blockers, the command to the clipboard, the conversion
        pane = static_text(app.screen, "#rep-import")
        assert "NOT READY" in pane and "✘ boot.initramfs-drivers:" in pane and "Customized Linux" in pane
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert app.clipboard.startswith("aliyun ecs ImportImage ") and "'--Platform=Customized Linux'" in app.clipboard
        upload = tmp_path / "upload.qcow2"
        app.screen.query_one("#rep-export", Input).value = str(upload)
        await pilot.press("ctrl+k")
        await until(pilot, lambda: app.state.export_result is not None or app.state.export_error is not None,
                    "the conversion")
        assert app.state.export_error is None and upload.exists() and (tmp_path / "upload.qcow2.sha256").exists()
        assert f"Content-MD5 {app.state.export_result.content_md5}" in static_text(app.screen, "#rep-import")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
