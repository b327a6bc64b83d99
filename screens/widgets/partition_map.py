"""A proportional picture of the disk: one coloured block per partition, gaps dim."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from workbench.checks.limits import accepted_first
from workbench.image.preflight import ImageFacts
from workbench.units import human_size
from workbench.text import printable

# The first partition is coloured by the verdict on it; the others alternate neutral shades.
FIRST_OK = "#2e7d32"
FIRST_REJECTED = "#c62828"
OTHERS = ("#1e5f8c", "#37474f")
GAP = "#212121"
MIN_BLOCK = 3


def allocate(sizes: list[int], width: int, minimum: int = MIN_BLOCK) -> list[int]:
    """Column widths proportional to sizes, each at least minimum, summing to width (largest remainder)."""
    if not sizes or width <= 0:
        return [0] * len(sizes)
    total = sum(sizes) or 1
    floor_min = min(minimum, width // len(sizes))
    spare = width - floor_min * len(sizes)
    if spare < 0:
        return [width // len(sizes)] * len(sizes)
    raw = [s / total * spare for s in sizes]
    widths = [floor_min + int(r) for r in raw]
    order = sorted(range(len(sizes)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in order[: width - sum(widths)]:
        widths[i] += 1
    return widths


class PartitionMap(Widget):
    """Two lines: number and file system, then mountpoint or size, in each partition's block.

    The first partition (▶) is green when the platform can write to its file system, red when not.
    """

    DEFAULT_CSS = """
    PartitionMap { height: 2; }
    """

    facts: reactive[ImageFacts | None] = reactive(None, layout=False)
    """The image whose partitions are drawn; None until preflight is done."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mountpoints: dict[int, str | None] = {}

    def segments(self) -> list[tuple[str, int, object]]:
        """(kind, size, partition or None) in disk order, gaps included."""
        f = self.facts
        if f is None:
            return []
        if f.partition_table == "none":
            return [("whole", f.virtual_size, None)]
        out, at = [], 0
        for p in sorted(f.partitions, key=lambda p: p.start):
            if p.start - at > f.virtual_size // 200:
                out.append(("gap", p.start - at, None))
            out.append(("part", p.size, p))
            at = max(at, p.start + p.size)
        if f.virtual_size - at > f.virtual_size // 200:
            out.append(("gap", f.virtual_size - at, None))
        return out

    def render(self) -> RenderableType:
        f = self.facts
        if f is None:
            return Text("reading the partition table…", style="dim")
        segs = self.segments()
        widths = allocate([s for _, s, _ in segs], self.size.width)
        top, bottom = Text(no_wrap=True, overflow="crop"), Text(no_wrap=True, overflow="crop")
        first = f.first_partition
        others = 0
        for (kind, size, p), w in zip(segs, widths):
            if w <= 0:
                continue
            if kind == "gap":
                top.append(" " * w, style=f"on {GAP}")
                bottom.append(_fit("free", w), style=f"#9e9e9e on {GAP}")
                continue
            if kind == "whole":
                fs = f.whole_disk.kind if f.whole_disk else "none"
                top.append(_fit(f"whole disk: {fs}", w), style=f"bold white on {FIRST_REJECTED}")
                bottom.append(_fit("no partition table", w), style=f"white on {FIRST_REJECTED}")
                continue
            if p is first:
                ok = accepted_first(p)
                colour = FIRST_OK if ok else FIRST_REJECTED
            else:
                colour = OTHERS[others % 2]
                others += 1
            fs = "BIOS boot" if p.is_bios_boot else (p.filesystem or "none")
            mark = "▶" if p is first else ""
            top.append(_fit(f"{mark}{p.number} {fs}", w), style=f"bold white on {colour}")
            bottom.append(_fit(printable(self.mountpoints.get(p.number) or human_size(size)), w),
                          style=f"white on {colour}")
        return Text.assemble(top, "\n", bottom)


def _fit(label: str, width: int) -> str:
    """label centred in width cells, cut to fit, with a one-cell edge so blocks stay apart."""
    if width <= 1:
        return " " * width
    inner = width - 1
    return label[:inner].center(inner) + "▏"
