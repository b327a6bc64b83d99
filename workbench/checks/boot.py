"""Will it boot on ECS? The instance has a virtio-blk disk (NVMe on newer families) and firmware that knows
nothing of the image's old machine; the platform neither checks nor repairs a Customized Linux image."""

from __future__ import annotations

import re

from workbench.checks import Check, CheckResult, Context, check
from workbench.image.bootinfo import BootFacts, boot_mode_of
from workbench.image.bootloader import cmdline_value
from workbench.image.fstab import parse_fstab, resolve_spec
from workbench.text import printable
from workbench.units import human_size

ROOT_DRIVERS = ("virtio_blk", "virtio_pci")  # what the initramfs needs to reach the root disk on ECS
NIC_DRIVERS = ("virtio_net",)
ECS_MISSING = re.compile(r"^/dev/(?:sd|hd|xvd)[a-z]\S*$")  # no such device on ECS (whatever follows the letter)
BUS_BOUND = re.compile(r"^/dev/(vd[a-z]+|nvme[0-9]+n[0-9]+)(p?[0-9]+)?$")  # exists on one of ECS's two disk buses only
NETWORK_FS = {"nfs", "nfs4", "cifs", "smbfs", "smb3", "glusterfs", "ceph", "fuse.sshfs", "sshfs", "davfs",
              "fuse.glusterfs", "9p", "afs", "ocfs2", "gfs2", "lustre"}
REMOVABLE = re.compile(r"^/dev/(cdrom[0-9]*|dvd[0-9]*|sr[0-9]+|fd[0-9]+|floppy)$")
FS_MODULES = {"ext4": "ext4", "ext3": "ext4", "ext2": "ext4", "xfs": "xfs", "btrfs": "btrfs"}


def _boot(ctx: Context) -> BootFacts | None:
    return getattr(ctx.guest, "boot", None)


def boot_mode(ctx: Context) -> str | None:
    """BIOS, UEFI, both, or None (neither found): how the image can start."""
    return boot_mode_of(ctx.facts, _boot(ctx))


@check("boot.mode", "Boot mode known and bootable on ECS", "boot", "blocker", needs_guest=True)
def mode(c: Check, ctx: Context) -> CheckResult:
    bf = _boot(ctx)
    if bf is None:
        return c.result("warn", "Not reviewed: the boot files were not read.", [], incomplete=True)
    found = boot_mode(ctx)
    evidence = [f"boot mode: {found or 'unknown'}",
                f"first sector: {'boot code (' + ctx.facts.boot_code + ')' if ctx.facts.boot_code else 'no boot code'}"]
    if bf.esp_device:
        evidence.append(f"EFI system partition {bf.esp_device}: " + (", ".join(printable(p) for p in bf.esp_loaders[:8])
                                                                   if bf.esp_loaders else "no loader found"))
    if bf.esp_device and bf.esp_loaders is None and found != "BIOS":
        return c.result("warn", "The EFI system partition could not be read, so the boot mode is not certain.",
                        evidence + bf.notes[:3], incomplete=True)
    if found is None:
        return c.result("fail", "The boot mode cannot be determined: the first sector holds no boot code and there "
                                "is no EFI system partition with a loader, so nothing would start the image.",
                        evidence, "Install a bootloader (grub-install on the disk, or onto an EFI system partition) "
                                  "and export the image again.")
    if found == "UEFI" and not bf.fallback_loader:
        vendor = next((p for p in bf.esp_loaders or [] if "grub" in p.lower() or "shim" in p.lower()), None)
        return c.result("fail", "The image boots only by UEFI and has no fallback loader (EFI/BOOT/BOOTX64.EFI): "
                                "the ECS firmware has no boot entry for it, so it finds nothing to start.", evidence,
                        "Install the loader at the fallback path too (grub-install --removable, or copy "
                        f"{printable(vendor or 'EFI/<vendor>/shimx64.efi')} to EFI/BOOT/BOOTX64.EFI); import it with "
                        "BootMode=UEFI.")
    how = {"both": "by BIOS and by UEFI (import it with BootMode=BIOS or UEFI)",
           "BIOS": "by BIOS (import it with BootMode=BIOS)",
           "UEFI": f"by UEFI through its fallback loader {bf.fallback_loader} (import it with BootMode=UEFI)"}[found]
    return c.result("pass", f"The image boots {how}.", evidence)


def _root_problem(cmdline: str, ctx: Context) -> tuple[str, str] | None:
    """(status, why) when root= will not find the root file system on ECS."""
    root = cmdline_value(cmdline, "root")
    if root is None:
        return "warn", "the command line has no root=; the initramfs must guess the root file system"
    if ECS_MISSING.match(root):
        return "fail", f"root={printable(root)} names a device that will not exist on ECS (its disk is /dev/vda " \
                       "on virtio-blk, /dev/nvme0n1 on NVMe)"
    if BUS_BOUND.match(root):
        return "warn", f"root={printable(root)} exists on only one of ECS's disk buses (virtio-blk or NVMe)"
    key = root.split("=", 1)[0].upper()
    if key in ("UUID", "LABEL", "PARTUUID", "PARTLABEL") and "=" in root:
        if resolve_spec(root, ctx.guest.volumes) is None:
            return "fail", f"root={printable(root)} matches no file system in the image"
    return None


@check("boot.kernel", "The default boot entry loads a kernel and initramfs", "boot", "blocker", needs_guest=True)
def kernel(c: Check, ctx: Context) -> CheckResult:
    bf = _boot(ctx)
    if bf is None:
        return c.result("warn", "Not reviewed: the boot files were not read.", [], incomplete=True)
    evidence = bf.notes[:4]
    if bf.loader is None:
        return c.result("fail", "No bootloader configuration was found (grub.cfg, BootLoaderSpec entries, menu.lst, "
                                "extlinux.conf), so nothing tells the firmware which kernel to load.",
                        evidence + [f"kernels in /boot: {', '.join(bf.kernels) or 'none'}"],
                        "Install and configure a bootloader (grub-install and update-grub or grub2-mkconfig).")
    evidence.insert(0, f"bootloader: {bf.loader} ({printable(bf.config_path)}), {bf.entries} entries")
    if bf.problems:  # a bound cut the configuration's evaluation, or a boot file was refused
        return c.result("warn", "Not fully reviewed: the boot files could not be read whole, so which kernel and "
                                "initramfs boot is not certain.", evidence + [printable(p) for p in bf.problems[:4]],
                        incomplete=True)
    e = bf.default
    if e is None or not e.kernel:
        return c.result("fail", f"{printable(bf.config_path)} has no boot entry that loads a kernel.", evidence,
                        "Regenerate the bootloader configuration (update-grub, grub2-mkconfig).")
    evidence.append(f"default entry: {printable(e.title or e.id or '?', 120)}")
    evidence.append(f"command line: {printable(e.cmdline, 400)}")
    k = bf.kernel
    if k is None:
        return c.result("fail", f"The default entry loads {printable(e.kernel)}, which is not in the image.", evidence,
                        "Point the entry at an installed kernel (update-grub, or edit the configuration).")
    evidence.append(f"kernel: {printable(k.path)} ({printable(k.version or 'version unknown')}, "
                    f"{k.arch or 'architecture unknown'})")
    problems: list[tuple[str, str]] = []
    if not k.initrd:
        builtin = all(k.has(m) == "built in" for m in ROOT_DRIVERS)
        problems.append(("warn" if builtin else "fail",
                         "the default entry loads no initramfs" if not e.initrd
                         else f"its initramfs {printable(e.initrd[-1])} is not in the image"))
    else:
        evidence.append(f"initramfs: {printable(k.initrd)} ({human_size(k.initrd_size)})")
    root = _root_problem(e.cmdline, ctx)
    if root:
        problems.append(root)
    if any(s == "fail" for s, _ in problems):
        return c.result("fail", "The image will not boot on ECS: " + "; ".join(w for _, w in problems) + ".",
                        evidence, "Boot by UUID (root=UUID=... from blkid) and make sure the entry's kernel and "
                                  "initramfs are installed; then regenerate the bootloader configuration.")
    if problems:
        return c.result("warn", "; ".join(w for _, w in problems).capitalize() + ".", evidence,
                        "Boot by UUID (root=UUID=...) so that the root is found on every disk bus.", severity="medium")
    return c.result("pass", "The default entry loads an installed kernel and initramfs, and root= will be found on "
                            "ECS.", evidence)


def _kernel_or_skip(c: Check, ctx: Context):
    bf = _boot(ctx)
    if bf is None:
        return None, c.result("warn", "Not reviewed: the boot files were not read.", [], incomplete=True)
    if bf.kernel is None:
        return None, c.result("skip", "Not judged: there is no default kernel (see boot.kernel).", severity="info")
    return bf.kernel, None


def _rebuild(k) -> dict | None:
    return {"fix.initramfs-drivers": [f"{k.version}\t{k.initrd}"]} if k.version and k.initrd else None


@check("boot.kernel-drivers", "The kernel has virtio drivers", "boot", "blocker", needs_guest=True)
def kernel_drivers(c: Check, ctx: Context) -> CheckResult:
    k, skipped = _kernel_or_skip(c, ctx)
    if skipped:
        return skipped
    wanted = ROOT_DRIVERS + NIC_DRIVERS
    how = {m: k.has(m) for m in wanted}
    evidence = [f"{m}: {how[m] or 'not found'}" for m in wanted] + [f"kernel {printable(k.version)}"]
    missing = [m for m in wanted if how[m] is None]
    if missing and (k.builtin is None or k.modules is None) and not k.config:
        return c.result("warn", "Not reviewed: the kernel's module lists could not be read, so its drivers are "
                                "unknown.", evidence + [printable(p) for p in k.problems[:4]], incomplete=True)
    if missing:
        return c.result("fail", f"The default kernel has no {', '.join(missing)}: it cannot see ECS's "
                                "virtio disk or network card.", evidence,
                        "Install a kernel built with virtio drivers (every distribution kernel has them; a custom "
                        "kernel needs CONFIG_VIRTIO_PCI, CONFIG_VIRTIO_BLK, CONFIG_VIRTIO_NET).")
    return c.result("pass", "The default kernel has the virtio disk, PCI and network drivers.", evidence)


@check("boot.initramfs-drivers", "The initramfs reaches the root disk on ECS", "boot", "blocker", needs_guest=True)
def initramfs_drivers(c: Check, ctx: Context) -> CheckResult:
    k, skipped = _kernel_or_skip(c, ctx)
    if skipped:
        return skipped
    root_fs = next((m.fs for m in ctx.guest.mounts if m.mountpoint == "/"), None)
    need = [m for m in ROOT_DRIVERS if k.has(m) != "built in"]
    fs_module = FS_MODULES.get(root_fs or "")
    if fs_module and k.has(fs_module) == "module":
        need.append(fs_module)
    evidence = [f"kernel {printable(k.version)}: " + ", ".join(f"{m} {k.has(m) or 'missing'}"
                                                              for m in (*ROOT_DRIVERS, fs_module) if m)]
    if not need:
        return c.result("pass", "The kernel has the virtio disk drivers built in: no initramfs module is needed.",
                        evidence)
    if k.initramfs is None:
        return c.result("warn", "Not reviewed: the initramfs could not be read.",
                        evidence + [printable(p) for p in k.problems[:4]], incomplete=True)
    have = k.initramfs.modules()
    evidence.append(f"initramfs {printable(k.initrd)}: {len(k.initramfs.files)} files ("
                    + " + ".join(k.initramfs.segments) + "); virtio/nvme modules: "
                    + (", ".join(sorted(m for m in have if m.startswith(("virtio", "nvme")))) or "none"))
    missing = [m for m in need if m not in have]
    if not k.initramfs.complete:  # cut (a bound, damage): never a pass, even with the drivers in what was read
        found = f"what was read lacks {', '.join(missing)}" if missing else f"what was read has {', '.join(need)}"
        return c.result("warn", f"Not fully reviewed: the initramfs could not be read whole; {found}.",
                        evidence + [printable(p) for p in k.initramfs.problems[:3]], incomplete=True)
    if missing:
        return c.result("fail", f"The initramfs lacks {', '.join(missing)}: on ECS the kernel will not find its root "
                                "disk and stops with \"VFS: Unable to mount root fs\".", evidence,
                        "Rebuild it with the virtio drivers (fix.initramfs-drivers runs the image's own "
                        "dracut or update-initramfs in the appliance).",
                        offers=_rebuild(k))
    return c.result("pass", "The initramfs holds the drivers that reach the root disk on ECS (" + ", ".join(need)
                    + ").", evidence)


@check("boot.nvme", "The image can run on NVMe instance families", "boot", "medium", needs_guest=True)
def nvme(c: Check, ctx: Context) -> CheckResult:
    k, skipped = _kernel_or_skip(c, ctx)
    if skipped:
        return skipped
    how = k.has("nvme")
    in_initramfs = k.initramfs is not None and "nvme" in k.initramfs.modules()
    evidence = [f"nvme: {how or 'not found'} in kernel {printable(k.version)}"
                + ("" if how == "built in" else f", {'in' if in_initramfs else 'not in'} the initramfs")]
    if how == "built in" or (how == "module" and in_initramfs):
        return c.result("pass", "The kernel and initramfs have the NVMe driver: import it with "
                                "Features.NvmeSupport=supported.", evidence)
    cut = how == "module" and (k.initramfs is None or not k.initramfs.complete)  # it may be in what was not read
    why = "the kernel has no NVMe driver" if how is None else \
        "the nvme module is not in what could be read of the initramfs" if cut else "the initramfs lacks the nvme module"
    return c.result("warn", f"The image cannot boot from an NVMe disk ({why}): import it with "
                            "Features.NvmeSupport=unsupported, which keeps it off NVMe instance families.", evidence,
                    "Rebuild the initramfs with nvme (fix.initramfs-drivers adds it) to run on NVMe families.",
                    offers=_rebuild(k) if how == "module" else None, incomplete=cut)


def _fstab_verdict(e, ctx: Context) -> tuple[str, str, str | None] | None:
    """(fail | warn, why, fix target) for one entry, or None when it is fine on ECS."""
    opts = e.options.split(",")
    if "noauto" in opts:
        return None
    optional = "nofail" in opts
    if e.fstype in NETWORK_FS or "_netdev" in opts:
        return None if optional else ("fail", "a network mount without nofail stops the boot when it cannot be "
                                              "reached", None)
    if REMOVABLE.match(e.spec):
        return None if optional else ("fail", "removable media without nofail (ECS has no such drive)", None)
    vol = resolve_spec(e.spec, ctx.guest.volumes) if ECS_MISSING.match(e.spec) or BUS_BOUND.match(e.spec) else None
    target = f"{e.spec}\tUUID={vol.uuid}" if vol is not None and vol.uuid else None
    if ECS_MISSING.match(e.spec):
        return ("warn" if optional else "fail", "a kernel device name that will not exist on ECS", target)
    if BUS_BOUND.match(e.spec):
        return "warn", "a kernel device name that exists on only one of ECS's disk buses", target
    if "=" in e.spec and e.spec.split("=", 1)[0].upper() in ("UUID", "LABEL", "PARTUUID", "PARTLABEL"):
        if resolve_spec(e.spec, ctx.guest.volumes) is None and not optional:
            return "fail", f"no file system in the image has this {e.spec.split('=', 1)[0]}", None
    return None


READERS = {"both": "", "glibc": ", as systemd's getmntent reads the line", "libmount": ", as libmount reads the line"}


@check("boot.fstab", "fstab finds its file systems on ECS", "boot", "high", needs_guest=True, reads=("/etc/fstab",))
def fstab(c: Check, ctx: Context) -> CheckResult:
    """Every entry systemd (getmntent) or mount (libmount) reads, each line judged once, however long the file
    (the tree bounds its bytes and marks a bigger one not read)."""
    data = ctx.tree.read_bytes("/etc/fstab")
    if data is None:
        return c.result("skip", "Not judged: the image has no /etc/fstab.", severity="info")
    failures, warnings, targets = [], [], []
    judged: dict[int, str] = {}
    for e in parse_fstab(data):
        v = _fstab_verdict(e, ctx)
        if v is None or judged.get(e.line) in ("fail", v[0]):
            continue
        judged[e.line] = v[0]
        where = f"line {e.line}: {printable(e.spec)} on {printable(e.mountpoint)} ({printable(e.fstype)})"
        (failures if v[0] == "fail" else warnings).append(f"{where}: {v[1]}{READERS[e.reader]}")
        if v[2] and v[2] not in targets:
            targets.append(v[2])
    offers = {"fix.fstab-uuid": targets} if targets else None
    if failures:
        return c.result("fail", f"{len(failures)} fstab entr{'y' if len(failures) == 1 else 'ies'} will stop the boot "
                                "on ECS (systemd waits for the device, then drops to emergency mode).",
                        failures + warnings, "Mount by UUID= (fix.fstab-uuid rewrites device names), and add nofail "
                                             "to network and removable mounts.", offers=offers)
    if warnings:
        return c.result("warn", "Some fstab entries depend on ECS's disk bus.", warnings,
                        "Mount by UUID= (fix.fstab-uuid).", severity="medium", offers=offers)
    return c.result("pass", "Every fstab entry needed at boot names a file system the image has, by UUID or label.")


@check("boot.serial-console", "A console on the serial port", "boot", "low", needs_guest=True)
def serial_console(c: Check, ctx: Context) -> CheckResult:
    bf = _boot(ctx)
    if bf is None or bf.default is None:
        return c.result("skip", "Not judged: there is no default boot entry (see boot.kernel).", severity="info")
    consoles = [w[len("console="):] for w in bf.default.cmdline.split() if w.startswith("console=")]
    evidence = [f"console= on the command line: {', '.join(printable(x) for x in consoles) or 'none'}"]
    if any(x == "ttyS0" or x.startswith("ttyS0,") for x in consoles):
        return c.result("pass", "The default entry puts a console on ttyS0, which the ECS serial console reads.",
                        evidence)
    return c.result("warn", "The default entry has no console on ttyS0: the ECS serial console (and a boot "
                            "rehearsal) will show nothing of the boot.", evidence,
                    "Add console=tty0 console=ttyS0,115200n8 to the kernel command line (fix.serial-console).",
                    offers={"fix.serial-console": [bf.config_path or ""]})


@check("boot.init", "The init system will start the parser", "boot", "blocker", needs_guest=True,
       reads=("/etc", "/sbin/init", "/usr/sbin/init"))
def init_system(c: Check, ctx: Context) -> CheckResult:
    """The parser applies os.conf (network, password, host name) at first boot only if the image's init system
    starts it: an init the workbench cannot register it with is a blocker, named, never an LSB script nothing runs."""
    from workbench.image.osinfo import init_program
    from workbench.inits import STYLES, init_name, init_style

    init = ctx.os.init if ctx.os is not None else None
    style = init_style(init, ctx.tree)
    program = init_program(ctx.tree)
    evidence = [f"init system: {init or 'not recognised'}" + (f" (/sbin/init -> {printable(program)})"
                                                               if program else "")]
    if style not in STYLES:
        name = init_name(init, ctx.tree)
        return c.result("fail", f"The image's init system is {name}: the workbench cannot register the os-conf parser "
                                "with it, so nothing would apply the platform's os.conf at first boot (no network "
                                "configuration, password or host name from the console).", evidence,
                        "Use an image whose init system is systemd, sysvinit, OpenRC, runit or busybox init (with "
                        "a Buildroot-style rcS), or start /etc/init.d/os-conf with the argument start early in "
                        "the boot, before the network comes up, by the image's own means.")
    writes = STYLES[style].register(ctx.tree)
    evidence += [f"{w.path}: {w.reason}" for w in writes]
    return c.result("pass", f"The parser is registered with {style} (init system {init or 'from its directories'}) "
                            "and runs before the network comes up.", evidence)
