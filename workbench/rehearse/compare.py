"""The comparison of what a real boot changed with what the simulation predicted, file by file."""

from __future__ import annotations

from workbench.image.tree import GuestTree
from workbench.changes import Change

# where a parser's effects show: everything else a boot changes (journal, machine-id...) is not compared
DOMAIN = ("/etc/sysconfig/network", "/etc/network/", "/etc/netplan/", "/etc/systemd/network/",
          "/etc/NetworkManager/system-connections/", "/etc/hostname", "/etc/HOSTNAME", "/etc/hosts",
          "/etc/resolv.conf", "/etc/shadow", "/etc/ssh/ssh_host_", "/var/lib/os-conf", "/var/log/os-conf.log",
          "/etc/conf.d/net", "/etc/conf.d/hostname", "/etc/systemd/resolved.conf.d/", "/etc/init.d/net.",
          "/etc/runlevels/default/net.", "/etc/udev/rules.d/70-os-conf-net.rules")
EXISTENCE_ONLY = ("/var/log/os-conf.log", "/var/lib/os-conf/applied-at", "/etc/ssh/ssh_host_")


def _in_domain(path: str) -> bool:
    return path.startswith(DOMAIN) or "/aliyun_custom_image/" in path


def _text(tree: GuestTree, path: str) -> str | None:
    node = tree.node(path, follow=False)
    if node is None:
        return None
    if node.kind == "link":
        return f"-> {node.target}"
    if node.kind == "file":
        return tree.read_text(path) if node.data is not None else f"<{node.size} bytes, not read>"
    return None


def tree_changes(before: GuestTree, after: GuestTree) -> list[Change]:
    """Create/modify/delete of the files (and links) under the parser's domain, between two pulls."""
    paths = {n.path for t in (before, after) for n in t.walk("/") if n.kind in ("file", "link") and _in_domain(n.path)}
    out = []
    for path in sorted(paths):
        a, b = _text(before, path), _text(after, path)
        if a == b:
            continue
        action = "create" if a is None else "delete" if b is None else "modify"
        out.append(Change(path, action, a, b))
    return out


def _shadow_fields(text: str | None) -> dict[str, list[str]]:
    return {ln.split(":")[0]: ln.split(":") for ln in (text or "").splitlines() if ":" in ln}


def compare(real: list[Change], simulated: list[Change], password: str | None) -> list[str]:
    """What the boot did differently from the simulation, one sentence per file."""
    from workbench import crypt

    done = {"create": "created", "modify": "modified", "delete": "deleted"}
    mismatches = []
    real_by = {c.path: c for c in real}
    sim_by = {c.path: c for c in simulated if c.kind != "dir" and _in_domain(c.path)}
    for path in sorted(set(real_by) | set(sim_by)):
        r, s = real_by.get(path), sim_by.get(path)
        if r is None:
            mismatches.append(f"{path}: the simulation {done[s.action]} it, the boot did not")
            continue
        if s is None:
            mismatches.append(f"{path}: the boot {done[r.action]} it, the simulation did not")
            continue
        if r.action != s.action:
            mismatches.append(f"{path}: the boot {done[r.action]} it, the simulation {done[s.action]} it")
            continue
        if path.startswith(EXISTENCE_ONLY) or r.action == "delete":
            continue  # timestamps and freshly generated keys differ by nature
        if path == "/etc/shadow":
            rf, sf = _shadow_fields(r.after), _shadow_fields(s.after)
            for user in sorted(set(rf) | set(sf)):
                a, b = rf.get(user), sf.get(user)
                if a is None or b is None:
                    mismatches.append(f"/etc/shadow: account {user} differs")
                elif a[1] != b[1] and not (password and crypt.verify(password, a[1]) and crypt.verify(password, b[1])):
                    mismatches.append(f"/etc/shadow: the password hash of {user} differs")
                elif a[3:] != b[3:]:
                    mismatches.append(f"/etc/shadow: the ageing fields of {user} differ")
            continue
        if (r.after or "") != (s.after or ""):
            mismatches.append(f"{path}: the content written at boot differs from the simulation's")
    return mismatches
