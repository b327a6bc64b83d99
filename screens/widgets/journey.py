"""The journey bar on every screen: each step with its state, and the next useful action."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from workbench.journey import SYMBOL, next_action

STYLE = {"done": "green", "attention": "yellow", "blocked": "bold red", "todo": "dim"}


class JourneyBar(Widget):
    DEFAULT_CSS = """
    JourneyBar { height: 2; padding: 0 1; background: $boost; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def render(self) -> Text:
        state = getattr(self.app, "state", None)
        steps = state.steps() if state is not None else []
        t = Text(no_wrap=True, overflow="ellipsis")
        for n, s in enumerate(steps, 1):
            here = s.key == self.current
            t.append(SYMBOL[s.state], style=STYLE[s.state])
            t.append(f" {n} {s.label} ", style="reverse bold" if here else "")
            t.append(" ")
        line = next_action(steps) if steps else ""
        t.append("\n")
        t.append(line, style="italic")
        return t
