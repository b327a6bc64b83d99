"""The overview screen, driven by Pilot on real images."""

import dataclasses

import pytest

from screens.error import ErrorModal
from screens.overview import OverviewScreen
from screens.widgets.partition_map import PartitionMap, allocate
from tests.tui.helpers import report_opener, settle, static_text, table_rows
from screens.app import make_app
from workbench.errors import GuestError
from workbench.image.preflight import preflight


def test_allocate_is_proportional_with_a_minimum():
    assert allocate([1, 1], 10) == [5, 5]
    assert sum(allocate([1, 1000, 3], 50)) == 50
    assert min(allocate([1, 1000, 3], 50)) >= 3
    assert allocate([5], 0) == [0]


async def test_overview_shows_facts_partitions_limits_and_os(built, recorded):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        facts = static_text(screen, "#image-facts")
        assert "sample.qcow2" in facts and "qcow2 · 8 GiB virtual" in facts and "MBR · 2 partitions" in facts
        assert "CentOS Linux 7 (Core)" in static_text(screen, "#os-facts")
        assert "first partition on /boot" in static_text(screen, "#os-facts")
        rows = table_rows(screen, "#partitions")
        assert rows[0][:2] == ["1▶", "1 MiB"] and rows[0][4:] == ["ext4", "boot", "/boot"]
        assert rows[1][4] == "ext4" and rows[1][6] == "/"
        limits = table_rows(screen, "#limits")
        assert [r[1] for r in limits] == ["limit.image-format", "limit.virtual-size", "limit.first-partition-fs",
                                          "limit.first-partition-writable"]
        assert all(r[0] == "✔ pass" for r in limits)
        rendered = str(screen.query_one(PartitionMap).render())
        assert "▶1 ext4" in rendered and "/boot" in rendered
        assert not screen.query_one("#progress-row").display
        # moving through the checks shows each one's evidence
        await pilot.press("down", "down", "down")
        detail = static_text(screen, "#check-detail")
        assert "trial write" in detail.lower() and "free space" in detail


@pytest.mark.appliance
async def test_real_appliance_from_the_tui(built):
    """No injected report: the app's own worker launches the appliance (the slow path users take)."""
    path = str(built("gpt-esp-debian"))
    app = make_app(path, preflight(path))
    async with app.run_test(size=(100, 36)) as pilot:
        await pilot.pause()
        assert app.check_action("reload", ()) is None  # shown greyed out while the appliance boots
        await settle(pilot)
        assert "Debian GNU/Linux 12" in static_text(app.screen, "#os-facts")
        appliance = app.state._appliance
        assert appliance is not None and appliance.launched  # kept for later screens
        assert app.check_action("reload", ()) is True
    assert not appliance.launched and app.state._appliance is None  # closed on exit


async def test_guest_failure_is_a_modal_and_the_limits_stay(built):
    def failing(facts, progress, notify):
        raise GuestError("the libguestfs appliance could not start (no kernel)")

    path = str(built("fat16-first"))
    app = make_app(path, preflight(path), failing)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "no kernel" in app.screen.message
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        assert "could not start" in static_text(screen, "#os-facts")
        statuses = {r[1]: r[0] for r in table_rows(screen, "#limits")}
        assert statuses["limit.first-partition-fs"] == "✘ FAIL"


async def test_unopenable_image_shows_a_modal_then_exits_2(tmp_path):
    bad = tmp_path / "random.img"
    bad.write_bytes(b"\x01" * 4096)
    app = make_app(str(bad))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "neither a partition table nor a file system" in app.screen.message
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_code == 2


async def test_image_strings_are_not_markup(built):
    path = str(built("just-over-5g"))
    facts = preflight(path)
    facts.partitions[0].fs = dataclasses.replace(facts.partitions[0].fs, label="[red]x[/red]\x1b[2J")

    def nothing(facts, progress, notify):
        raise GuestError("not needed")

    app = make_app(path, facts, nothing)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        label = table_rows(app.screen, "#partitions")[0][5]
        assert label == "[red]x[/red]\ufffd[2J"


async def test_palette_offers_the_screen_actions(built):
    path = str(built("just-over-5g"))
    app = make_app(path, preflight(path), lambda *a: (_ for _ in ()).throw(GuestError("skip")))
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("enter")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Reload the image", "Show the import limits", "Show the partitions", "Quit"} <= set(titles)
        await pilot.press("p")
        assert app.focused.id == "partitions"
        await pilot.press("l")
        assert app.focused.id == "limits"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 and not app.is_running
