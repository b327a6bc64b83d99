"""Small formatting helpers shared by the CLI, the reports and the TUI."""

GiB = 1 << 30
MiB = 1 << 20
KiB = 1 << 10


def human_size(n: int | None) -> str:
    """Binary units, as qemu-img and the cloud console print them."""
    if n is None:
        return "unknown"
    for unit, size in (("TiB", 1 << 40), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if abs(n) >= size:
            value = n / size
            text = f"{value:.2f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{n} B"


def printable(value: object, limit: int = 300) -> str:
    """Text from an image made safe to show: control characters replaced, length bounded.

    Rich markup is a separate concern: callers build rich.text.Text from it
    (never markup strings), or escape it with rich.markup.escape.
    """
    s = str(value)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return "".join(ch if ch.isprintable() or ch in " \t" else "\N{REPLACEMENT CHARACTER}" for ch in s)
