"""One snapshot per screen (SVG under tests/tui/__snapshots__); update with --snapshot-update."""

import pytest

from tests.tui.helpers import report_opener, settle
from workbench.app import make_app
from workbench.image.preflight import preflight


@pytest.mark.appliance
def test_overview_snapshot(snap_compare, built, guest):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(guest("sample")))
    assert snap_compare(app, terminal_size=(100, 34), run_before=settle)


@pytest.mark.appliance
def test_security_snapshot(snap_compare, built, guest):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(guest("sample")))

    async def before(pilot):
        await settle(pilot)
        await pilot.press("s", "down", "down", "down", "down")  # ssh.host-keys
        await settle(pilot)

    assert snap_compare(app, terminal_size=(110, 44), run_before=before)


@pytest.mark.appliance
def test_osconf_snapshot(snap_compare, built, guest):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(guest("sample")))

    async def before(pilot):
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(110, 36), run_before=before)


@pytest.mark.appliance
def test_simulation_snapshot(snap_compare, built, guest):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(guest("sample")))

    async def before(pilot):
        for _ in range(100):
            await settle(pilot)
            if app.changeset is not None:
                break
            await pilot.pause(0.1)
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("down")  # /etc/hostname
        await settle(pilot)

    assert snap_compare(app, terminal_size=(110, 40), run_before=before)


@pytest.mark.appliance
def test_inject_snapshot(snap_compare, built, guest):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(guest("sample")))

    async def before(pilot):
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        pilot.app.screen.query_one("#inj-output").value = "sample-ecs.qcow2"  # not the machine's own path
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=before)


@pytest.mark.appliance
def test_report_snapshot(snap_compare, built, guest):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(guest("sample")))

    async def before(pilot):
        for _ in range(100):
            await settle(pilot)
            if app.changeset is not None:
                break
            await pilot.pause(0.1)
        await pilot.press("6")
        pilot.app.screen.query_one("#rep-output").value = "sample-review.html"
        await settle(pilot)

    assert snap_compare(app, terminal_size=(100, 24), run_before=before)


@pytest.mark.appliance
def test_help_at_80x24_snapshot(snap_compare, built, guest):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(guest("sample")))

    async def before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


@pytest.mark.appliance
def test_overview_at_80x24_snapshot(snap_compare, built, guest):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(guest("sample")))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
