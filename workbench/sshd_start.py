"""sshd's start options as its units pass them: Debian's ssh.service runs `sshd -D $SSHD_OPTS` with
EnvironmentFile=/etc/default/ssh (its init script sources the file), RHEL's sshd.service `sshd -D $OPTIONS`
with /etc/sysconfig/sshd. -o settings there come before sshd_config's (sshd keeps the first value), -f names
another configuration, -h another host key."""

from __future__ import annotations

import re

from workbench.image.tree import GuestTree

START_FILES = (("/etc/default/ssh", "SSHD_OPTS"), ("/etc/sysconfig/sshd", "OPTIONS"))
SSHD_ARGS = "CEbcfghkopu"  # sshd's options that take an argument (the others take none)


def parse_shell_env(text: str, lines: dict[str, int] | None = None) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= (and mostly sh) read them: comments, 'export', quotes,
    backslash escapes, $VAR of earlier lines; the last assignment wins (its line number into lines). Never
    evaluated."""
    env: dict[str, str] = {}
    for n, raw in enumerate(text.replace("\r", "").split("\n"), 1):
        line = raw.strip()
        if line.startswith("export "):
            line = line[7:].lstrip()
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if not m or line.startswith(("#", ";")):
            continue
        env[m.group(1)] = _env_value(m.group(2), env)
        if lines is not None:
            lines[m.group(1)] = n
    return env


def _env_value(v: str, env: dict[str, str]) -> str:
    out, i, quote = [], 0, ""
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v) and (not quote or (quote == '"' and v[i + 1] in '$`"\\')):
            out.append(v[i + 1])
            i += 2
            continue
        if quote != "'" and c == "$":
            m = re.match(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))", v[i:])
            if m:
                out.append(env.get(m.group(1) or m.group(2), ""))
                i += m.end()
                continue
        if c in "\"'" and (not quote or quote == c):
            quote = "" if quote else c
        else:
            out.append(c)
        i += 1
    return "".join(out).strip()


def start_options(tree: GuestTree) -> list[tuple[str, str, str, int]]:
    """(flag, argument, file, line) of sshd's start options from the files its units read (Debian's SSHD_OPTS,
    RHEL's OPTIONS), as getopt splits the words."""
    out = []
    for path, var in START_FILES:
        text = tree.read_text(path, 1 << 20)
        if text is None:
            continue
        where: dict[str, int] = {}
        words = parse_shell_env(text, where).get(var, "").split()
        i = 0
        while i < len(words):
            w = words[i]
            i += 1
            if not w.startswith("-") or w == "-":
                continue
            j = 1
            while j < len(w):
                f = w[j]
                if f in SSHD_ARGS:
                    arg = w[j + 1:] if j + 1 < len(w) else (words[i] if i < len(words) else "")
                    if j + 1 >= len(w):
                        i += 1
                    out.append((f, arg, path, where.get(var, 0)))
                    break
                j += 1
    return out
