"""The os.conf editor and the simulation screen, with a report read by the real appliance."""

from textual.widgets import Input, Select

from screens.osconf import OsConfScreen
from screens.simulation import SimulationScreen
from tests.tui.helpers import report_opener, settle, static_text, table_rows, until
from screens.app import make_app
from workbench.image.preflight import preflight


async def wait_for_simulation(pilot, app, test):
    await until(pilot, lambda: app.state.changeset is not None and test(app.state.changeset), "the expected simulation")
    return app.state.changeset


async def test_form_validates_inline_and_previews(built, recorded):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    async with app.run_test(size=(120, 45)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, OsConfScreen)
        assert "✔ valid · VPC network" in static_text(screen, "#osconf-status")
        preview = static_text(screen, "#osconf-preview")
        assert "password=********" in preview and "cXdlcjEyMzQK" not in preview
        host = screen.query_one("#in-hostname", Input)
        host.focus()
        host.value = ""
        await pilot.press(*"bad_host!")  # typed keys go to the input, not to the screen bindings
        await pilot.pause()
        assert host.value == "bad_host!"
        assert "✘" in str(screen.query_one("#msg-hostname").render())
        assert "problem" in static_text(screen, "#osconf-status")
        assert app.state.osconf_values["hostname"] == "bad_host!"
        # classic: the eth1 fields appear and are required
        assert not screen.query_one("#field-eth1_ip_addr").display
        screen.query_one("#classic").value = True
        await pilot.pause()
        assert screen.query_one("#field-eth1_ip_addr").display
        screen.query_one("#in-eth1_mac_addr", Input).value = "00:8c:fa:5e:14:24"
        await pilot.pause()
        assert "eth1_ip_addr, eth1_netmask missing" in str(screen.query_one("#msg-eth1_ip_addr").render())


async def test_save_and_load(built, recorded, tmp_path):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    target = tmp_path / "saved.conf"
    async with app.run_test(size=(120, 45)) as pilot:
        await settle(pilot)
        await pilot.press("3", "ctrl+s")
        await pilot.pause()
        field = app.screen.query_one(Input)
        field.value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        saved = target.read_text()
        assert saved.startswith("hostname=iZ23r29djmjZ\npassword=cXdlcjEyMzQ=\n")  # the real value, base64
        target.write_text(saved.replace("iZ23r29djmjZ", "loaded-host") + "junk line\n")
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#in-hostname", Input).value == "loaded-host"
        assert app.state.osconf_values["hostname"] == "loaded-host"


async def test_simulation_follows_the_form(built, recorded):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    async with app.run_test(size=(120, 45)) as pilot:
        await settle(pilot)
        cs = await wait_for_simulation(pilot, app, lambda cs: cs.exit_code == 0)
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, SimulationScreen)
        rows = table_rows(screen, "#sim-changes")
        assert ["modify", "/etc/hostname"] in rows and ["delete", "/boot/aliyun_custom_image/os.conf"] in rows
        assert "sysconfig" in static_text(screen, "#sim-status") and "exit code 0" in static_text(screen, "#sim-status")
        assert "hostname iZ23r29djmjZ" in static_text(screen, "#sim-commands")
        assert "-password=********" in static_text(screen, "#sim-diff")
        # the form changes: the simulation follows
        await pilot.press("3")
        app.screen.query_one("#in-hostname", Input).value = "edited-host"
        cs = await wait_for_simulation(pilot, app, lambda cs: (c := cs.change("/etc/hostname")) is not None
                                       and c.after == "edited-host\n")
        await pilot.press("escape", "4")  # leave the fields first: in a field, 4 is just a character
        assert isinstance(app.screen, SimulationScreen)
        # another flavour
        app.screen.query_one("#sim-flavor", Select).value = "netplan"
        cs = await wait_for_simulation(pilot, app, lambda cs: cs.change("/etc/netplan/90-os-conf.yaml") is not None)
        assert cs.flavor == "netplan"
        assert "netplan" in static_text(app.screen, "#sim-status")


async def test_custom_script_and_a_failing_parser(built, recorded, tmp_path):
    path = str(built("sample"))
    app = make_app(path, preflight(path), report_opener(recorded("sample")))
    script = tmp_path / "mine.sh"
    script.write_text("#!/bin/sh\necho custom parser ran\nexit 4\n")
    async with app.run_test(size=(120, 45)) as pilot:
        await settle(pilot)
        await pilot.press("4", "ctrl+l")
        await pilot.pause()
        app.screen.query_one(Input).value = str(script)
        await pilot.press("enter")
        cs = await wait_for_simulation(pilot, app, lambda cs: cs.flavor == "custom script")
        assert cs.exit_code == 4
        status = static_text(app.screen, "#sim-status")
        assert "custom script" in status and "exit code 4" in status
        assert "custom parser ran" in static_text(app.screen, "#sim-log")
