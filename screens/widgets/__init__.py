"""Widgets the screens share: the journey bar, the partition map, diffs, result tables, the check detail pane."""
