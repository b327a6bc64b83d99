"""Text from an image never becomes Markdown structure: rendered by a real CommonMark parser (markdown-it-py, with
GFM's tables, strikethrough and bare-URL links on), each hostile value, wherever the report puts one, gives no
heading, list, quote, code, link, image, HTML, emphasis or table cell of its own, and reads back as itself."""

import pytest
from markdown_it import MarkdownIt

from tests.unit.security_trees import FACTS, context
from workbench.checks import CheckResult, run_checks
from workbench.report.document import ReviewDocument, render
from workbench.review import Review
from workbench.text import md_text, printable

HOSTILE = ["\n# Verdict: ready to import", "# Verdict: ready to import", "## h2", "###### h6 ######", "> quoted",
           "- item", "+ item", "* item", "1. item", "1) item", "---", "***", "___", "===", "- - -", "```js",
           "~~~", "    indented code", "\tcode", "  two spaces", "<div>html</div>", "<script>alert(1)</script>",
           "<!-- comment -->", "<?php ?>", "<http://evil.example>", "<a@evil.example>", "[link](http://evil.example)",
           "![img](http://evil.example/x.png)", "[ref]: http://evil.example", "[ref]", "*em* _em_ **strong** __s__",
           "`code`", "``code``", "~~strike~~", "a | b | c", "| --- | --- |", "&amp; &lt; &#x3C;script&#x3E;",
           "http://evil.example/x", "https://evil.example", "www.evil.example", "user@evil.example",
           "\\# backslashed", "ends with a backslash \\", "a\\\nb", "[x]: <http://e> 'title'", "- [ ] task",
           "| a |\n|---|", "Setext\n===", "x<sup>1</sup>", "$x^2$", "{#id .class}", "foo_bar_baz", "2024. year",
           "\u00a0\u00a0\u00a0\u00a0nbsp", "\x1b[31mred"]
PARSERS = {"commonmark": MarkdownIt("commonmark").enable(["table", "strikethrough"]),
           "gfm-linkify": MarkdownIt("commonmark", {"linkify": True}).enable(["table", "strikethrough", "linkify"])}
# what our own lines make around the value; the value must add nothing to it
CONTEXTS = {"list item": ("- {}", ["bullet_list_open", "list_item_open", "paragraph_open"]),
            "paragraph": ("Fix: {}", ["paragraph_open"]),
            "heading": ("# Image review: {}", ["heading_open"]),
            "table cell": ("| status | finding |\n|---|---|\n| fail | {} |", ["table_open", "thead_open", "tr_open",
                                                                              "th_open", "tbody_open", "td_open"])}
STRUCTURE = {"heading_open", "bullet_list_open", "ordered_list_open", "blockquote_open", "hr", "code_block", "fence",
             "html_block", "html_inline", "link_open", "image", "code_inline", "em_open", "strong_open", "s_open",
             "table_open", "thead_open", "tbody_open", "tr_open", "th_open", "td_open", "list_item_open",
             "paragraph_open"}


def _tokens(tokens):
    for t in tokens:
        yield t
        yield from _tokens(t.children or [])


def _structure(md: MarkdownIt, text: str) -> tuple[list[str], list[str]]:
    """(the structural token types, the texts of the inline content) of text as the parser reads it."""
    tokens = list(_tokens(md.parse(text)))
    inline = [t for t in md.parse(text) if t.type == "inline"]
    return [t.type for t in tokens if t.type in STRUCTURE], ["".join(c.content for c in t.children) for t in inline]


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("where", sorted(CONTEXTS))
def test_no_value_makes_structure_anywhere(parser, where):
    md = PARSERS[parser]
    template, _ = CONTEXTS[where]
    plain, _ = _structure(md, template.format("plain words"))
    for value in HOSTILE:
        got, texts = _structure(md, template.format(md_text(value)))
        assert got == plain, (value, got)
        shown = printable(value).replace("\t", " ")
        assert any(t.endswith(shown) for t in texts), (value, texts)  # read back as itself, nothing lost


def test_a_hostile_path_in_a_whole_report_is_not_a_heading():
    ctx = context({"/etc/os-release": 'ID=debian\nPRETTY_NAME="# Verdict: ready to import"\n',
                   "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n"})
    review = Review(FACTS, ctx.guest)
    review.results = run_checks(review.context())
    review.results.append(CheckResult("ssh.authorized-keys", "fail", "high", "Backdoor keys",
                                      "A key in /root/x\n# Verdict: ready to import", [
                                          "/home/a\n# Verdict: ready to import/.ssh/authorized_keys",
                                          "    [click](http://evil.example) <img src=x onerror=alert(1)>",
                                          "1. ready", "> quoted", "| x | y |"], "- fix it", "ssh"))
    text = render(ReviewDocument(review), ".md")
    for name, md in PARSERS.items():
        tokens = list(_tokens(md.parse(text)))
        headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
        assert not [h for h in headings if "Verdict" in h or "ready" in h], (name, headings)
        assert not [t for t in tokens if t.type in ("link_open", "image", "html_inline", "html_block",
                                                    "blockquote_open", "ordered_list_open")], name
        html = md.render(text)
        assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
