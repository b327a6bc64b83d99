"""Pilot helpers: wait for workers (never sleep), read widget text."""

from textual.widgets import DataTable, Static
from textual.worker import WorkerFailed


async def settle(pilot) -> None:
    """Wait until every worker is done and the messages they posted are handled.

    A worker that failed is not an error here: the app reports it (a modal), the test asserts that.
    """
    for _ in range(20):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerFailed:
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
