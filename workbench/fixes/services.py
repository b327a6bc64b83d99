"""Service fixes: disable risky network services the way their init system or super-server enables them."""

from __future__ import annotations

import re

from workbench.changes import Change
from workbench.fixes import Fix, View, register_fix


@register_fix("fix.disable-service", "Disable risky network services")
def _disable(fix: Fix, tree: View) -> None:
    disable_units(fix, tree)


def disable_units(fix: Fix, tree: View) -> None:
    """Undo each enablement in fix.targets (link:, mask:, upstart:, xinetd:, inetd:, as enablement.py gives them)."""
    edits: dict[str, str] = {}
    for target in fix.targets:
        kind, _, rest = target.partition(":")
        if kind == "link":
            node = tree.node(rest, follow=False)
            if node is not None:
                fix.changes.append(Change(rest, "delete", f"-> {node.target}" if node.target else None, None,
                                              "link" if node.kind == "link" else "file"))
        elif kind == "mask":
            path = f"/etc/systemd/system/{rest}"
            fix.changes.append(Change(path, "create", None, "-> /dev/null", "link"))
        elif kind == "upstart":
            path = f"/etc/init/{rest}.override"
            before = tree.read_text(path)
            fix.changes.append(Change(path, "modify" if before is not None else "create", before,
                                          (before or "") + "manual\n", mode=0o644))
        elif kind in ("xinetd", "inetd"):
            path, _, service = rest.rpartition(":")
            text = edits.get(path, tree.read_text(path))
            if text is None:
                continue
            if kind == "xinetd":
                edits[path] = _xinetd_disable(text, service)
            else:
                edits[path] = re.sub(rf"^(\s*{re.escape(service)}(?::\S+)?\s)", r"#\1", text, flags=re.M)
    for path, after in edits.items():
        fix.changes.append(Change(path, "modify", tree.read_text(path), after))


def _xinetd_disable(text: str, service: str) -> str:
    def block(m: re.Match) -> str:
        body = m.group(2)
        if re.search(r"^\s*disable\s*=", body, re.M):
            body = re.sub(r"^(\s*disable\s*=\s*)\S+", r"\1yes", body, flags=re.M)
        else:
            body = body.rstrip() + "\n        disable         = yes\n"
        return m.group(1) + body + "}"
    return re.sub(rf"^(\s*service\s+{re.escape(service)}\s*\n?\s*\{{)(.*?)\}}", block, text, flags=re.M | re.S)


