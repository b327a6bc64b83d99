"""How a rehearsal boots the image: by its own BIOS bootloader when it can be watched, else its own kernel."""

from __future__ import annotations

import os
import re
import shutil

from workbench.image.preflight import ImageFacts, boot_code
from workbench.image.pvh import pvh_file
from workbench.image.qemu import ByteReader
from workbench.image.tree import GuestTree
from workbench.rehearse.result import RehearsalError

BOOT_MODES = ("auto", "bootloader", "kernel")
DISKS = ("virtio", "nvme")  # the system disk's bus on ECS: virtio-blk, or NVMe on newer instance families
FIRMWARES = ("auto", "bios", "uefi")
OVMF = [("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
        ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd")]
CMDLINE_WORD = re.compile(r"[A-Za-z0-9_.,=/:+@%-]+")  # no bootloader variables ($x), quotes or controls
MAX_CMDLINE = 2048
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
        if not s.is_file(k):  # only regular files are downloaded (a FIFO would hang the transfer)
            continue
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


def choose_boot(mode: str, has_code: bool, serial_config: str | None, firmware: str = "bios") -> tuple[str, str]:
    """(bootloader|kernel, why). Raises RehearsalError when the asked-for bootloader boot cannot be watched."""
    if mode == "kernel":
        return "kernel", "direct kernel boot, as asked"
    if has_code and serial_config:
        return "bootloader", f"the image's own bootloader ({serial_config} puts the console on ttyS0)"
    if not has_code:
        why = ("the EFI system partition has no fallback loader (EFI/BOOT/BOOTX64.EFI)" if firmware == "uefi"
               else "the first sector has no BIOS boot code")
    else:
        why = ("no bootloader configuration in /boot puts the console on the serial port (console=ttyS0), "
               "where the rehearsal watches the parser")
    if mode == "bootloader":
        raise RehearsalError(f"the image's bootloader cannot be rehearsed: {why}")
    return "kernel", f"direct kernel boot: {why}"


def image_cmdline(bf, root_uuid: str, grub_words: str = "") -> tuple[str, list[str]]:
    """The kernel command line the image boots with on ECS (its bootloader's default entry), for a direct boot:
    (command line, notes). Nothing is added but a console on ttyS0 when the image has none (the rehearsal reads
    the serial console). Without a default entry: root= by UUID and the words of /etc/default/grub, and a note."""
    notes = []
    entry = getattr(bf, "default", None)
    if entry is not None and entry.cmdline.strip():
        words = entry.cmdline.split()
        kept = [w for w in words if CMDLINE_WORD.fullmatch(w)]
        if len(kept) < len(words):
            notes.append(f"{len(words) - len(kept)} word(s) of the entry's command line left out (bootloader "
                         "variables or characters a kernel command line does not carry)")
        cmdline = " ".join(kept)[:MAX_CMDLINE]
        notes.insert(0, f"the kernel command line of the default entry in {bf.config_path}")
    else:
        cmdline = " ".join(filter(None, [f"root=UUID={root_uuid}", "ro", grub_words]))
        notes.append("the image has no bootloader entry to take the kernel command line from; booted with a made-up "
                     f"one: {cmdline}")
    if not SERIAL_CONSOLE.search(cmdline):
        cmdline += " console=ttyS0,115200"
        notes.append("console=ttyS0,115200 added: the image puts no console on the serial port (boot.serial-console), "
                     "where the rehearsal watches the boot")
    return cmdline, notes


def boot_files(s, bf) -> tuple[str, str, list[str]]:
    """The kernel and initramfs to boot directly: the default entry's, else the newest in /boot (with a note)."""
    k = getattr(bf, "kernel", None)
    if k is not None and k.initrd and s.is_file(k.path) and s.is_file(k.initrd):
        return k.path, k.initrd, []
    kernel, initrd = newest_kernel(s)
    if getattr(bf, "default", None) is None:
        return kernel, initrd, []  # no entry at all: image_cmdline says so
    return kernel, initrd, [f"the default entry's kernel and initramfs were not found; booted the newest in /boot, "
                            f"{kernel}"]


def direct_boot(s, tmp: str, root_device: str, bf=None, grub_words: str = "",
                pvh: bool = False) -> tuple[str, list[str], list[str]]:
    """Take the image's kernel and initramfs out of the mounted guest into tmp:
    (kernel, qemu arguments, notes). The command line is the image's own (image_cmdline). pvh (under TCG): the
    kernel decompressed here and started at its PVH entry when it has one (image/pvh.py: 3-4 s less a boot; by
    SeaBIOS only: OVMF loads no ELF)."""
    kernel, initrd, notes = boot_files(s, bf)
    for path in (kernel, initrd):
        size = s.filesize(path)
        if size > MAX_BOOT_FILE:
            raise RehearsalError(f"{path} is {size >> 20} MiB, more than a kernel or initramfs can be "
                                 f"({MAX_BOOT_FILE >> 20} MiB); it was not read")
    s.download(kernel, os.path.join(tmp, "vmlinuz"))
    s.download(initrd, os.path.join(tmp, "initrd"))
    cmdline, more = image_cmdline(bf, s.fs_uuid(root_device), grub_words)
    started = os.path.join(tmp, "vmlinuz")
    if pvh and pvh_file(started, os.path.join(tmp, "vmlinux")):
        started = os.path.join(tmp, "vmlinux")
        more.append("the kernel was decompressed on the host and started at its PVH entry (under TCG its own "
                    "decompression takes seconds of emulated time)")
    return kernel, ["-kernel", started, "-initrd", os.path.join(tmp, "initrd"), "-append", cmdline], notes + more


def ovmf() -> tuple[str, str] | None:
    """The distribution's UEFI firmware for qemu (code, variable store template), or None."""
    for code, template in OVMF:
        if os.path.exists(code) and os.path.exists(template):
            return code, template
    return None


def choose_firmware(asked: str, mode: str | None) -> tuple[str, str]:
    """(bios|uefi, why) from --firmware and the image's boot mode (BIOS, UEFI, both or None)."""
    if asked in ("bios", "uefi"):
        return asked, "as asked"
    if mode == "UEFI":
        return "uefi", "the image boots only by UEFI"
    return "bios", {"both": "the image boots by BIOS and UEFI; BIOS chosen", "BIOS": "the image boots by BIOS",
                    None: "the image's boot mode is unknown; BIOS tried"}.get(mode, "BIOS")


def firmware_args(firmware: str, tmp: str) -> list[str]:
    """qemu arguments for the firmware: none for SeaBIOS, OVMF's code and a private copy of its variables."""
    if firmware != "uefi":
        return []
    found = ovmf()
    if found is None:
        raise RehearsalError("UEFI firmware (OVMF) is not installed, so a UEFI boot cannot be rehearsed "
                             "(apt install ovmf)")
    code, template = found
    variables = os.path.join(tmp, "OVMF_VARS.fd")
    shutil.copyfile(template, variables)
    return ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={variables}"]
