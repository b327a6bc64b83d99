"""What the boot checks need, gathered in one pass of the session: the bootloader's configuration and its
default entry, that kernel's identity, its module lists and configuration, the names in its initramfs, the
EFI system partition's loaders, and how full the root and /boot are.

A few round trips and one transfer of the default initramfs (parsed on the host, in memory, then dropped):
the boot checks must not make a review much slower than the appliance's launch.
"""

from __future__ import annotations

import posixpath
import re
import stat as statmod
import time
from dataclasses import dataclass, field

from workbench.image import bootloader as bl
from workbench.image import pull as pulling
from workbench.image.initramfs import Initramfs, read_initramfs_stream
from workbench.image.parttable import BIOS_BOOT_GUID
from workbench.image.kernel import HEAD, KernelId, elf_arch, identify, version_from_name
from workbench.image.tree import GuestTree, mode_kind

# /boot is pulled without what is big and not read as text (kernels, initramfs images, EFI binaries, modules)
BOOT_EXCLUDES = ["vmlinuz*", "vmlinux*", "initrd*", "initramfs*", "System.map*", "*.efi", "*.EFI", "*.mod",
                 "*.pf2", "*.img", "memtest*", "lost+found", "fonts", "locale", "themes"]
INITRAMFS_MAX = 512 << 20
MAX_CONFIGS = 16  # grub.cfg files of one pattern (EFI/*/grub.cfg) that are read
MODULE_LISTS = ("modules.builtin", "modules.dep")
CONFIG_KEYS = re.compile(r"^(CONFIG_(?:VIRTIO\w*|BLK_DEV_NVME|NVME_CORE|SCSI_VIRTIO|EXT4_FS|XFS_FS|BTRFS_FS))=(.*)$",
                         re.M)
# config symbols of the drivers the checks ask for
CONFIG_OF = {"virtio_blk": "CONFIG_VIRTIO_BLK", "virtio_net": "CONFIG_VIRTIO_NET", "virtio_pci": "CONFIG_VIRTIO_PCI",
             "nvme": "CONFIG_BLK_DEV_NVME", "nvme_core": "CONFIG_NVME_CORE", "virtio_scsi": "CONFIG_SCSI_VIRTIO"}
FALLBACK_LOADERS = {"x86_64": "BOOTX64.EFI", "arm64": "BOOTAA64.EFI", "i386": "BOOTIA32.EFI", "riscv64": "BOOTRISCV64.EFI"}


@dataclass
class KernelFacts:
    path: str  # in the guest
    version: str | None
    arch: str | None
    initrd: str | None  # in the guest
    initrd_size: int | None = None
    initramfs: Initramfs | None = None
    builtin: set[str] | None = None  # module names built into the kernel (modules.builtin)
    modules: set[str] | None = None  # module files present (modules.dep)
    config: dict[str, str] = field(default_factory=dict)  # the CONFIG_* symbols that matter, y or m
    problems: list[str] = field(default_factory=list)  # what of it could not be read

    def has(self, module: str) -> str | None:
        """How the kernel has a driver: "built in", "module", or None (not found, or not known)."""
        symbol = CONFIG_OF.get(module)
        if (self.builtin is not None and module in self.builtin) or (symbol and self.config.get(symbol) == "y"):
            return "built in"
        if (self.modules is not None and module in self.modules) or (symbol and self.config.get(symbol) == "m"):
            return "module"
        return None


@dataclass
class BootFacts:
    loader: str | None = None  # grub2 | grub2-bls | grub-legacy | extlinux
    config_path: str | None = None
    entries: int = 0
    default: bl.BootEntry | None = None
    kernel: KernelFacts | None = None
    kernels: list[str] = field(default_factory=list)  # kernel files in /boot
    boot_separate: bool = False
    esp_device: str | None = None
    esp_loaders: list[str] | None = None  # EFI/*/*.efi on the ESP (None: no ESP, or it could not be read)
    fallback_loader: str | None = None  # EFI/BOOT/BOOTX64.EFI (or the arch's) when present
    space: dict[str, dict[str, int]] = field(default_factory=dict)  # mountpoint -> statvfs numbers
    notes: list[str] = field(default_factory=list)
    binary_arch: str | None = None  # from the guest's own executables, read when the kernel's header does not say
    binary_arch_from: list[str] = field(default_factory=list)  # the executables it was read from
    problems: list[str] = field(default_factory=list)  # what a bound cut or was refused: the boot is not certain

    @property
    def cmdline(self) -> str:
        return self.default.cmdline if self.default else ""


def boot_mode_of(facts, bf: BootFacts | None) -> str | None:
    """BIOS, UEFI, both, or None (neither found): how the image can start. facts: its ImageFacts (the first
    sector's boot code, a BIOS boot partition); bf: what the session found on the ESP."""
    bios = facts.boot_code is not None or any(p.type.upper() == BIOS_BOOT_GUID for p in facts.partitions)
    uefi = bool(bf and bf.esp_loaders)
    return "both" if bios and uefi else "BIOS" if bios else "UEFI" if uefi else None


def _names(s, directory: str) -> dict[str, tuple[int, int, str | None]]:
    """{name: (st_mode, st_size, link target)} of one guest directory, in three round trips."""
    g = s._g
    try:
        names = list(g.ls(directory))
    except RuntimeError:
        return {}
    if not names:
        return {}
    try:
        stats = g.lstatnslist(directory, names)
        links = g.readlinklist(directory, names)
    except RuntimeError:
        return {}
    return {n: (st["st_mode"], st["st_size"], link or None) for n, st, link in zip(names, stats, links)}


def _esp(facts, mounts) -> tuple[str | None, str | None]:
    """(the EFI system partition's device, where the guest mounts it) or (None, None)."""
    for p in facts.partitions:
        if p.is_esp:
            where = next((m.mountpoint for m in mounts if m.device == p.device), None)
            return p.device, where
    return None, None


def _esp_loaders(s, facts, mounts, arch: str | None, out: BootFacts) -> None:
    device, where = _esp(facts, mounts)
    out.esp_device = device
    if device is None:
        return
    mounted_here = None
    if where is None:
        for spot in ("/mnt", "/media", "/srv", "/opt", "/tmp"):
            if s.is_dir(spot):
                try:
                    s.mount(device, spot, readonly=True)
                except RuntimeError as e:
                    out.notes.append(f"the EFI system partition {device} could not be mounted: {str(e)[:200]}")
                    return
                where = mounted_here = spot
                break
        else:
            out.notes.append("the EFI system partition could not be mounted: no directory to mount it on")
            return
    try:
        loaders = []
        for vendor in list(s.listdir(f"{where}/EFI"))[:64]:
            for name in list(s.listdir(f"{where}/EFI/{vendor}"))[:256]:
                if name.lower().endswith(".efi"):
                    loaders.append(f"EFI/{vendor}/{name}")
        out.esp_loaders = loaders
        wanted = FALLBACK_LOADERS.get(arch or "x86_64", "BOOTX64.EFI").lower()
        out.fallback_loader = next((p for p in loaders if p.lower() == f"efi/boot/{wanted}"), None)
    finally:
        if mounted_here:
            s.unmount(mounted_here)


def _choose_config(tree: GuestTree, facts, out: BootFacts) -> bl.BootConfig | None:
    """The configuration the image boots with: the bootloader whose code is in the first sector (or on the ESP)
    first, then any found, GRUB 2 before extlinux before GRUB legacy."""
    env: dict[str, str] = {}
    for pattern in bl.GRUBENV:
        for path in _glob(tree, pattern):
            env.update(bl.parse_grubenv(tree.read_text(path, 65536) or ""))
    bls = {n[:-5]: tree.read_text(f"{bl.BLS_DIR}/{n}", 65536) or "" for n in tree.listdir(bl.BLS_DIR)
           if n.endswith(".conf")}
    found: list[bl.BootConfig] = []
    deadline = time.monotonic() + bl.MAX_SECONDS  # one budget for every configuration
    for pattern in (*bl.GRUB2_CONFIGS, *bl.EFI_GRUB_CONFIGS):
        for path in _glob(tree, pattern)[:MAX_CONFIGS]:
            text = tree.read_text(path, bl.MAX_CONFIG)
            if text is not None:
                found.append(bl.parse_grub2(text, path, env, bls, deadline))
    for path in bl.EXTLINUX_CONFIGS:
        text = tree.read_text(path, bl.MAX_CONFIG)
        if text is not None:
            found.append(bl.parse_extlinux(text, path))
    for path in bl.LEGACY_CONFIGS:
        text = tree.read_text(path, bl.MAX_CONFIG)
        if text is not None and tree.resolve(path) not in {tree.resolve(c.path) for c in found}:
            found.append(bl.parse_grub_legacy(text, path))
    if not found:
        return None
    code = getattr(facts, "boot_code", None)
    if code == "mbr":  # a generic MBR chain-loads the active partition, where extlinux puts its own code
        found.sort(key=lambda c: c.loader != "extlinux")
    elif code in ("grub", "grub-legacy"):
        found.sort(key=lambda c: not c.loader.startswith("grub"))
    if len(found) > 1:
        out.notes.append("more than one bootloader configuration: " + ", ".join(c.path for c in found)
                         + f"; {found[0].path} is taken as the one that boots")
    out.problems += [f"{found[0].path}: {p}" for p in found[0].problems]
    return found[0]


def _glob(tree: GuestTree, pattern: str) -> list[str]:
    if "*" not in pattern:
        return [pattern] if tree.is_file(pattern) else []
    d, _, rest = pattern.partition("/*/")
    return [f"{d}/{sub}/{rest}" for sub in tree.listdir(d) if tree.is_file(f"{d}/{sub}/{rest}")]


def _existing(s, tree: GuestTree, boot: dict, candidates: list[str]) -> str | None:
    for c in candidates:
        if c.startswith("/boot/") and c.count("/") == 2:
            entry = boot.get(c[len("/boot/"):])
            if entry is not None:
                if mode_kind(entry[0]) == "link" and entry[2]:
                    target = entry[2] if entry[2].startswith("/") else posixpath.join("/boot", entry[2])
                    return posixpath.normpath(target)
                return c
        elif s.is_file(c):
            return s.realpath(c) or c
    return None


def collect(s, tree: GuestTree, facts, mounts) -> BootFacts:
    """Everything the boot checks read, from the launched session s (root and fstab mounts in place)."""
    out = BootFacts()
    notes: list[str] = []
    s.pull(tree, notes, trees=[("/boot", BOOT_EXCLUDES)], files=[], probes=[])
    out.notes += notes
    boot = _names(s, "/boot")
    out.kernels = sorted(n for n in boot if re.match(r"(vmlinuz|vmlinux|bzImage)", n))
    out.boot_separate = any(m.mountpoint == "/boot" for m in mounts)
    cfg = _choose_config(tree, facts, out)
    arch = None
    if cfg is not None:
        out.loader, out.config_path, out.entries = cfg.loader, cfg.path, len(cfg.entries)
        out.notes += cfg.notes
        out.default = cfg.default_entry
    if out.default is not None and out.default.kernel:
        kernel = _existing(s, tree, boot, bl.resolve(out.default.kernel, cfg.path, out.boot_separate))
        initrd = None
        for candidate in out.default.initrd[-1:]:  # the last one is the real initramfs (microcode comes first)
            initrd = _existing(s, tree, boot, bl.resolve(candidate, cfg.path, out.boot_separate))
        if kernel is not None and not _special(s, kernel, "kernel", out.problems):
            out.kernel = _kernel(s, tree, kernel, initrd, boot, out.problems)
            arch = out.kernel.arch
    for m in mounts:
        if m.mountpoint in ("/", "/boot"):
            try:
                st = s._g.statvfs(m.mountpoint)
                out.space[m.mountpoint] = {k: int(st[k]) for k in ("blocks", "bfree", "bavail", "frsize", "files",
                                                                   "ffree", "favail")}
            except RuntimeError:
                pass
    if arch is None:
        _binary_arch(s, out)
        arch = out.binary_arch
    _esp_loaders(s, facts, mounts, arch, out)
    return out


def _binary_arch(s, out: BootFacts) -> None:
    """The architecture of the guest's executables, when the ones read agree (a few ELF headers, 64 bytes each)."""
    found = {path: elf_arch(head) for path, head in elf_heads(s).items()}
    archs = {a for a in found.values() if a is not None}
    if len(archs) == 1:
        out.binary_arch = archs.pop()
        out.binary_arch_from = [p for p, a in found.items() if a is not None]
    elif archs:
        out.notes.append("the guest's executables disagree on their architecture: "
                         + ", ".join(f"{p} {a}" for p, a in found.items() if a))


def _special(s, path: str, what: str, problems: list[str]) -> bool:
    """True when path is not a regular file (a FIFO, device, socket or directory, or a link to one), asked of the
    appliance before anything opens it: reading a FIFO would wait for ever. The refusal is a problem. A path that
    is not there (a dangling link) is not special: it is missing, as the checks then say."""
    g = s._g
    try:
        if g.is_file(path, followsymlinks=True) or not g.exists(path):
            return False
        mode = g.stat(path)["mode"]
        kind = next((name for test, name in ((statmod.S_ISFIFO, "a FIFO"), (statmod.S_ISCHR, "a character device"),
                                             (statmod.S_ISBLK, "a block device"), (statmod.S_ISSOCK, "a socket"),
                                             (statmod.S_ISDIR, "a directory")) if test(mode)), "not a file")
    except RuntimeError as e:
        kind = f"unreadable: {str(e)[:120]}"
    problems.append(f"the {what} {path} is not a regular file ({kind}); it was not read")
    return True


def _kernel(s, tree: GuestTree, path: str, initrd: str | None, boot: dict, problems: list[str]) -> KernelFacts:
    head = s.read_small(path, HEAD, head=True) or b""
    ident: KernelId = identify(head)
    version = ident.version or version_from_name(path)
    k = KernelFacts(path, version, ident.arch, initrd)
    if version:
        text = tree.read_text(f"/boot/config-{version}", 4 << 20)
        if text is not None:
            k.config = dict(CONFIG_KEYS.findall(text))
        base = f"/lib/modules/{version}"
        for name in MODULE_LISTS:
            data = s.read_small(f"{base}/{name}", 16 << 20)
            if data is None:
                k.problems.append(f"{base}/{name} could not be read")
                continue
            found = _module_names(data.decode("utf-8", "replace"))
            if name == "modules.builtin":
                k.builtin = found
            else:
                k.modules = found
    else:
        k.problems.append(f"the version of {path} could not be told")
    if initrd is not None:
        k.initrd_size = boot.get(posixpath.basename(initrd), (0, None, None))[1] if initrd.startswith("/boot/") \
            else None
        if _special(s, initrd, "initramfs", problems):
            k.problems.append(problems[-1])
        else:
            _initramfs(s, initrd, k)
    return k


def _initramfs(s, initrd: str, k: KernelFacts) -> None:
    """The initramfs streamed from the appliance into the parser (which reads as the bytes arrive); a regular
    file (the caller asked)."""
    try:
        size = s.filesize(initrd)
    except RuntimeError as e:
        k.problems.append(f"{initrd} could not be read ({str(e)[:200]})")
        return
    k.initrd_size = size
    if size > INITRAMFS_MAX:
        k.problems.append(f"{initrd} is {size >> 20} MiB, over the {INITRAMFS_MAX >> 20} MiB read")
        return
    got: list[Initramfs] = []
    try:
        whole = pulling.stream(s, lambda out: s._g.download(initrd, out),
                               lambda f: got.append(read_initramfs_stream(f)), size + 1)
    except RuntimeError as e:
        k.problems.append(f"{initrd} could not be read ({str(e)[:200]})")
        return
    if got:
        k.initramfs = got[0]
        k.problems += [f"{initrd}: {p}" for p in k.initramfs.problems]
    if not whole or not got:
        k.problems.append(f"{initrd} could not be read whole")


def _module_names(text: str) -> set[str]:
    """Module names from modules.builtin or modules.dep lines (kernel/drivers/block/virtio_blk.ko.xz: ...)."""
    out = set()
    for line in text.splitlines()[:200_000]:
        path = line.split(":", 1)[0].strip()
        base = path.rsplit("/", 1)[-1]
        if ".ko" in base:
            out.add(base.split(".ko", 1)[0].replace("-", "_"))
    return out


# Executables every Linux userland has, whose ELF header tells the architecture when the kernel's does not
# (as libguestfs's inspection does): only their first bytes are read, one small pread each.
ELF_PROBES = ["/bin/sh", "/usr/bin/ls", "/bin/ls", "/usr/bin/env", "/sbin/init", "/bin/busybox"]
ELF_HEAD = 64  # an ELF header
ELF_READS = 3  # headers that must agree; the rest of the list is not read


def elf_heads(s, paths=None) -> dict[str, bytes]:
    """The first ELF_HEAD bytes of the first ELF_READS of paths that are regular files (links followed)."""
    out: dict[str, bytes] = {}
    for path in ELF_PROBES if paths is None else paths:
        if len(out) >= ELF_READS:
            break
        head = s.read_small(path, ELF_HEAD, head=True)
        if head:
            out[path] = head
    return out
