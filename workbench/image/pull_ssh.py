"""What sshd reads that /etc and the homes did not bring, pulled file by file (bounded)."""

from __future__ import annotations

import os

from workbench.image.pull import AUTHORIZED_MAX, HOME_FILE_MAX, _tar_into, _try, link_to
from workbench.image.tree import GuestTree, Node

MAX_SSH_PROBES = 512  # files sshd may take keys from, outside /etc and the homes, looked for one by one


def pull_ssh(s, tree: GuestTree, notes: list[str]) -> None:
    """What sshd reads that /etc and the homes did not bring: the .ssh of accounts whose home is a system
    directory, every account's authorized_keys files (AuthorizedKeysFile as it expands, TrustedUserCAKeys) and
    the host keys (HostKey, -h), wherever they are. At most MAX_SSH_PROBES files are looked for; the rest is
    marked not read."""
    from workbench.sshd_config import read_config
    from workbench.sshpaths import authorized_files, host_key_files, ssh_dirs

    g = s._g
    for _, d in ssh_dirs(tree):
        real = _try(g.realpath, d)
        if real and not tree.was_pulled(real) and _try(g.is_dir, real):
            _tar_into(s, tree, real, [], notes, HOME_FILE_MAX)
            link_to(tree, d, real)
    cfg = read_config(tree)
    files, _cut = authorized_files(tree, cfg)
    wanted = [p for _, p in files] + host_key_files(tree, cfg)
    todo = [p for p in dict.fromkeys(wanted) if not tree.was_pulled(p) and not tree.is_file(p)]
    dirs: dict[str, bool] = {}
    for i, path in enumerate(todo):
        tree.look(path)  # there or not, read or marked not read: what the checks find of it is a fact
        if i >= MAX_SSH_PROBES:
            tree.mark_unread(path, f"not looked for (more than {MAX_SSH_PROBES} places sshd may take keys from)")
            continue
        parent = os.path.dirname(path)
        if parent not in dirs:
            dirs[parent] = bool(_try(g.is_dir, parent))
        if not dirs[parent]:
            continue
        real = _try(g.realpath, path)
        if real:
            tree.look(real)
        if not real or not _try(g.is_file, real):
            continue
        data = s.read_small(real, AUTHORIZED_MAX)
        if data is None:
            size = _try(g.filesize, real) or 0
            tree.add(Node(real, "file", 0o600, size=size))
            tree.mark_unread(real, f"{size} bytes, over the {AUTHORIZED_MAX >> 20} MiB read of a key file")
        else:
            tree.add_file(real, data, 0o600)
        link_to(tree, path, real)
