"""The command palette (ctrl+p): every action of the review, and those of the screen shown."""

from __future__ import annotations

from typing import Iterable

from textual.app import SystemCommand
from textual.screen import Screen

from screens.osconf import OsConfScreen
from screens.overview import OverviewScreen
from screens.security import SecurityScreen
from screens.simulation import SimulationScreen


def review_commands(app, screen: Screen) -> Iterable[SystemCommand]:
    """The review's own commands, after Textual's."""
    yield SystemCommand("Reload the image", "Read the image again and rerun every check", app.action_reload)
    yield SystemCommand("Overview", "Image facts, partitions and import limits", lambda: app.action_show("overview"))
    yield SystemCommand("Security review", "Passwords, SSH, services, vulnerabilities and fixes",
                        lambda: app.action_show("security"))
    yield SystemCommand("Edit os.conf", "The form, its validation and a preview", lambda: app.action_show("osconf"))
    yield SystemCommand("Simulation", "What the parser would change, file by file",
                        lambda: app.action_show("simulation"))
    if isinstance(screen, OsConfScreen):
        yield SystemCommand("Fill in the documented example", "The VPC example of the cloud documentation",
                            screen.action_example)
        yield SystemCommand("Load os.conf", "Read an os.conf file into the form", screen.action_load)
        yield SystemCommand("Save os.conf", "Write the os.conf to a file", screen.action_save)
    if isinstance(screen, SimulationScreen):
        yield SystemCommand("Load a parser script", "Simulate your own parser", screen.action_load_script)
    yield SystemCommand("Rehearse the first boot", "Boot a throwaway copy for real and compare with the "
                        "simulation", app.action_rehearse)
    yield SystemCommand("Inject", "The plan, and writing it into an image", lambda: app.action_show("inject"))
    yield SystemCommand("Report", "The verdict, and exporting the review", lambda: app.action_show("report"))
    yield SystemCommand("Export the report", "Write the review as .md, .html or .json", app.action_export_report)
    yield SystemCommand("Copy the import command", "The aliyun ecs ImportImage command, to the clipboard",
                        app.action_copy_import)
    yield SystemCommand("Convert the image for upload", "qemu-img convert, verified, with its checksums",
                        app.action_export_image)
    yield SystemCommand("Help", "Each step of the review in two lines", app.action_help)
    if app.state.guest_ready:
        yield SystemCommand("Write the image", "Write the parser and the chosen fixes (asks first)",
                            app.action_write_image)
    if app._busy("rehearse"):
        yield SystemCommand("Stop the rehearsal", "Kill the boot and remove the throwaway copy",
                            app.action_stop_rehearsal)
    if app._busy("checks"):
        yield SystemCommand("Cancel the password scan", "Stop trying default passwords", app.action_cancel_scan)
    if isinstance(screen, SecurityScreen):
        yield SystemCommand("Choose fixes", "Move to the fixes for the inject plan", screen.action_focus_fixes)
    if isinstance(screen, OverviewScreen):
        yield SystemCommand("Show the import limits", "Move to the limit checks", screen.action_focus_limits)
        yield SystemCommand("Show the partitions", "Move to the partition table", screen.action_focus_partitions)
