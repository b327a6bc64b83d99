"""newc cpio archives, as initramfs tools write them, for the sample's and the tests' initramfs images."""

from __future__ import annotations


def newc(entries: list[tuple[str, bytes, int]]) -> bytes:
    """(name, data, mode) entries, then the trailer; directories have mode 0o040755 and no data."""
    out = bytearray()
    for ino, (name, data, mode) in enumerate(entries + [("TRAILER!!!", b"", 0)], 1):
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 1700000000, len(data), 0, 0, 0, 0, len(raw), 0]
        out += b"070701" + "".join(f"{f:08x}" for f in fields).encode() + raw
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def tree_of(files: dict[str, bytes]) -> list[tuple[str, bytes, int]]:
    """Entries for files (their parent directories first), sorted as find would list them."""
    dirs: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return [(d, b"", 0o040755) for d in sorted(dirs)] + [(n, files[n], 0o100644) for n in sorted(files)]
