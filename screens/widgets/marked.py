"""A checkbox and a selection list whose state shows in characters too (✔ chosen, · not), not only in colour:
on a monochrome terminal or with NO_COLOR, chosen and not chosen still look different."""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist

ON, OFF = "✔", "·"


class MarkedCheckbox(Checkbox):
    @property
    def _button(self):
        self.BUTTON_INNER = ON if self.value else OFF
        return super()._button


class MarkedSelectionList(SelectionList):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        if len(segments) < 4 or segments[1].text != ToggleButton.BUTTON_INNER:
            return strip
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        segments[1] = Segment(ON if selection.value in self._selected else OFF, segments[1].style)
        return Strip(segments, strip.cell_length)
