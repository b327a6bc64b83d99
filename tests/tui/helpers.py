"""Pilot helpers: wait for workers (never sleep), read widget text."""

from textual.widgets import DataTable, Static
from textual.worker import WorkerCancelled, WorkerFailed


async def settle(pilot) -> None:
    """Wait until every worker is done and the messages they posted are handled.

    A worker that failed is not an error here: the app reports it (a modal), the test asserts that; nor is one
    cancelled because a newer one of its exclusive group replaced it (the form changed while it ran).
    """
    for _ in range(20):
        try:
            await pilot.app.workers.wait_for_complete()
        except (WorkerFailed, WorkerCancelled):
            pass
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers):
            return


def static_text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def table_rows(screen, selector: str) -> list[list[str]]:
    table = screen.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def report_opener(facts_report):
    """An opener that hands over a report already read by a real appliance (session-shared)."""
    _, report = facts_report

    def opener(facts, progress, notify):
        return report, None

    return opener


def sample_app(built, recorded, name: str = "sample"):
    """The app on a catalogue image, with the report a real appliance read (recorded: see conftest)."""
    from screens.app import make_app
    from workbench.image.preflight import preflight

    path = str(built(name))
    return make_app(path, preflight(path), report_opener(recorded(name)))


async def until(pilot, test, what: str, rounds: int = 600) -> None:
    """Pause (in 0.2 s steps, at most rounds of them) until test() holds."""
    for _ in range(rounds):
        await pilot.pause(0.2)
        await settle(pilot)
        if test():
            return
    raise AssertionError(f"timed out waiting for {what}")
