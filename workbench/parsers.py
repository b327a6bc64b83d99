"""The project's first-boot parser: the text for a flavour and an init style, and which one an image needs.

parser_text is the one function that makes the script: the simulation runs it, inject writes it, the rehearsal
boots it (script_for picks the flavour, the init style and the operator's own script the same way for all three).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench import __version__
from workbench.flavors import FALLBACK, FLAVORS, family_default
from workbench.flavors import flavor as flavor_record
from workbench.image.osinfo import OsFacts
from workbench.image.preflight import ImageFacts
from workbench.inits import INSTALL_PATH, STYLES, Ordering, before, init_style, ordering, script_form
from workbench.osconf import MAX_LINES
from workbench.paths import assets_dir

__all__ = ["FLAVORS", "INSTALL_PATH", "ParserChoice", "ParserScript", "choose_flavor", "first_partition_ids",
           "parser_text", "build_script", "script_for"]
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{0,64}$")


@dataclass(frozen=True)
class ParserChoice:
    flavor: str
    reason: str


@dataclass(frozen=True)
class ParserScript:
    """The script that runs at first boot: its name in the outputs (a flavour, or "custom script"), its text and
    the init style that starts it."""
    name: str
    text: str
    init: str
    first_uuid: str
    first_label: str


def choose_flavor(os: OsFacts | None) -> ParserChoice:
    if os is not None and os.network in FLAVORS:
        return ParserChoice(os.network, f"the image configures its network with {os.network}")
    default = family_default(os.family if os is not None else None)
    if default:
        return ParserChoice(default, f"no network configuration found; {default} is the {os.family} default")
    return ParserChoice(FALLBACK, f"the image's network stack is unknown; {FALLBACK} is the documented default")


def first_partition_ids(facts: ImageFacts) -> tuple[str, str]:
    """The UUID and label the parser looks the first partition up by (only safe characters pass)."""
    p = facts.first_partition
    if p is None:
        return "", ""
    uuid = p.fs.uuid or ""
    label = p.fs.label or ""
    return (uuid if _SAFE_ID.match(uuid) else "", label if _SAFE_ID.match(label) else "")


def parser_text(flavor: str, init: str = "systemd", first_uuid: str = "", first_label: str = "",
                order: Ordering | None = None) -> str:
    """The exact text injected as /etc/init.d/os-conf, run by the simulation and booted by the rehearsal.

    init: the init style that starts it (inits.STYLES; an unknown one gets the LSB form, which it will not run).
    order: what its header says about when it starts, for this image (inits.ordering); the defaults without one.
    """
    order = order or Ordering()
    flavor_record(flavor)  # ValueError for an unknown flavour
    if init not in STYLES and init != "unknown":
        raise ValueError(f"unknown init style {init!r} (known: {', '.join(STYLES)})")
    if not _SAFE_ID.match(first_uuid) or not _SAFE_ID.match(first_label):
        raise ValueError("the first partition's UUID or label has characters the parser cannot carry")
    form = script_form(init)
    d = assets_dir() / "parsers"
    template = (d / "os-conf.sh.in").read_text(encoding="utf-8")
    network = (d / f"net-{flavor}.sh").read_text(encoding="utf-8").rstrip("\n")
    names = " ".join(before("sysvinit" if form == "lsb" else form))
    depend = "\n".join(f"    {line}" for line in order.depend)
    header = (d / f"header-{form}.sh").read_text(encoding="utf-8").replace("@@DEFAULT_START@@", order.default_start)
    portal = (d / f"portal-{form}.sh").read_text(encoding="utf-8").replace("@@DEPEND@@", depend)
    header, portal = (part.replace("@@BEFORE@@", names) for part in (header, portal))
    return (template.replace("@@HEADER@@", header).replace("@@PORTAL@@", portal)
            .replace("@@NETWORK@@", network).replace("@@FLAVOR@@", flavor)
            .replace("@@VERSION@@", __version__).replace("@@FIRST_UUID@@", first_uuid)
            .replace("@@FIRST_LABEL@@", first_label).replace("@@MAX_LINES@@", str(MAX_LINES)))


def build_script(flavor: str, first_uuid: str = "", first_label: str = "", init: str = "systemd") -> str:
    """parser_text with the first partition's ids first (the order the tests and benchmarks use)."""
    return parser_text(flavor, init, first_uuid, first_label)


def script_for(facts: ImageFacts, report, flavor: str | None = None, custom: str | None = None) -> ParserScript:
    """The script for one image: the operator's own (custom), or the flavour given, or the one its network stack
    needs; with the init style the image will start it with. report: a GuestReport with os facts."""
    uuid, label = first_partition_ids(facts)
    init = init_style(report.os.init if report.os else None, report.tree)
    if custom is not None:
        return ParserScript("custom script", custom, init, uuid, label)
    name = flavor or choose_flavor(report.os).flavor
    text = parser_text(name, init, uuid, label, ordering(init, report.tree))
    return ParserScript(name, text, init, uuid, label)
