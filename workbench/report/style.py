"""Status and severity words, labels and styles shared by the terminal text, the documents and the TUI."""

from __future__ import annotations

# terminal text (rich styles)
STATUS_LABEL = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skip": "SKIP", "error": "ERROR"}
STATUS_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim", "error": "bold magenta"}
# the TUI's status cells: a symbol as well as a colour, so that the state reads without colour
STATUS_CELL = {"pass": "✔ pass", "fail": "✘ FAIL", "warn": "! warn", "skip": "– skip", "error": "✘ ERROR"}
# documents
STATUS_WORD = {"pass": "pass", "fail": "FAIL", "warn": "warn", "skip": "skip", "error": "ERROR"}
SEVERITY_STYLE = {"blocker": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
ACTION_STYLE = {"create": "green", "modify": "yellow", "delete": "red"}
