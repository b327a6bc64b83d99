"""The security screen on real images read by the appliance (reports shared per session)."""

from textual.widgets import SelectionList

from screens.security import SecurityScreen
from tests.tui.helpers import report_opener, settle, static_text, table_rows
from screens.app import make_app
from workbench.checks import passwords
from workbench.image.preflight import preflight


async def test_findings_detail_and_fix_choice(built, recorded):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    async with app.run_test(size=(110, 44)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        screen = app.screen
        assert isinstance(screen, SecurityScreen)
        rows = table_rows(screen, "#sec-checks")
        assert [r[3] for r in rows][:2] == ["password.empty", "password.default"]
        assert rows[0][0] == "Passwords" and rows[1][0] == ""
        statuses = {r[3]: r[1] for r in rows}
        assert statuses["ssh.host-keys"] == "✘ FAIL" and statuses["password.empty"] == "✔ pass"
        assert "9 failed" in static_text(screen, "#sec-summary")
        await pilot.press("down")  # password.default
        detail = static_text(screen, "#sec-detail")
        assert "root (uid 0): matches a default password" in detail and "123456" not in detail
        # choose two fixes: the app keeps them for the inject plan
        await pilot.press("f")
        fixes = screen.query_one("#sec-fixes", SelectionList)
        assert fixes.option_count == 9 and not fixes.selected  # the boot fixes are chosen here too
        await pilot.press("space", "down", "space")
        await pilot.pause()
        assert app.state.chosen_fixes == {"fix.lock-account", "fix.expire-passwords"}
        assert "/etc/shadow" in static_text(screen, "#sec-fix-changes")
        await pilot.press("o")
        assert type(app.screen).__name__ == "OverviewScreen"


async def test_password_scan_shows_progress_and_can_be_cancelled(built, recorded, monkeypatch):
    monkeypatch.setattr(passwords, "_cache", {})  # a fresh, slow scan (yescrypt accounts)
    path = str(built("gpt-esp-debian"))
    app = make_app(path, preflight(path), report_opener(recorded("gpt-esp-debian")))
    async with app.run_test(size=(110, 44)) as pilot:
        await pilot.press("s")
        for _ in range(200):
            await pilot.pause(0.05)
            if app.ui.scan_progress is not None and app.ui.scan_progress.done > 0:
                break
        screen = app.screen
        assert screen.query_one("#scan-row").display
        assert "Password scan:" in str(screen.query_one("#scan-label").render())
        assert app.check_action("cancel_scan", ()) is True
        await pilot.press("c")
        await settle(pilot)
        statuses = {r[3]: (r[1], r[4]) for r in table_rows(screen, "#sec-checks")}
        assert statuses["password.default"][0] == "– skip" and "cancelled" in statuses["password.default"][1]
        assert not screen.query_one("#scan-row").display
        assert app.check_action("cancel_scan", ()) is None
