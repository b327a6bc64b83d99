"""The bootloader's default entry, read from its configuration as a text (never run, never trusted).

GRUB 2 (grub.cfg with its menuentries, `set default`, the saved_entry of grubenv, and the
BootLoaderSpec entries of /boot/loader/entries that blscfg reads), GRUB legacy (menu.lst,
grub.conf) and extlinux/syslinux. Each parser returns the entries in order and which one
boots by default; paths are as the configuration writes them (relative to the file system
the bootloader reads, which resolve() maps onto the guest's tree).

Every evaluation is bounded (a configuration is untrusted data): each variable's value, all of them together,
each line, the nesting of blocks and the time taken. What a bound cuts is listed in BootConfig.problems, and
the boot checks then say the configuration was not reviewed whole.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import time
from dataclasses import dataclass, field

MAX_CONFIG = 4 << 20
MAX_ENTRIES = 500
MAX_LINES = 200_000
MAX_LINE = 64 << 10  # characters of one line that are read (a longer line is cut)
MAX_VALUE = 16 << 10  # characters of one variable's value, or of one expansion (a kernel command line is < 4 KiB)
MAX_VARIABLES_TOTAL = 1 << 20  # characters of all the variables together
MAX_VARIABLES = 4096
MAX_DEPTH = 64  # nesting of braces (submenus, if, function bodies)
MAX_SECONDS = 5.0  # for all the configurations of one image together
NUMBER = re.compile(r"[0-9]{1,9}")  # a number in a configuration: ASCII digits only, never a huge int

# where each bootloader keeps its configuration, as the guest mounts it; the first one found is the one used
GRUB2_CONFIGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")
EFI_GRUB_CONFIGS = ("/boot/efi/EFI/*/grub.cfg",)
LEGACY_CONFIGS = ("/boot/grub/menu.lst", "/boot/grub/grub.conf", "/etc/grub.conf")
EXTLINUX_CONFIGS = ("/boot/extlinux/extlinux.conf", "/boot/extlinux.conf", "/boot/syslinux/syslinux.cfg",
                    "/boot/syslinux.cfg", "/extlinux.conf", "/syslinux.cfg")
GRUBENV = ("/boot/grub2/grubenv", "/boot/grub/grubenv", "/boot/efi/EFI/*/grubenv")
BLS_DIR = "/boot/loader/entries"


@dataclass
class BootEntry:
    title: str
    kernel: str | None  # as written in the configuration
    initrd: list[str] = field(default_factory=list)
    cmdline: str = ""
    id: str = ""  # the BLS id or the menuentry id, for saved_entry


@dataclass
class BootConfig:
    loader: str  # grub2 | grub2-bls | grub-legacy | extlinux
    path: str  # the configuration file
    entries: list[BootEntry] = field(default_factory=list)
    default: int | None = None  # index into entries
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what a bound cut: the entries or the default may be wrong

    @property
    def default_entry(self) -> BootEntry | None:
        return self.entries[self.default] if self.default is not None and self.default < len(self.entries) else None


def parse_grubenv(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines()[:200]:
        if line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        out[k.strip()] = v.strip()
    return out


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError:
        return line.split()


_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


class _Env:
    """GRUB variables as a bounded map: no value, expansion or total may grow past its limit, nor the
    evaluation past its time; each cut is told once in problems."""

    def __init__(self, initial: dict[str, str], problems: list[str], deadline: float | None = None) -> None:
        self.problems = problems
        self.values: dict[str, str] = {}
        self.total = 0
        self.deadline = deadline if deadline is not None else time.monotonic() + MAX_SECONDS
        for k, v in list(initial.items())[:MAX_VARIABLES]:
            self.set(k, v)

    def _cut(self, why: str) -> None:
        if why not in self.problems:
            self.problems.append(why)

    def expand(self, text: str) -> str:
        """$var and ${var} replaced (unknown ones vanish, as in GRUB), the result cut at MAX_VALUE."""
        out: list[str] = []
        size = 0
        at = 0
        for m in _VAR.finditer(text):
            piece = text[at:m.start()] + self.values.get(m.group(1), "")
            at = m.end()
            if size + len(piece) > MAX_VALUE:
                out.append(piece[:MAX_VALUE - size])
                self._cut(f"an expansion grew past {MAX_VALUE >> 10} KiB and was cut")
                return "".join(out)
            out.append(piece)
            size += len(piece)
        rest = text[at:]
        if size + len(rest) > MAX_VALUE:
            self._cut(f"an expansion grew past {MAX_VALUE >> 10} KiB and was cut")
            rest = rest[:MAX_VALUE - size]
        return "".join(out) + rest

    def set(self, key: str, value: str) -> None:
        old = self.values.get(key)
        if old is None and len(self.values) >= MAX_VARIABLES:
            self._cut(f"more than {MAX_VARIABLES} variables; the rest were not kept")
            return
        value = value[:MAX_VALUE]
        grown = self.total - len(old or "") + len(value)
        if grown > MAX_VARIABLES_TOTAL:
            self._cut(f"the variables grew past {MAX_VARIABLES_TOTAL >> 20} MiB together; the rest were not kept")
            return
        self.values[key], self.total = value, grown

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    def late(self) -> bool:
        if time.monotonic() > self.deadline:
            self._cut(f"the evaluation ran out of its {MAX_SECONDS:.0f} s; the rest of the file was not read")
            return True
        return False


def _lines(text: str, limit: int, problems: list[str]) -> list[str]:
    """The first limit lines, each cut at MAX_LINE characters (each cut told in problems)."""
    lines = text.splitlines()
    if len(lines) > limit:
        problems.append(f"more than {limit} lines; the rest was not read")
        lines = lines[:limit]
    if any(len(line) > MAX_LINE for line in lines):
        problems.append(f"a line over {MAX_LINE >> 10} KiB was cut")
        lines = [line[:MAX_LINE] for line in lines]
    return lines


def parse_grub2(text: str, path: str, env: dict[str, str], bls: dict[str, str],
                deadline: float | None = None) -> BootConfig:
    """grub.cfg: top-level menuentries (submenus flattened in order, as GRUB numbers them "1>0"), `set default`,
    and blscfg's entries when the file calls it. env: grubenv's variables; bls: {entry id: its text}; deadline:
    when the evaluation stops (time.monotonic(); MAX_SECONDS from now by default)."""
    cfg = BootConfig("grub2", path)
    variables = _Env(env, cfg.problems, deadline)
    default_spec = None
    depth = 0
    current: BootEntry | None = None
    uses_bls = False
    top_index: list[int] = []  # index in cfg.entries of each top-level item (a submenu maps to its first entry)
    for raw in _lines(text, MAX_LINES, cfg.problems):
        if variables.late():
            break
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = _words(line)
        if not words:
            continue
        if depth > MAX_DEPTH:
            cfg.problems.append(f"blocks nested deeper than {MAX_DEPTH}; the rest of the file was not read")
            break
        if words[0] in ("menuentry", "submenu"):
            if depth == 0:
                top_index.append(len(cfg.entries))
            if words[0] == "menuentry" and len(cfg.entries) < MAX_ENTRIES:
                ident = next((words[i + 1] for i, w in enumerate(words) if w == "--id" and i + 1 < len(words)), "")
                current = BootEntry(words[1] if len(words) > 1 else "", None, id=ident)
                cfg.entries.append(current)
            depth += line.count("{") - line.count("}")
            continue
        if line.startswith("}") or line.endswith("}") and not line.startswith(("if", "for")):
            depth = max(0, depth + line.count("{") - line.count("}"))
            if depth == 0:
                current = None
            continue
        depth += line.count("{") - line.count("}")
        if words[0] == "set" and len(words) > 1 and "=" in words[1] and current is None:
            k, _, v = words[1].partition("=")
            variables.set(k, variables.expand(v))
            if k == "default":
                default_spec = variables.get(k)
        elif words[0] == "blscfg":
            uses_bls = True
        elif current is not None and words[0] in ("linux", "linux16", "linuxefi") and len(words) > 1:
            current.kernel = variables.expand(words[1])
            current.cmdline = variables.expand(" ".join(words[2:]))
        elif current is not None and words[0] in ("initrd", "initrd16", "initrdefi"):
            current.initrd = [variables.expand(w) for w in words[1:65]]
    if uses_bls:
        cfg.loader = "grub2-bls"
        for ident in sorted(bls, reverse=True)[:MAX_ENTRIES]:  # blscfg lists the newest version first
            cfg.entries.append(_bls_entry(ident, bls[ident], variables))
    cfg.default = _grub_default(cfg, default_spec, variables, top_index)
    return cfg


def _bls_entry(ident: str, text: str, env: _Env) -> BootEntry:
    e = BootEntry("", None, id=ident)
    for line in text.splitlines()[:500]:
        k, _, v = line.strip().partition(" ")
        v = v.strip()
        if k == "title":
            e.title = v
        elif k == "linux":
            e.kernel = v
        elif k == "initrd":
            e.initrd += v.split()
        elif k == "options":
            e.cmdline = env.expand(v)
    return e


def _grub_default(cfg: BootConfig, spec: str | None, env: _Env, top_index: list[int]) -> int | None:
    """GRUB's default: a number (of the top-level menu; "1>2" into a submenu), a title or id, or saved_entry."""
    if not cfg.entries:
        return None
    if spec is None or spec == "":
        spec = "0"
    if spec in ("saved", "${saved_entry}") or spec == env.get("saved_entry", "\0"):
        spec = env.get("saved_entry") or "0"
    if re.fullmatch(r"[0-9]{1,9}(>[0-9]{1,9})?", spec):
        first, _, sub = spec.partition(">")
        n = int(first)
        if n < len(top_index):
            return min(top_index[n] + int(sub or 0), len(cfg.entries) - 1)
        if cfg.loader == "grub2-bls" and n < len(cfg.entries):
            return n
        return 0
    for i, e in enumerate(cfg.entries):
        if spec in (e.id, e.title) or (">" in spec and spec.split(">")[-1] in (e.id, e.title)):
            return i
    cfg.notes.append(f"the default entry {spec!r} matches no entry; GRUB falls back to the first")
    return 0


def parse_grub_legacy(text: str, path: str) -> BootConfig:
    cfg = BootConfig("grub-legacy", path)
    default = 0
    current = None
    for raw in _lines(text, 100_000, cfg.problems):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, rest = re.split(r"[\s=]", line, maxsplit=1)[0], None, (re.split(r"[\s=]", line, maxsplit=1) + [""])[1]
        key = key.lower()
        rest = rest.strip()
        if key == "default" and current is None:
            default = int(rest) if NUMBER.fullmatch(rest) else 0
            if not NUMBER.fullmatch(rest):
                cfg.notes.append(f"default {rest[:40]!r} is not a number; GRUB falls back to the first entry")
        elif key == "title" and len(cfg.entries) < MAX_ENTRIES:
            current = BootEntry(rest, None)
            cfg.entries.append(current)
        elif current is not None and key == "kernel":
            parts = rest.split()
            current.kernel = parts[0] if parts else None
            current.cmdline = " ".join(parts[1:])
        elif current is not None and key == "initrd":
            current.initrd = rest.split()[:1]
    cfg.default = min(default, len(cfg.entries) - 1) if cfg.entries else None
    return cfg


def parse_extlinux(text: str, path: str) -> BootConfig:
    cfg = BootConfig("extlinux", path)
    default_label = None
    current = None
    for raw in _lines(text, 100_000, cfg.problems):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        key, rest = key.upper(), rest.strip()
        if key == "DEFAULT":
            default_label = rest.split()[0] if rest else None
        elif key == "LABEL" and len(cfg.entries) < MAX_ENTRIES:
            current = BootEntry(rest, None, id=rest)
            cfg.entries.append(current)
        elif current is not None and key in ("KERNEL", "LINUX"):
            current.kernel = rest.split()[0] if rest else None
        elif current is not None and key in ("INITRD",):
            current.initrd = [p for p in rest.split(",") if p]
        elif current is not None and key == "APPEND":
            words = rest.split()
            current.initrd += [w.split("=", 1)[1] for w in words if w.startswith("initrd=")]
            current.cmdline = " ".join(w for w in words if not w.startswith("initrd="))
    if not cfg.entries:
        return cfg
    cfg.default = 0
    if default_label:
        cfg.default = next((i for i, e in enumerate(cfg.entries) if e.id == default_label), 0)
    return cfg


def resolve(path: str | None, config_path: str, boot_is_separate: bool) -> list[str]:
    """Where a path from a bootloader configuration can be in the guest's tree, most likely first: it is
    relative to the file system the bootloader reads (a separate /boot makes /vmlinuz mean /boot/vmlinuz), or
    (extlinux) to the configuration's directory."""
    if not path:
        return []
    path = re.sub(r"^\([^)]*\)", "", path)  # (hd0,msdos1)/vmlinuz
    cands = []
    if path.startswith("/"):
        if boot_is_separate:
            cands.append(posixpath.normpath("/boot" + path))
        cands.append(posixpath.normpath(path))
        if not boot_is_separate:
            cands.append(posixpath.normpath("/boot" + path))
    else:
        cands.append(posixpath.normpath(posixpath.join(posixpath.dirname(config_path), path)))
        cands.append(posixpath.normpath("/boot/" + path))
    return list(dict.fromkeys(cands))


def cmdline_value(cmdline: str, key: str) -> str | None:
    """The last key=value on a kernel command line (the kernel keeps the last one)."""
    found = None
    for word in cmdline.split():
        if word.startswith(key + "="):
            found = word[len(key) + 1:]
    return found


def has_word(cmdline: str, word: str) -> bool:
    return word in cmdline.split()
