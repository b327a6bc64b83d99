"""The os.conf editor: a form (VPC or classic), inline validation, a live preview, load and save."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, RadioButton, RadioSet, Static

from screens.modals import ConfirmModal, PathModal
from screens.widgets.journey import JourneyBar
from workbench import osconf
from workbench.errors import WorkbenchError
from workbench.simulate import mask
from workbench.staging import write_text
from workbench.text import printable

# (os.conf key, label, placeholder)
COMMON = [("hostname", "Host name", "iZ23r29djmjZ"), ("password", "Root password", "typed here, stored base64")]
IFACE = [("ip_addr", "address", "10.171.254.123"), ("netmask", "netmask", "255.255.255.0"),
         ("gateway", "gateway", "10.171.254.1"), ("mac_addr", "MAC", "00:8c:fa:5e:14:23"),
         ("route", "routes", "0.0.0.0/0 10.171.254.1;10.0.0.0/8 10.171.254.1")]
DNS = [("dns_nameserver", "DNS servers", "7.7.7.7 8.8.8.8")]
MAX_FILE = 1 << 20


def _fields() -> list[tuple[str, str, str]]:
    out = list(COMMON)
    for iface in ("eth0", "eth1"):
        out += [(f"{iface}_{k}", f"{iface} {label}", ph) for k, label, ph in IFACE]
    return out + DNS


class OsConfScreen(Screen):
    CSS_PATH = "osconf.tcss"
    BINDINGS = [
        Binding("ctrl+o", "load", "Load", tooltip="Read an os.conf file into the form"),
        Binding("ctrl+s", "save", "Save", tooltip="Write the os.conf to a file"),
        Binding("escape", "done_editing", "Done", tooltip="Leave the fields (then 1-4 switch screens)"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield JourneyBar("osconf")
        with Horizontal(id="osconf-columns"):
            with VerticalScroll(id="osconf-form"):
                with RadioSet(id="network-type"):
                    yield RadioButton("VPC (eth0 only)", value=True, id="vpc")
                    yield RadioButton("Classic (eth0 intranet, eth1 internet)", id="classic")
                for key, label, placeholder in _fields():
                    group = "eth1" if key.startswith("eth1_") else "common"
                    with Vertical(classes=f"field {group}", id=f"field-{key}"):
                        with Horizontal(classes="field-row"):
                            yield Label(label, classes="field-label")
                            yield Input(placeholder=placeholder, id=f"in-{key}", password=key == "password")
                        yield Static("", id=f"msg-{key}", classes="field-msg")
            with Vertical(id="osconf-side"):
                yield Static(id="osconf-status")
                yield Static(id="osconf-preview")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#osconf-preview").border_title = "os.conf preview (password masked)"
        self.query_one("#osconf-form").border_title = "os.conf"
        self._loading = True
        self._fill(self.app.state.osconf_values)
        self._loading = False
        self._refresh_feedback()
        self.query_one("#in-hostname").focus()

    # -- form <-> values ------------------------------------------------------------------------
    def _fill(self, values: dict[str, str]) -> None:
        classic = any(values.get(k) for k in osconf.ETH1_KEYS)
        self.query_one("#classic" if classic else "#vpc", RadioButton).value = True
        for key, _, _ in _fields():
            value = values.get(key, "")
            if key == "password" and value:
                try:
                    value = osconf.decode_password(value)
                except ValueError:
                    value = ""
            self.query_one(f"#in-{key}", Input).value = value
        self._show_eth1(classic)

    def _show_eth1(self, classic: bool) -> None:
        for field in self.query(".eth1"):
            field.display = classic

    @property
    def classic(self) -> bool:
        return self.query_one("#classic", RadioButton).value

    def values(self) -> dict[str, str]:
        out = {}
        for key, _, _ in _fields():
            if key.startswith("eth1_") and not self.classic:
                continue
            v = self.query_one(f"#in-{key}", Input).value
            if not v:
                continue
            out[key] = osconf.encode_password(v) if key == "password" else v.strip()
        return out

    def on_input_changed(self, event: Input.Changed) -> None:
        if not self._loading:
            self._changed()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self._show_eth1(self.classic)
        if not getattr(self, "_loading", True):
            self._changed()

    def _changed(self) -> None:
        self.app.set_osconf(self.values())
        self._refresh_feedback()

    def _refresh_feedback(self) -> None:
        values = self.values()
        conf, problems = osconf.from_values(values)
        by_key: dict[str, list] = {}
        for p in problems:
            by_key.setdefault(p.key, []).append(p)
        for key, _, _ in _fields():
            msgs = by_key.get(key, [])
            label = self.query_one(f"#msg-{key}", Static)
            t = Text()
            for p in msgs[:3]:
                if t:
                    t.append("\n")
                t.append(("⚠ " if p.severity == "warning" else "✘ ") + printable(p.message, 200),
                         style="yellow" if p.severity == "warning" else "red")
            label.update(t)
            label.display = bool(msgs)
        status = Text()
        errors = [p for p in problems if p.severity == "error"]
        if conf is not None:
            status.append("✔ valid", style="green")
            status.append(f" · {conf.network.upper()} network")
        else:
            status.append(f"✘ {len(errors)} problem(s)", style="bold red")
        warnings = len(problems) - len(errors)
        if warnings:
            status.append(f" · {warnings} warning(s)", style="yellow")
        for p in errors:
            if p.key not in {k for k, _, _ in _fields()}:
                status.append(f"\n{printable(p.line(), 200)}", style="red")
        self.query_one("#osconf-status", Static).update(status)
        preview = mask("os.conf", osconf.render_values(values)) or "(empty)"
        self.query_one("#osconf-preview", Static).update(Text(preview))

    def update_view(self) -> None:
        """The form is the state here; only the feedback follows the app."""
        if self.is_mounted:
            self._refresh_feedback()

    def action_done_editing(self) -> None:
        self.query_one("#osconf-form").focus()

    # -- load / save / example ---------------------------------------------------------------------
    def action_example(self) -> None:
        self.load_values(osconf.parse_text(osconf.EXAMPLE_VPC)[0])

    def load_values(self, values: dict[str, str]) -> None:
        self._loading = True
        self._fill(values)
        self._loading = False
        self._changed()

    def action_load(self) -> None:
        def done(path: str | None) -> None:
            if not path:
                return
            try:
                data = Path(path).expanduser().read_bytes()[:MAX_FILE]
            except OSError as e:
                self.notify(f"{printable(path)} cannot be read ({e.strerror})", severity="error")
                return
            values, problems = osconf.parse_text(data)
            self.load_values(values)
            if problems:
                self.notify(f"{len(problems)} line(s) of the file were not taken: {printable(problems[0].line())}",
                            severity="warning")

        self.app.push_screen(PathModal("Load os.conf from"), done)

    def action_save(self) -> None:
        conf, problems = osconf.from_values(self.values())
        if conf is None:
            self.notify("The os.conf is not valid; fix the fields marked ✘ first", severity="error")
            return

        def write(path: Path) -> None:
            try:  # staged: a partial name beside it, renamed when complete (never half an os.conf)
                write_text(str(path), conf.render(), force=True)
            except WorkbenchError as e:
                self.notify(str(e), severity="error")
                return
            except OSError as e:
                self.notify(f"{printable(str(path))} cannot be written ({e.strerror})", severity="error")
                return
            self.notify(f"os.conf saved to {printable(str(path))}")

        def chosen(raw: str | None) -> None:
            if not raw:
                return
            path = Path(raw).expanduser()
            if path.exists():
                self.app.push_screen(ConfirmModal("Overwrite?", f"{path} exists. Replace it with this os.conf?",
                                                  "Overwrite"), lambda ok: write(path) if ok else None)
            else:
                write(path)

        self.app.push_screen(PathModal("Save os.conf to", "os.conf"), chosen)
