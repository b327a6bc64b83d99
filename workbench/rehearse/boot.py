"""How a rehearsal boots the image: by its own BIOS bootloader when it can be watched, else its own kernel."""

from __future__ import annotations

import os
import re

from workbench.image.preflight import ImageFacts, boot_code
from workbench.image.qemu import ByteReader
from workbench.image.tree import GuestTree
from workbench.rehearse.result import RehearsalError

BOOT_MODES = ("auto", "bootloader", "kernel")
# where BIOS bootloaders keep the kernel command line, as the guest mounts them
BOOT_CONFIGS = ("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/boot/extlinux/extlinux.conf", "/boot/extlinux.conf",
                "/boot/syslinux/syslinux.cfg", "/boot/syslinux.cfg", "/extlinux.conf")
SERIAL_CONSOLE = re.compile(r"(^|\s)console=ttyS0(\s|,|$)")
MAX_BOOT_FILE = 512 << 20  # a kernel or initramfs read out of the image for a direct boot


def newest_kernel(s) -> tuple[str, str]:
    def version_key(path: str):
        return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path)]

    kernels = sorted((k for k in s.glob("/boot/vmlinuz-*") if not k.endswith(".old")), key=version_key)
    for k in reversed(kernels):
        v = k[len("/boot/vmlinuz-"):]
        for initrd in (f"/boot/initrd.img-{v}", f"/boot/initramfs-{v}.img", f"/boot/initrd-{v}"):
            if s.is_file(initrd):
                return k, initrd
    raise RehearsalError("the image has no kernel with an initramfs in /boot to boot")


def grub_cmdline(tree: GuestTree) -> str:
    text = tree.read_text("/etc/default/grub", 65536) or ""
    parts = []
    for key in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"):
        m = re.search(rf'^\s*{key}\s*=\s*"?([^"\n]*)"?', text, re.M)
        if m:
            parts += [w for w in m.group(1).split() if re.fullmatch(r"[A-Za-z0-9_.,=/:-]+", w)
                      and not w.startswith(("console=", "root="))]
    return " ".join(parts)


def bios_boot_code(facts: ImageFacts) -> bool:
    """Whether the first sector holds boot code (an MBR signature and a non-empty code area)."""
    return boot_code(ByteReader(facts.path, facts.format, facts.virtual_size).read(0, 512)) is not None


def serial_boot_config(s) -> str | None:
    """The bootloader configuration whose kernel lines put the console on ttyS0, or None."""
    for path in BOOT_CONFIGS:
        try:
            if not s.is_file(path) or s.filesize(path) > 4 << 20:
                continue
            text = s.read_file(path).decode("utf-8", "replace")
        except RuntimeError:
            continue
        for line in text.splitlines():
            words = line.strip()
            if words.lower().startswith(("linux", "append", "kernel")) and SERIAL_CONSOLE.search(words):
                return path
    return None


def choose_boot(mode: str, has_code: bool, serial_config: str | None) -> tuple[str, str]:
    """(bootloader|kernel, why). Raises RehearsalError when the asked-for bootloader boot cannot be watched."""
    if mode == "kernel":
        return "kernel", "direct kernel boot, as asked"
    if has_code and serial_config:
        return "bootloader", f"the image's own bootloader ({serial_config} puts the console on ttyS0)"
    if not has_code:
        why = "the first sector has no BIOS boot code"
    else:
        why = ("no bootloader configuration in /boot puts the console on the serial port (console=ttyS0), "
               "where the rehearsal watches the parser")
    if mode == "bootloader":
        raise RehearsalError(f"the image's bootloader cannot be rehearsed: {why}")
    return "kernel", f"direct kernel boot: {why}"


def direct_boot(s, tmp: str, root_device: str, extra: str = "") -> tuple[str, list[str]]:
    """Take the newest kernel and initramfs out of the mounted guest into tmp: (kernel, qemu arguments)."""
    kernel, initrd = newest_kernel(s)
    for path in (kernel, initrd):
        size = s.filesize(path)
        if size > MAX_BOOT_FILE:
            raise RehearsalError(f"{path} is {size >> 20} MiB, more than a kernel or initramfs can be "
                                 f"({MAX_BOOT_FILE >> 20} MiB); it was not read")
    s.download(kernel, os.path.join(tmp, "vmlinuz"))
    s.download(initrd, os.path.join(tmp, "initrd"))
    cmdline = " ".join(filter(None, [f"root=UUID={s.fs_uuid(root_device)}", "ro", extra, "console=ttyS0,115200",
                                     "net.ifnames=0", "biosdevname=0", "panic=-1"]))
    return kernel, ["-kernel", os.path.join(tmp, "vmlinuz"), "-initrd", os.path.join(tmp, "initrd"),
                    "-append", cmdline]
