"""Sizes in the binary units qemu-img and the cloud console print (text escaping is in text.py)."""

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
