"""Text from an image, made safe for where it is shown. Everything read from an image is untrusted:
file names, labels, OS names, user names, key comments, console lines.

printable() is the one function every value from an image goes through before it reaches a
terminal, a TUI widget or a document: control characters (ESC, C1, bidi overrides, NUL...) are
replaced, so nothing can move the cursor, set the clipboard (OSC 52), clear the screen or
fake a line; length is bounded. Markup is a separate concern: Rich and Textual get
rich.text.Text built from it (never markup strings); HTML gets html_text(); Markdown md_text().
"""

from __future__ import annotations

import html

REPLACEMENT = "\N{REPLACEMENT CHARACTER}"


def printable(value: object, limit: int = 300) -> str:
    """value as one line of text that cannot control a terminal; at most limit characters."""
    s = str(value)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return "".join(ch if ch.isprintable() or ch in " \t" else REPLACEMENT for ch in s)


def printable_block(value: object, limit: int = 1 << 20, line_limit: int = 2000) -> str:
    """Several lines, each made printable (its line breaks kept): for files, logs and diffs."""
    s = str(value)[:limit]
    return "\n".join(printable(line, line_limit) for line in s.split("\n"))


def html_text(value: object, limit: int = 2000) -> str:
    """One value from an image, escaped for HTML text or a quoted attribute."""
    return html.escape(printable(value if value is not None else "", limit))


def html_block(value: object, limit: int = 1 << 20) -> str:
    """Several lines for a <pre>: each line made printable and escaped, the line breaks kept."""
    return html.escape(printable_block(value if value is not None else "", limit))


# what can make markup in the middle of a line (the values never start one): emphasis, code, links, tables
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|~"})


def md_text(value: object, limit: int = 300) -> str:
    """One value from an image as Markdown text within a line: HTML escaped (no tag or entity survives) and the
    punctuation that makes inline markup escaped."""
    s = printable(value if value is not None else "", limit)
    return html.escape(s, quote=False).translate(_MD_SPECIAL)


def md_code(value: object, limit: int = 300, table: bool = False) -> str:
    """One value from an image as a Markdown code span: backticks cannot close it, and in a code span
    nothing is interpreted. In a table cell a | would end the cell even there: it is escaped."""
    s = printable(value if value is not None else "", limit).replace("`", "ʼ")
    if table:
        s = s.replace("|", "\\|")
    return f"`{s}`" if s.strip() else "` `"
