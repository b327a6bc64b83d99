"""How far a boot got, read from its serial console: the stage a failed or stopped rehearsal names."""

from __future__ import annotations

import re

# (stage, a console line that shows the boot got there), in boot order
MARKS = [
    ("bootloader", re.compile(r"SYSLINUX|EXTLINUX|GRUB|Booting from|Loading .*(vmlinuz|linux)", re.I)),
    ("kernel", re.compile(r"Linux version \d|Command line:")),
    ("init", re.compile(r"Run /\S*init|systemd\[1\]|Welcome to |INIT: version|Freeing unused kernel")),
    ("parser", re.compile(r"os-conf: ")),
]


def reached(lines: list[str], finished: bool, hostname: str | None) -> str:
    """The last stage the console shows: firmware (nothing printed yet), bootloader, kernel, init, parser,
    parser finished, login."""
    if hostname:
        return "login"
    if finished:
        return "parser finished"
    stage = "firmware"
    for name, mark in MARKS:
        if any(mark.search(line) for line in lines):
            stage = name
    return stage
