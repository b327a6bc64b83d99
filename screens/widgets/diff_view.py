"""A change shown as a coloured unified diff (passwords masked; image text made printable)."""

from __future__ import annotations

from rich.text import Text

from workbench.report.diff import unified_diff
from workbench.text import printable, printable_block


def diff_text(change) -> Text:
    """Never wrapped: the box it is shown in scrolls sideways (a wrapped diff reads as other lines)."""
    t = Text(no_wrap=True, overflow="ignore")
    for line in unified_diff(change):
        line = printable(line.rstrip("\n"), 2000)
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else \
            "cyan" if line.startswith("@@") else "dim"
        t.append(line + "\n", style=style)
    if not t:
        t.append("(no text to compare: " + change.kind + ")", style="dim")
    return t


def command_text(text: str) -> Text:
    """What runs in the appliance: said as it is, not as a diff."""
    return Text(printable_block(text, 8192), style="magenta", no_wrap=True, overflow="ignore")
