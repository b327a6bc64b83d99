"""Network fixes: the kernel's interface names kept (eth0), and stale persistent-net rules removed."""

from __future__ import annotations

from workbench.changes import Change
from workbench.fixes import Fix, View, register_fix
from workbench.fixes.boot import add_cmdline_words


@register_fix("fix.interface-names", "Keep the kernel's interface names (eth0)")
def interface_names(fix: Fix, view: View) -> None:
    """targets: "cmdline:<bootloader configuration>" and "delete:<persistent-net rules>"."""
    for target in fix.targets:
        kind, _, path = target.partition(":")
        if kind == "cmdline" and path:
            add_cmdline_words(fix, view, path, ["net.ifnames=0", "biosdevname=0"], drop=("net.ifnames=",
                                                                                         "biosdevname="))
        elif kind == "delete" and view.node(path, follow=False) is not None:
            fix.changes.append(Change(path, "delete", view.read_text(path), None))
    fix.notes.append("the NIC keeps the kernel's name (eth0, eth1...) on every boot")
