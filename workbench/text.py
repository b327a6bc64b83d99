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


# Every ASCII punctuation character that can start or end a Markdown construct (CommonMark and GFM: headings,
# lists, quotes, breaks, fences, tables, emphasis, code, links, autolinks, HTML, entities, strikethrough), wherever
# it stands: a value may begin a line's content (a list item), and text can begin a construct in any position.
# "<", ">" and "&" become entities (no tag or entity survives, even for a renderer that passes HTML through);
# "/", ",", ";", "?", "'", '"' and "%" begin nothing and stay as they are.
_MD_ESCAPE = str.maketrans({c: "\\" + c for c in "\\`*_[]{}()#+-.!|~:@=$^"})


def md_text(value: object, limit: int = 300) -> str:
    """One value from an image as Markdown text within a line: HTML escaped, the punctuation that makes any
    construct backslash-escaped (so it reads as itself), and leading spaces as entities (four start a code block)."""
    s = printable(value if value is not None else "", limit).replace("\t", " ")
    body = s.lstrip(" ")
    return "&#32;" * (len(s) - len(body)) + html.escape(body, quote=False).translate(_MD_ESCAPE)


def md_code(value: object, limit: int = 300, table: bool = False) -> str:
    """One value from an image as a Markdown code span: backticks cannot close it, and in a code span
    nothing is interpreted. In a table cell a | would end the cell even there: it is escaped."""
    s = printable(value if value is not None else "", limit).replace("`", "ʼ")
    if table:
        s = s.replace("|", "\\|")
    return f"`{s}`" if s.strip() else "` `"
