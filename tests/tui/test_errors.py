"""Worker errors: each shows its own title; a step the app has no handler for is never taken for the guest's
failure (the review is not run again and the guest stays read)."""

from screens.error import ErrorModal
from tests.tui.helpers import sample_app, settle, until
from workbench.errors import WorkbenchError
from workbench.export import ExportError


async def test_an_unknown_step_shows_its_own_error_and_reruns_nothing(built, recorded):
    app = sample_app(built, recorded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.state.guest_ready and not app._busy("checks"), "the checks")
        results = app.state.review.results

        def fail():
            raise WorkbenchError("the widget could not be frobbed", title="Frobbing failed")

        app.run_worker(fail, thread=True, group="frobnicate", exit_on_error=False)
        await until(pilot, lambda: isinstance(app.screen, ErrorModal), "the error")
        assert app.screen.title_text == "Frobbing failed" and "frobbed" in app.screen.message
        assert app.state.guest_ready and app.state.guest_error is None
        assert app.state.review.results is results  # not checked again
        await pilot.press("escape")

        def crash():
            raise KeyError("boom")

        app.run_worker(crash, thread=True, group="frobnicate", exit_on_error=False)
        await until(pilot, lambda: isinstance(app.screen, ErrorModal), "the second error")
        assert app.screen.title_text == "The frobnicate step failed unexpectedly"
        assert "KeyError" in app.screen.message and app.state.guest_error is None


async def test_a_known_step_error_carries_its_kind_title(built, recorded):
    app = sample_app(built, recorded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)

        def fail():
            raise ExportError("the disk is full")

        app.run_worker(fail, thread=True, group="export", exit_on_error=False)
        await until(pilot, lambda: isinstance(app.screen, ErrorModal), "the error")
        assert app.screen.title_text == "The image could not be exported"
        assert app.state.export_error == "the disk is full" and app.ui.export_phase is None
