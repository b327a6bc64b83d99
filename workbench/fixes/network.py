"""Network fixes: the kernel's interface names kept (eth0), stale persistent-net rules removed, and the image's own
configurations that would win over the parser's neutralised (net.conflicts)."""

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


CLOUD_INIT_OFF = "/etc/cloud/cloud.cfg.d/99-workbench-network.cfg"
ASIDE = ".workbench-off"  # a file moved aside: networkd reads only *.network, netplan only *.yaml
# what stays of a netplan file moved aside: no definition, but a netplan file (detection still finds the stack)
NETPLAN_STUB = ("# workbench (fix.network-conflicts): this file's definitions are in {aside}; the first-boot parser\n"
                "# writes the NIC's configuration in 90-os-conf.yaml\nnetwork:\n  version: 2\n")


def comment_out_stanza(text: str, iface: str) -> str:
    """ifupdown's own `auto`/`allow-hotplug` line and `iface` block for iface, as comments (the ifupdown parser's
    rule: a block ends at the next stanza keyword)."""
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        words = line.split()
        if words and words[0] == "iface":
            inside = len(words) > 1 and words[1] == iface
        elif words and (words[0] in ("auto", "mapping", "source", "source-directory") or words[0].startswith("allow-")):
            inside = False
        mine = words[:1] in (["auto"], ["allow-hotplug"]) and words[1:] == [iface]
        out.append(f"# workbench (fix.network-conflicts): {line}" if (inside or mine) and line.strip() else line)
    return "".join(out)


@register_fix("fix.network-conflicts", "Let the parser's network configuration win")
def network_conflicts(fix: Fix, view: View) -> None:
    """targets (net.conflicts): "ifupdown:FILE:IFACE" (the stanza commented out), "networkd:FILE" and "netplan:FILE"
    (moved aside, the name ending in .workbench-off, which the stack does not read), "cloud-init" (its network
    configuration disabled). Each is a Change, so uninject puts every file back."""
    edits: dict[str, str] = {}
    for target in fix.targets:
        kind, _, rest = target.partition(":")
        if kind == "ifupdown":
            path, _, iface = rest.rpartition(":")
            text = edits.get(path, view.read_raw(path))
            if text is not None and iface:
                edits[path] = comment_out_stanza(text, iface)
                fix.notes.append(f"{path}: the stanza for {iface} commented out")
        elif kind in ("networkd", "netplan"):
            node = view.node(rest, follow=False)
            text = view.read_raw(rest)
            if node is None or node.kind != "file" or text is None:
                continue
            if kind == "netplan":  # an empty netplan file stays, so the image is still known as netplan's
                fix.changes.append(Change(rest, "modify", text, NETPLAN_STUB.format(aside=rest + ASIDE)))
            else:
                fix.changes.append(Change(rest, "delete", text, None))
            fix.changes.append(Change(rest + ASIDE, "create", None, text, mode=node.mode & 0o777))
            fix.notes.append(f"{rest} moved aside to {rest + ASIDE} ({kind} no longer reads it)")
        elif kind == "cloud-init":
            fix.changes.append(Change(CLOUD_INIT_OFF, "create", None, "# written by workbench (fix.network-conflicts): "
                                      "the first-boot parser configures the network from the platform's os.conf\n"
                                      "network: {config: disabled}\n", mode=0o644))
            fix.notes.append("cloud-init keeps running, without configuring the network")
    for path, after in edits.items():
        fix.changes.append(Change(path, "modify", view.read_raw(path), after))
