"""Renderings of a review: terminal text (text.py), documents (document.py: Markdown, HTML, JSON), and the
pieces they share (style.py, diff.py, verdict.py)."""
