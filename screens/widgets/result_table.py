"""A DataTable that is refilled from rows and keeps the highlighted row (by position) across refills."""

from __future__ import annotations

from typing import Iterable, Sequence

from textual.widgets import DataTable


class ResultTable(DataTable):
    def refill(self, rows: Iterable[tuple[str, Sequence]]) -> str | None:
        """Replace every row with (key, cells) rows; returns the key of the row highlighted afterwards."""
        keep = self.cursor_row
        self.clear()
        count = 0
        for key, cells in rows:
            self.add_row(*cells, key=key)
            count += 1
        if not count:
            return None
        self.move_cursor(row=min(keep, count - 1))
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
