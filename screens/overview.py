"""The first screen: image facts, a partition map and table, the import limits, the OS."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Static

from screens.widgets.check_detail import CheckDetail, status_text
from screens.widgets.journey import JourneyBar
from screens.widgets.partition_map import PartitionMap
from screens.widgets.result_table import ResultTable
from workbench.checks import READINESS_AREAS, CheckResult
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestReport, Progress
from workbench.units import human_size
from workbench.text import printable


class OverviewScreen(Screen):
    """Facts first (preflight, under a second), the OS when the appliance is up."""

    CSS_PATH = "overview.tcss"
    BINDINGS = [
        Binding("r", "app.reload", "Reload", tooltip="Read the image again and rerun the checks"),
        Binding("p", "focus_partitions", "Partitions", tooltip="Move to the partition table"),
        Binding("l", "focus_limits", "Limits", tooltip="Move to the import limit checks"),
        Binding("b", "focus_readiness", "Boot", tooltip="Move to the boot and network checks (ECS's virtual hardware)"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield JourneyBar("overview")
        with VerticalScroll(id="body"):
            with Horizontal(id="facts-row"):
                yield Static(id="image-facts", classes="facts")
                yield Static(id="os-facts", classes="facts")
            yield PartitionMap(id="partition-map")
            yield DataTable(id="partitions", cursor_type="row", zebra_stripes=True)
            yield ResultTable(id="limits", cursor_type="row")
            yield ResultTable(id="readiness", cursor_type="row")
            yield CheckDetail(id="check-detail")
        with Horizontal(id="progress-row"):
            yield Label("Reading the image…", id="progress-label")
            yield ProgressBar(total=1.0, show_eta=False, id="progress")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#image-facts", Static).border_title = "Image"
        self.query_one("#os-facts", Static).border_title = "Operating system"
        self.query_one("#partition-map").border_title = "Partition map"
        part = self.query_one("#partitions", DataTable)
        part.border_title = "Partitions"
        part.add_columns("#", "start", "size", "type", "file system", "label", "mounted on")
        limits = self.query_one("#limits", DataTable)
        limits.border_title = "Import limits"
        limits.add_columns("status", "check", "why")
        ready = self.query_one("#readiness", DataTable)
        ready.border_title = "Boot and network on ECS"
        ready.add_columns("status", "check", "why")
        self.query_one("#os-facts", Static).update(Text("waiting for the appliance…", style="dim"))
        limits.focus()
        self.update_view()

    def update_view(self) -> None:
        """Everything from the app's current state (facts, guest report, results)."""
        state = self.app.state
        review = state.review
        if review is None:
            return
        self.show_facts(review.facts)
        if review.guest is not None:
            self.show_guest(review.guest, review.facts)
        elif state.guest_error:
            self.show_guest_failed(state.guest_error)
        self.show_results(review.results)

    # -- updates from the app ------------------------------------------------------
    def show_facts(self, facts: ImageFacts) -> None:
        t = Text()
        t.append(printable(facts.name), style="bold")
        t.append(f"\n{facts.format} · {human_size(facts.virtual_size)} virtual")
        table = {"mbr": "MBR", "gpt": "GPT", "none": "no partition table"}[facts.partition_table]
        if facts.mbr_kind:
            table += f" ({facts.mbr_kind} MBR)"
        t.append(f"\n{table} · {len(facts.partitions)} partitions")
        if facts.backing_chain:
            t.append(f"\nbacking file: {printable(facts.backing_chain[0])}", style="yellow")
        for w in facts.warnings[:3]:
            t.append(f"\n{printable(w)}", style="yellow")
        self.query_one("#image-facts", Static).update(t)
        self.query_one("#partition-map", PartitionMap).facts = facts
        self._fill_partitions(facts, None)

    def _fill_partitions(self, facts: ImageFacts, report: GuestReport | None) -> None:
        table = self.query_one("#partitions", DataTable)
        table.clear()
        first = facts.first_partition
        for p in sorted(facts.partitions, key=lambda p: p.start):
            fs = "BIOS boot" if p.is_bios_boot else (p.filesystem or "none")
            num = Text(f"{p.number}▶" if p is first else str(p.number), style="bold" if p is first else "")
            # labels, names and mountpoints come from the image: plain Text, never markup
            table.add_row(num, human_size(p.start), human_size(p.size), Text(printable(p.type_name, 24)), fs,
                          Text(printable(p.fs.label or p.name or "", 20)),
                          Text(printable((report.mountpoint(p.device) if report else None) or "", 24)),
                          key=str(p.number))
        if facts.whole_disk:
            table.add_row("–", "0", human_size(facts.virtual_size), "whole disk", facts.whole_disk.kind or "none",
                          Text(printable(facts.whole_disk.label or "", 20)), "", key="whole")
        pmap = self.query_one("#partition-map", PartitionMap)
        pmap.mountpoints = {p.number: report.mountpoint(p.device) for p in facts.partitions} if report else {}
        pmap.refresh()

    def show_guest(self, report: GuestReport, facts: ImageFacts) -> None:
        o = report.os
        t = Text()
        if o is None:
            t.append("No Linux root file system found", style="yellow")
            for n in report.notes[:3]:
                t.append(f"\n{printable(n)}", style="dim")
        else:
            t.append(printable(o.pretty_name or o.distro or "unknown Linux"), style="bold")
            t.append(f"\nfamily {o.family or '?'} · init {o.init or '?'} · network {o.network or '?'}")
            t.append(f"\nroot {report.root_device} · first partition on "
                     f"{printable(o.first_partition_mountpoint or 'not mounted')}")
            self._boot_lines(t, report)
        self.query_one("#os-facts", Static).update(t)
        self._fill_partitions(facts, report)

    def _boot_lines(self, t: Text, report: GuestReport) -> None:
        """Boot mode, default kernel, and the drivers its initramfs has for ECS's virtual hardware."""
        from workbench.checks.boot import boot_mode

        bf = report.boot
        if bf is None:
            return
        review = self.app.state.review
        mode = boot_mode(review.context()) if review is not None else None
        t.append(f"\nboot {mode or 'unknown'} · {bf.loader or 'no bootloader'}")
        k = bf.kernel
        if k is None:
            t.append(" · no default kernel", style="yellow")
            return
        t.append(f" · kernel {printable(k.version or k.path, 60)}" + (f" ({printable(k.arch, 20)})" if k.arch else ""))
        if k.initramfs is not None:
            have = k.initramfs.modules()
            found = [m for m in ("virtio_blk", "virtio_pci", "virtio_net", "nvme") if m in have
                     or k.has(m) == "built in"]
            t.append("\ninitramfs: " + (", ".join(found) or "no virtio drivers"),
                     style="" if {"virtio_blk", "virtio_pci"} <= set(found) else "yellow")

    def show_results(self, results: list[CheckResult]) -> None:
        self._results = {r.id: r for r in results if r.area in READINESS_AREAS}
        limits = [r for r in self._results.values() if r.area == "limits"]
        ready = [r for r in self._results.values() if r.area != "limits"]
        shown = self.query_one("#limits", ResultTable).refill(
            (r.id, (status_text(r.status), r.id, Text(printable(r.detail, 200)))) for r in limits)
        self.query_one("#readiness", ResultTable).refill(
            (r.id, (status_text(r.status), r.id, Text(printable(r.detail, 200)))) for r in ready)
        self.query_one("#readiness").display = bool(ready)
        focused = self.app.focused
        if focused is not None and focused.id == "readiness" and ready:
            table = self.query_one("#readiness", ResultTable)
            self._show_detail(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        elif shown is not None:
            self._show_detail(shown)

    def show_progress(self, p: Progress) -> None:
        self.query_one("#progress-label", Label).update(Text(printable(p.phase + (f" ({p.detail})" if p.detail else ""))))
        bar = self.query_one("#progress", ProgressBar)
        if p.fraction is not None:
            bar.update(total=1.0, progress=p.fraction)
        self.query_one("#progress-row").display = p.fraction != 1.0 or p.phase != "Ready"

    def show_guest_failed(self, message: str) -> None:
        self.query_one("#os-facts", Static).update(Text(printable(message), style="red"))
        self.query_one("#progress-row").display = False

    # -- interaction -------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id in ("limits", "readiness") and event.row_key is not None:
            self._show_detail(event.row_key.value)

    def _show_detail(self, check_id: str | None) -> None:
        self.query_one("#check-detail", CheckDetail).show(getattr(self, "_results", {}).get(check_id))

    def action_focus_partitions(self) -> None:
        self.query_one("#partitions").focus()

    def action_focus_limits(self) -> None:
        self.query_one("#limits").focus()

    def action_focus_readiness(self) -> None:
        self.query_one("#readiness").focus()
