"""The sshd configuration as OpenSSH 9's sshd reads it (servconf.c): its start options (SSHD_OPTS in
/etc/default/ssh, OPTIONS in /etc/sysconfig/sshd), sshd_config and its Includes, line by line as sshd splits
them (LF only; a lone CR separates a keyword from its value; '=' or blanks; quotes; a trailing # comment),
with each setting's Match context. Pure: it reads a GuestTree. Tested against `sshd -T` in
tests/unit/differential."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field

from workbench.image.tree import GuestTree
from workbench.sshd_start import start_options
from workbench.text import printable

SSHD_CONFIG = "/etc/ssh/sshd_config"
SSH_DIR = "/etc/ssh"
DEFAULT_HOST_KEYS = ("/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key")
DEFAULT_AUTHORIZED = (".ssh/authorized_keys", ".ssh/authorized_keys2")
MAX_INCLUDE_DEPTH = 16  # sshd's own limit
MAX_INCLUDED = 256  # files read through Include, in all: include fan-out cannot grow without bound
MAX_SETTINGS = 20_000
MAX_CONFIG = 4 << 20
WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class Setting:
    key: str  # lower case
    value: str  # the first argument, unquoted
    file: str
    line: int
    match: str | None  # the Match condition the setting sits under (None: global)
    text: str = ""  # the line as the file has it (indentation stripped)
    args: tuple[str, ...] = ()

    @property
    def match_all(self) -> bool:
        return self.match is not None and _strdelim(self.match)[0].lower() == "all"


@dataclass
class SshdConfig:
    settings: list[Setting] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # what sshd would read that was not read (fail closed)
    host_keys_cmdline: list[str] = field(default_factory=list)  # -h on the start line
    main: str = SSHD_CONFIG


def _strdelim(s: str | None) -> tuple[str | None, str | None]:
    """misc.c strdelim: the next token (split at blanks, CR, LF, one '=' or a quoted string) and the rest."""
    if s is None:
        return None, None
    m = re.search(r'[ \t\r\n"=]', s)
    if m is None:
        return s, None
    i = m.start()
    if s[i] == '"':
        s = s[:i] + s[i + 1:]
        j = s.find('"', i)
        if j < 0:
            return None, None
        rest = s[j + 1:]
        return s[:j], rest[len(rest) - len(rest.lstrip(WHITESPACE)):]
    token, rest = s[:i], s[i + 1:]
    rest = rest.lstrip(WHITESPACE)
    if s[i] != "=" and rest.startswith("="):
        rest = rest[1:].lstrip(WHITESPACE)
    return token, rest


def argv_split(s: str) -> list[str] | None:
    """misc.c argv_split with comments: words split at blanks, quotes and backslash escapes; None for an
    unterminated quote (sshd then refuses the line)."""
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] in " \t":
            i += 1
            continue
        if s[i] == "#":
            break
        quote, word = "", []
        while i < len(s):
            c = s[i]
            if c == "\\" and i + 1 < len(s) and (s[i + 1] in "'\"\\" or (not quote and s[i + 1] == " ")):
                word.append(s[i + 1])
                i += 2
                continue
            if not quote and c in " \t":
                break
            if not quote and c in "\"'":
                quote = c
            elif quote and c == quote:
                quote = ""
            else:
                word.append(c)
            i += 1
        if quote:
            return None
        out.append("".join(word))
    return out


def split_line(line: str) -> tuple[str, str, list[str] | None] | None:
    """(keyword, the rest as written, its words) of one configuration line as sshd splits it; None for blank
    lines and comments."""
    end = len(line)
    while end > 1 and line[end - 1] in WHITESPACE + "\f":
        end -= 1
    keyword, rest = _strdelim(line[:end])
    if keyword == "":
        keyword, rest = _strdelim(rest)
    if not keyword or keyword.startswith("#") or not rest:
        return None
    return keyword, rest, argv_split(rest)


def config_lines(data: bytes) -> list[str]:
    """load_server_config: each line loses its leading blanks (space, tab, CR) and ends at a NUL (which also
    drops its LF, so the next line joins it); then the buffer is split at LF."""
    parts = []
    for raw in data.split(b"\n"):
        cut = raw.find(b"\0")
        text = raw[:cut] if cut >= 0 else raw + b"\n"
        parts.append(text.lstrip(b" \t\r"))
    buf = b"".join(parts)
    if buf.endswith(b"\n"):
        buf = buf[:-1]
    return buf.decode("utf-8", "surrogateescape").split("\n")


def tree_glob(tree: GuestTree, pattern: str) -> list[str]:
    """glob(3) over the tree: every component may hold wildcards ('*' does not match a leading dot); sorted."""
    parts = [p for p in pattern.split("/") if p]
    found = ["/"]
    for part in parts:
        nxt = []
        for base in found:
            if any(ch in part for ch in "*?["):
                nxt += [posixpath.join(base, n) for n in tree.listdir(base)
                        if fnmatch.fnmatchcase(n, part) and (part.startswith(".") or not n.startswith("."))]
            elif tree.exists(posixpath.join(base, part)):
                nxt.append(posixpath.join(base, part))
        found = nxt
    return sorted(found)


class _Reader:
    def __init__(self, tree: GuestTree, cfg: SshdConfig, pulled: tuple[str, ...]) -> None:
        self.tree, self.cfg, self.pulled = tree, cfg, pulled
        self.active: list[str] = []
        self.count = 0

    def note(self, text: str, unread: bool = False, always: bool = False) -> None:
        """A note (at most 16, but always the first of the not-read ones and those marked always)."""
        if unread and len(self.cfg.unread) < 100:
            self.cfg.unread.append(text)
        first_unread = unread and not any(n.startswith("not read:") for n in self.cfg.notes)
        if text not in self.cfg.notes and (always or first_unread or len(self.cfg.notes) < 16):
            self.cfg.notes.append(text)

    def read(self, path: str, depth: int, match: str | None) -> None:
        """One file, its settings under match until a Match line changes it (sshd restores the including
        file's Match state after an Include)."""
        if path in self.active:
            self.note(f"Include loop at {printable(path)}; not followed again (sshd refuses such a configuration)")
            return
        if depth > MAX_INCLUDE_DEPTH:
            self.note(f"not read: {printable(path)} (Include nested deeper than {MAX_INCLUDE_DEPTH})", unread=True)
            return
        self.count += 1
        if self.count > MAX_INCLUDED:
            self.note(f"not read: more than {MAX_INCLUDED} files are included; the rest was not read", unread=True,
                      always=True)
            return
        data = self.tree.read_bytes(path, MAX_CONFIG)
        if data is None:
            why = self.tree.unread.get(self.tree.resolve(path) or path)
            if why or self.tree.is_file(path):
                self.note(f"not read: {printable(path)} ({printable(why or 'its content was not read', 120)})",
                          unread=True)
            return
        node = self.tree.node(path)
        if node is not None and node.size > MAX_CONFIG:
            self.note(f"not read: {printable(path)} past its first {MAX_CONFIG >> 20} MiB", unread=True)
        self.active.append(path)
        try:
            self._lines(path, data, depth, match)
        finally:
            self.active.pop()

    def _lines(self, path: str, data: bytes, depth: int, outer: str | None) -> None:
        """A Match line starts a block; in an included file it only narrows the including line's Match."""
        match = outer
        for n, line in enumerate(config_lines(data), 1):
            if len(self.cfg.settings) >= MAX_SETTINGS:
                self.note(f"not read: more than {MAX_SETTINGS} settings; the rest was not read", unread=True,
                          always=True)
                return
            parts = split_line(line)
            if parts is None:
                continue
            keyword, rest, args = parts
            key = keyword.lower()
            if key == "match":
                match = rest if outer is None else f"{outer} and {rest}"
                continue
            if args is None:
                self.note(f"{printable(path)}:{n}: unterminated quote (sshd refuses the configuration)")
                continue
            if key == "include":
                for pat in args:
                    pat = pat if pat.startswith(("/", "~")) else f"{SSH_DIR}/{pat}"
                    self._include(pat, depth, match)
                continue
            self.cfg.settings.append(Setting(key, args[0] if args else "", path, n, match, line.strip(), tuple(args)))

    def _include(self, pattern: str, depth: int, match: str | None) -> None:
        if not pattern.startswith(self.pulled):
            self.note(f"not read: Include {printable(pattern)} (outside /etc, not pulled)", unread=True)
            return
        for inc in tree_glob(self.tree, pattern):
            self.read(inc, depth + 1, match)


def read_config(tree: GuestTree, main: str | None = None, pulled: tuple[str, ...] = ("/etc/",)) -> SshdConfig:
    """Every setting sshd reads, in its order: the -o start options first (they win), then the configuration
    file (-f, or /etc/ssh/sshd_config) with its Includes. pulled: where the tree holds whole directories."""
    cfg = SshdConfig(main=main or SSHD_CONFIG)
    reader = _Reader(tree, cfg, pulled)
    for flag, arg, path, n in start_options(tree):
        if flag == "o":
            parts = split_line(arg)
            if parts and parts[2]:
                cfg.settings.append(Setting(parts[0].lower(), parts[2][0], path, n, None, f"-o {arg}",
                                            tuple(parts[2])))
        elif flag == "f":
            cfg.main = _clean(arg)
        elif flag == "h":
            cfg.host_keys_cmdline.append(arg)
    if not cfg.main.startswith(pulled):
        reader.note(f"not read: {printable(cfg.main)} (sshd -f names a file outside /etc, not pulled)", unread=True)
    reader.read(cfg.main, 0, None)
    return cfg


def sshd_settings(tree: GuestTree) -> tuple[list[Setting], list[str]]:
    """Every setting in the order sshd reads them, and notes (not-read parts start with 'not read:')."""
    cfg = read_config(tree)
    return cfg.settings, cfg.notes


def effective(settings: list[Setting], key: str) -> Setting | None:
    """sshd keeps the first value it reads for a keyword (outside Match blocks)."""
    return next((s for s in settings if s.key == key and s.match is None), None)


def _clean(path: str) -> str:
    """An absolute, normalised path (a relative one is taken from /, sshd's working directory)."""
    return "/" + posixpath.normpath("/" + path).lstrip("/")


def _tilde(path: str, homes: dict[str, str], root_home: str) -> str | None:
    """tilde_expand_filename as sshd (running as root) does it; None for an unknown user."""
    if not path.startswith("~"):
        return path
    user, _, rest = path[1:].partition("/")
    home = homes.get(user) if user else root_home
    if home is None:
        return None
    return home + ("" if home.endswith("/") else "/") + rest.lstrip("/")


def host_key_paths(cfg: SshdConfig, homes: dict[str, str], root_home: str = "/root") -> list[str]:
    """The host key files sshd loads: -h, HostKey lines (every one counts), or the defaults."""
    raw = list(cfg.host_keys_cmdline) + [s.value for s in cfg.settings if s.key == "hostkey" and
                                         (s.match is None or s.match_all)]
    out = []
    for p in raw or DEFAULT_HOST_KEYS:
        p = _tilde(p, homes, root_home)
        if p and p.lower() != "none":
            p = _clean(p)
            if p not in out:
                out.append(p)
    return out


def authorized_patterns(cfg: SshdConfig) -> list[str]:
    """Every AuthorizedKeysFile pattern a connection may get: the global one (or the default) and each Match
    block's (any plausible match), plus TrustedUserCAKeys files (a CA key lets its holder in as anyone)."""
    out: list[str] = []
    glob = [s for s in cfg.settings if s.key == "authorizedkeysfile" and s.match is None][:1]
    blocks = [s for s in cfg.settings if s.key == "authorizedkeysfile" and s.match is not None]
    for s in (glob or []) + blocks:
        out += [a for a in s.args if a.lower() != "none" and a not in out]
    if not glob:
        out += [a for a in DEFAULT_AUTHORIZED if a not in out]
    return out


def trusted_ca_files(cfg: SshdConfig) -> list[str]:
    return list(dict.fromkeys(_clean(s.value) for s in cfg.settings
                              if s.key == "trustedusercakeys" and s.value.lower() != "none"))


def expand_authorized(pattern: str, name: str, uid: int | None, home: str, homes: dict[str, str],
                      root_home: str = "/root") -> str | None:
    """The file sshd opens for this account (tilde at parse time, then %h %u %U %%, then relative to the home);
    None where sshd gives up (an unknown %-token, an unknown ~user)."""
    pattern = _tilde(pattern, homes, root_home)
    if pattern is None:
        return None
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        t = pattern[i + 1:i + 2]
        rep = {"%": "%", "h": home, "u": name, "U": str(uid) if uid is not None else None}.get(t)
        if rep is None:
            return None
        out.append(rep)
        i += 2
    path = "".join(out)
    if not path.startswith("/"):
        path = f"{home}/{path}"
    return _clean(path)
