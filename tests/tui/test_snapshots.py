"""One snapshot per screen (SVG under tests/tui/__snapshots__); update with --snapshot-update."""

import pytest
from textual.widgets import Input

from tests.tui.helpers import sample_app, settle, until


def keys(*presses, output: tuple | None = None, simulated: bool = False, checked: bool = False):
    """A run_before: settle, optionally wait for the simulation, press keys, pin the paths that are machine-specific
    (output: one (selector, value) pair, or a tuple of them)."""

    async def before(pilot):
        await settle(pilot)
        if simulated:
            await until(pilot, lambda: pilot.app.state.changeset is not None, "the simulation")
        if checked:  # the password scan runs in the background: wait for it, so the screen is always the same
            await until(pilot, lambda: not pilot.app._busy("checks"), "the checks")
        for key in presses:
            await pilot.press(key)
            await settle(pilot)
        for selector, value in ((output,) if output and isinstance(output[0], str) else output or ()):
            pilot.app.screen.query_one(selector).value = value
            await settle(pilot)
        # a focused input's cursor blinks every 0.5 s: held steady, so a slow machine takes the same picture
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await settle(pilot)

    return before


SCREENS = [
    ("overview", (100, 34), keys()),
    ("overview-80x24", (80, 24), keys()),
    ("security", (110, 44), keys("s", "down", "down", "down", "down")),  # ssh.host-keys
    ("osconf", (110, 36), keys("3")),
    ("simulation", (110, 40), keys("4", "down", simulated=True)),  # /etc/hostname
    ("inject", (120, 36), keys("5", output=("#inj-output", "sample-ecs.qcow2"))),
    ("report", (100, 24), keys("6", output=(("#rep-output", "sample-review.html"),
                                                       ("#rep-export", "sample-ecs.qcow2")), simulated=True)),
    ("help-80x24", (80, 24), keys("question_mark")),
]


@pytest.mark.parametrize("size,before", [pytest.param(size, before, id=name) for name, size, before in SCREENS])
def test_snapshot(snap_compare, built, recorded, size, before):
    assert snap_compare(sample_app(built, recorded), terminal_size=size, run_before=before)


def test_snapshot_no_color_checkboxes(snap_compare, built, recorded, monkeypatch):
    """The security screen's fixes with NO_COLOR: one chosen (✔), the others not (·)."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(sample_app(built, recorded), terminal_size=(110, 44),
                        run_before=keys("2", "f", "space", "down", checked=True))
