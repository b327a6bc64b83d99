"""? : each step of the review in two lines, and the keys."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.journey import HELP, STEPS


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", tooltip="Back to the review")]

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("The review, step by step\n\n", style="bold")
        for n, (key, label) in enumerate(STEPS, 1):
            first, second = HELP[key]
            t.append(f"{n} {label}\n", style="bold cyan")
            t.append(f"  {first}\n  {second}\n\n")
        t.append("Keys: 1-6 go to a step · ctrl+p lists every action · ? this help · q quits.\n"
                 "The image is only ever written by Inject, and then to a new file unless you ask otherwise.",
                 style="dim")
        with VerticalScroll(classes="dialog", id="help"):
            yield Static(t)

    def action_close(self) -> None:
        self.dismiss(None)
