"""Boot fixes: the initramfs rebuilt with virtio (by the image's own tool, in the appliance), fstab by UUID,
and kernel command-line words added the distribution's way (/etc/default/grub and the regenerated grub.cfg,
BootLoaderSpec entries, extlinux.conf, menu.lst)."""

from __future__ import annotations

import re

from workbench.changes import Change
from workbench.fixes import Fix, FixCommand, View, register_fix

DRIVERS = ("virtio_blk", "virtio_pci", "virtio_net", "virtio_scsi", "nvme")
INITRAMFS_TOOLS = "/etc/initramfs-tools/modules"
INITRAMFS_CONF = "/etc/initramfs-tools/initramfs.conf"
INITRAMFS_CONF_D = "/etc/initramfs-tools/conf.d"
INITRAMFS_OVERRIDE = INITRAMFS_CONF_D + "/90-workbench-ecs"
DRACUT_CONF = "/etc/dracut.conf.d/90-workbench-ecs.conf"
GRUBENV_SIZE = 1024


def _tool(view: View) -> str | None:
    for name, paths in (("update-initramfs", ("/usr/sbin/update-initramfs",)),
                        ("dracut", ("/usr/bin/dracut", "/usr/sbin/dracut")),
                        ("mkinitrd", ("/sbin/mkinitrd", "/usr/sbin/mkinitrd"))):
        if any(view.present(p) for p in paths):
            return name
    return None


def _initramfs_tools_modules(view: View) -> str:
    """The MODULES= initramfs-tools will use: initramfs.conf, then conf.d in name order (the last one wins)."""
    value = "most"
    names = sorted(n for n in view.listdir(INITRAMFS_CONF_D) if not n.startswith("."))
    for path in [INITRAMFS_CONF] + [f"{INITRAMFS_CONF_D}/{n}" for n in names]:
        for m in re.finditer(r"^\s*MODULES=[\"']?(\w+)", view.read_text(path) or "", re.M):
            value = m.group(1)
    return value


@register_fix("fix.initramfs-drivers", "Rebuild the initramfs with the virtio and NVMe drivers")
def initramfs_drivers(fix: Fix, view: View) -> None:
    """targets: "version<TAB>initramfs path" of the default kernel."""
    for target in fix.targets[:1]:
        version, _, initrd = target.partition("\t")
        if not version or not initrd:
            fix.notes.append("the default kernel's version or initramfs is unknown: nothing to rebuild")
            return
        tool = _tool(view)
        verify = {"initramfs": initrd, "modules": ["virtio_blk", "virtio_pci"]}
        if tool == "update-initramfs":
            before = view.read_text(INITRAMFS_TOOLS)
            have = set((before or "").split())
            add = [m for m in DRIVERS if m not in have]
            if add:
                text = (before or "# modules to put in the initramfs, one a line\n").rstrip("\n") + "\n"
                text += "# added by workbench (fix.initramfs-drivers): ECS's virtual disk and network\n"
                text += "".join(f"{m}\n" for m in add)
                fix.changes.append(Change(INITRAMFS_TOOLS, "modify" if before is not None else "create",
                                              before, text, mode=0o644))
            if _initramfs_tools_modules(view) == "dep":
                fix.changes.append(Change(
                    INITRAMFS_OVERRIDE, "create", None,
                    "# added by workbench (fix.initramfs-drivers): MODULES=dep picks drivers for the machine the\n"
                    "# initramfs is built on, which was the workbench's appliance, not ECS\nMODULES=most\n", mode=0o644))
                fix.notes.append("the image builds its initramfs with MODULES=dep, which picks the drivers of the "
                                 "machine it runs on (here the appliance, not ECS): the rebuild uses MODULES=most "
                                 f"through {INITRAMFS_OVERRIDE}; delete that file on ECS for a smaller one")
            fix.commands.append(FixCommand(["update-initramfs", "-u", "-k", version], [initrd],
                                           "the image's own initramfs-tools rebuilds it, with the modules above",
                                           verify))
        elif tool == "dracut":
            before = view.read_text(DRACUT_CONF)
            text = ("# added by workbench (fix.initramfs-drivers): ECS's virtual disk and network\n"
                    f'add_drivers+=" {" ".join(DRIVERS)} "\n')
            if before != text:
                fix.changes.append(Change(DRACUT_CONF, "modify" if before is not None else "create", before,
                                              text, mode=0o644))
            fix.commands.append(FixCommand(["dracut", "--force", initrd, version], [initrd],
                                           "the image's own dracut rebuilds it, with the drivers above", verify))
        elif tool == "mkinitrd":
            fix.commands.append(FixCommand(["mkinitrd", "-f", *(f"--with={m}" for m in DRIVERS[:3]), initrd, version],
                                           [initrd], "the image's own mkinitrd rebuilds it with the drivers", verify))
        else:
            fix.notes.append("the image has no initramfs tool (dracut, update-initramfs, mkinitrd): the initramfs "
                             "cannot be rebuilt here; install one in the image, or rebuild it where it was made")
            return
        fix.notes.append(f"the old {initrd} is kept in the manifest's backups; uninject puts it back")


@register_fix("fix.fstab-uuid", "Mount by UUID instead of kernel device names")
def fstab_uuid(fix: Fix, view: View) -> None:
    """targets: "device<TAB>UUID=..." for each fstab entry to rewrite."""
    text = view.read_text("/etc/fstab")
    if text is None:
        return
    mapping = dict(t.split("\t", 1) for t in fix.targets if "\t" in t)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        fields = line.split()
        if fields and not fields[0].startswith("#") and fields[0] in mapping:
            lines[i] = line.replace(fields[0], mapping[fields[0]], 1)
    after = "\n".join(lines)
    if after != text:
        fix.changes.append(Change("/etc/fstab", "modify", text, after))


# -- the kernel command line -------------------------------------------------------------------------------------
def _add_words(line: str, words: list[str], drop=()) -> str:
    parts = [w for w in line.split() if not any(w.startswith(d) for d in drop)]
    return " ".join(parts + [w for w in words if w not in parts])


def _edit(fix: Fix, view: View, path: str, edit) -> None:
    text = view.read_text(path)
    if text is None:
        return
    after = edit(text)
    if after != text:
        fix.changes.append(Change(path, "modify", text, after))


def _default_grub(text: str | None, words: list[str], drop) -> str:
    text = text if text is not None else ""
    m = re.search(r'^(GRUB_CMDLINE_LINUX=)(["\']?)(.*?)\2\s*$', text, re.M)
    if m:
        return text[:m.start()] + f'{m.group(1)}"{_add_words(m.group(3), words, drop)}"' + text[m.end():]
    return text.rstrip("\n") + ("\n" if text else "") + f'GRUB_CMDLINE_LINUX="{" ".join(words)}"\n'


def _grubenv(text: str, words: list[str], drop) -> str:
    """grubenv is a fixed 1024-byte block: kernelopts edited, padding with # kept so the size does not change."""
    body = []
    for line in text.split("\n"):
        if not line or set(line) == {"#"}:  # the padding
            continue
        if line.startswith("kernelopts="):
            line = "kernelopts=" + _add_words(line[len("kernelopts="):], words, drop)
        body.append(line)
    out = "\n".join(body) + "\n"
    return out + "#" * max(0, GRUBENV_SIZE - len(out.encode()))


def add_cmdline_words(fix: Fix, view: View, config: str, words: list[str], drop=()) -> None:
    """Put words on every boot entry's kernel command line, the way the bootloader at config is configured
    (file changes, and for GRUB 2 the image's grub-mkconfig run in the appliance)."""
    if config.endswith((".conf", ".cfg")) and ("extlinux" in config or "syslinux" in config):
        _edit(fix, view, config, lambda t: re.sub(r"^(\s*APPEND\s+)(.*)$",
                                                  lambda m: m.group(1) + _add_words(m.group(2), words, drop),
                                                  t, flags=re.M | re.I))
        return
    if config.endswith(("menu.lst", "grub.conf")):
        _edit(fix, view, config, lambda t: re.sub(r"^(\s*kernel\s+\S+)(.*)$",
                                                  lambda m: m.group(1) + " " + _add_words(m.group(2), words, drop),
                                                  t, flags=re.M))
        return
    # GRUB 2: the distribution's settings, then its generated configuration regenerated
    before = view.read_text("/etc/default/grub")
    fix.changes.append(Change("/etc/default/grub", "modify" if before is not None else "create", before,
                                  _default_grub(before, words, drop), mode=0o644))
    entries = [n for n in view.listdir("/boot/loader/entries") if n.endswith(".conf")]
    if entries:  # BootLoaderSpec: grub2-mkconfig leaves the entries alone; their options lines carry the words
        for name in entries:
            path = f"/boot/loader/entries/{name}"
            _edit(fix, view, path, lambda t: re.sub(r"^(options\s+)(.*)$",
                                                    lambda m: m.group(1) + (m.group(2) if "$kernelopts" in m.group(2)
                                                                            else _add_words(m.group(2), words, drop)),
                                                    t, flags=re.M))
        for env in ("/boot/grub2/grubenv", "/boot/grub/grubenv"):
            text = view.read_text(env)
            if text and "kernelopts=" in text:
                _edit(fix, view, env, lambda t: _grubenv(t, words, drop))
        return
    tool = next((p.rsplit("/", 1)[1] for p in ("/usr/sbin/grub2-mkconfig", "/usr/sbin/grub-mkconfig")
                 if view.present(p)), None)
    if tool is None:
        fix.notes.append(f"no grub-mkconfig in the image: {config} is left as it is; regenerate it after import")
        return
    fix.commands.append(FixCommand([tool, "-o", config], [config],
                                   f"the image's own {tool} regenerates {config} from /etc/default/grub",
                                   {"boot_config": config, "words": words}))


@register_fix("fix.serial-console", "Put a console on the serial port")
def serial_console(fix: Fix, view: View) -> None:
    """targets: the bootloader configuration."""
    for config in fix.targets[:1]:
        if config:
            add_cmdline_words(fix, view, config, ["console=tty0", "console=ttyS0,115200n8"], drop=("console=",))
