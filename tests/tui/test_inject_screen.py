"""The inject screen: the plan with the chosen fixes, a confirmation, a real write, the verification."""

import pytest
from textual.widgets import Input, SelectionList

from screens.inject import InjectScreen
from screens.modals import TypedConfirmModal
from screens.modals import ConfirmModal
from tests.conftest import sha256
from tests.tui.helpers import report_opener, settle, static_text, table_rows, until
from screens.app import make_app
from workbench.image.preflight import preflight

pytestmark = pytest.mark.appliance


async def test_plan_confirm_write_and_verify(built, recorded, tmp_path, monkeypatch):
    """...and the write takes the Fix objects the review built: nothing is checked again."""
    import workbench.state

    runs = []
    real_run_checks = workbench.state.run_checks
    monkeypatch.setattr(workbench.state, "run_checks", lambda ctx: runs.append(1) or real_run_checks(ctx))
    src = built("sample")
    before = sha256(src)
    path = str(src)
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    out = tmp_path / "ecs.qcow2"
    async with app.run_test(size=(130, 44)) as pilot:
        await settle(pilot)
        await pilot.press("2", "f")  # choose a fix on the security screen
        sl = app.screen.query_one("#sec-fixes", SelectionList)
        sl.select("fix.remove-host-keys")
        await pilot.pause()
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, InjectScreen)
        rows = table_rows(screen, "#inj-writes")
        paths = [r[1] for r in rows]
        assert paths[:4] == ["/etc/rc.d/init.d/os-conf", "/etc/systemd/system/os-conf.service",
                             "/etc/systemd/system/multi-user.target.wants/os-conf.service", "/boot/aliyun_custom_image"]
        assert ["delete", "/etc/ssh/ssh_host_rsa_key"] == rows[paths.index("/etc/ssh/ssh_host_rsa_key")][:2]
        assert "fix.remove-host-keys" in static_text(screen, "#inj-summary")
        screen.query_one("#inj-output", Input).value = str(out)
        checked = len(runs)
        assert checked >= 1  # the review's own run(s): host side first, then the guest
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal) and str(out) in app.screen.message
        await pilot.press("y")
        await until(pilot, lambda: app.state.inject_result is not None or app.state.inject_error is not None, "the write")
        assert app.state.inject_error is None and app.state.inject_result.ok
        assert len(runs) == checked  # the write ran no check
        result = static_text(app.screen, "#inj-result")
        assert "✔ verified" in result and "/etc/ssh/ssh_host_rsa_key: removed" in result
    assert out.exists() and sha256(src) == before


async def test_in_place_needs_the_typed_name(built, recorded):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    async with app.run_test(size=(130, 44)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        app.screen.query_one("#inj-in-place").value = True
        await pilot.pause()
        await pilot.press("ctrl+w")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, TypedConfirmModal)
        modal.query_one(Input).value = "wrong-name"
        await pilot.pause()
        assert modal.query_one("#yes").disabled
        modal.query_one(Input).value = "sample.qcow2"
        await pilot.pause()
        assert not modal.query_one("#yes").disabled
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InjectScreen) and not app._busy("inject")


async def test_at_80_columns_a_diff_scrolls_sideways_and_never_wraps(built, recorded):
    from rich.text import Text
    from textual.widgets import Static

    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        box, diff = app.screen.query_one("#inj-diff-box"), app.screen.query_one("#inj-diff", Static)
        text = diff.render()
        lines = text.plain.splitlines() if isinstance(text, Text) else str(text).splitlines()
        assert lines[0].startswith("--- ") and lines[1].startswith("+++ b/etc/rc.d/init.d/os-conf")  # the parser
        widest = max(len(line) for line in lines)
        assert widest > box.content_region.width  # a diff wider than its box...
        assert diff.size.width >= widest and len(lines) <= diff.size.height <= len(lines) + 1  # ...unwrapped...
        assert box.max_scroll_x > 0  # ...and scrolls sideways
        box.scroll_to(x=box.max_scroll_x, animate=False)
        await pilot.pause()
        assert box.scroll_x > 0
