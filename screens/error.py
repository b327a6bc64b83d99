"""A modal that states one problem in one sentence and waits for acknowledgement."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from workbench.text import printable


class ErrorModal(ModalScreen[bool]):
    CSS_PATH = "error.tcss"
    BINDINGS = [Binding("escape,enter", "dismiss_ok", "Close", tooltip="Close this message")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(printable(self.title_text, 80), style="bold"), id="error-title")
            yield Static(Text(printable(self.message, 1000)), id="error-message")
            yield Button("OK", variant="error", id="ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(True)

    def action_dismiss_ok(self) -> None:
        self.dismiss(True)
