"""The import limits of a Customized Linux image: format, virtual size, first partition."""

from __future__ import annotations

from workbench.checks import Check, CheckResult, Context, check
from workbench.image.preflight import Partition
from workbench.image.sniff import EXT_NEWER_FEATURES, OLD_WRITER_KERNEL
from workbench.units import GiB, MiB, human_size

MIN_VIRTUAL_SIZE = 5 * GiB  # the virtual size must be strictly greater
MIN_FREE_BYTES = 1 * MiB
ACCEPTED_FORMATS = {"qcow2": "qcow2", "raw": "RAW", "vpc": "VHD"}
CONVERTIBLE_FORMATS = {"vmdk": "VMDK", "vhdx": "VHDX"}
ACCEPTED_FS = {"fat32": "FAT32", "ext2": "ext2", "ext3": "ext3", "ext4": "ext4", "ufs1": "UFS", "ufs2": "UFS2"}
READ_ONLY_FS = {"squashfs", "iso9660"}


def accepted_first(p: Partition) -> bool:
    """Whether the platform can take this partition as the first one (its file system, not a BIOS boot area)."""
    return p.filesystem in ACCEPTED_FS and not p.is_bios_boot


def _image_name(ctx: Context) -> str:
    return ctx.facts.name


@check("limit.image-format", "Image format", "limits", "blocker")
def image_format(c: Check, ctx: Context) -> CheckResult:
    f = ctx.facts
    evidence = [f"format: {f.format}"]
    if f.backing_chain:
        evidence += [f"backing file: {b}" for b in f.backing_chain]
        return c.result("fail", "The image is an overlay on a backing file: uploaded alone it is an incomplete disk.",
                        evidence, f"Write a standalone copy: qemu-img convert -O qcow2 {_image_name(ctx)} flat.qcow2")
    if f.corrupt:
        return c.result("fail", f"qemu marks this {f.format} image as corrupt.", evidence,
                        f"Repair it (qemu-img check -r all {_image_name(ctx)}) or export the disk again.")
    if f.format in ACCEPTED_FORMATS:
        name = ACCEPTED_FORMATS[f.format]
        if f.dirty:
            evidence.append("the qcow2 dirty flag is set (lazy refcounts not flushed)")
            return c.result("warn", f"{name} is accepted, but the image was not closed cleanly.", evidence,
                            f"Let qemu repair it: qemu-img check -r leaks {_image_name(ctx)}", severity="low")
        return c.result("pass", f"{name} is a format the import accepts.", evidence)
    if f.format in CONVERTIBLE_FORMATS:
        name = CONVERTIBLE_FORMATS[f.format]
        return c.result("warn", f"{name} is not accepted by the import; convert the image before uploading.",
                        evidence, f"qemu-img convert -O qcow2 {_image_name(ctx)} {_stem(ctx)}.qcow2", severity="medium")
    return c.result("fail", f"The import does not accept the {f.format} format (qcow2, RAW and VHD are accepted).",
                    evidence, f"qemu-img convert -O qcow2 {_image_name(ctx)} {_stem(ctx)}.qcow2")


def _stem(ctx: Context) -> str:
    return _image_name(ctx).rsplit(".", 1)[0] or "image"


@check("limit.virtual-size", "Virtual size over 5 GiB", "limits", "blocker")
def virtual_size(c: Check, ctx: Context) -> CheckResult:
    size = ctx.facts.virtual_size
    evidence = [f"virtual size: {human_size(size)} ({size} bytes)"]
    if size > MIN_VIRTUAL_SIZE:
        return c.result("pass", f"The virtual size, {human_size(size)}, is over 5 GiB.", evidence)
    return c.result("fail", f"The virtual size is {human_size(size)}; the platform needs more than 5 GiB "
                            f"({MIN_VIRTUAL_SIZE} bytes), and exactly 5 GiB is refused.", evidence,
                    f"Grow the virtual disk (the partitions can stay as they are): qemu-img resize {_image_name(ctx)} 6G")


def _describe(p: Partition) -> str:
    where = f"partition {p.number} ({p.type_name}, {human_size(p.size)} at {human_size(p.start)})"
    return where


# Why each unaccepted kind of first partition fails, and what to do about it.
REJECTED = {
    "fat16": ("it is FAT16; the platform writes only to FAT32, not FAT16 or FAT12",
              "Reformat it as FAT32 (copy the files out, mkfs.vfat -F 32 -i <old volume id>, copy back) "
              "or put an ext4 /boot first."),
    "fat12": ("it is FAT12; the platform writes only to FAT32", "Reformat it as FAT32 (mkfs.vfat -F 32)."),
    "xfs": ("it is xfs (the CentOS/RHEL 7 default for /boot), which the platform cannot write",
            "Recreate /boot as ext4 with the same UUID: copy the files out, mkfs.ext4 -U <old uuid>, "
            "copy them back (fstab and GRUB then still find it)."),
    "lvm2": ("it is an LVM physical volume; the platform cannot write into LVM",
             "Add a small ext4 partition (e.g. /boot) before the LVM partition so that it comes first on disk."),
    "luks": ("it is LUKS-encrypted; the platform cannot write into an encrypted volume",
             "Keep /boot (ext4, unencrypted) as the first partition and encrypt only later partitions."),
    "swap": ("it is swap space, which holds no files", "Move swap after an ext4 or FAT32 first partition."),
    "btrfs": ("it is btrfs, which the platform does not write", "Put an ext4 /boot partition first."),
    "ntfs": ("it is NTFS, which the platform does not write", "Put an ext4 or FAT32 partition first."),
    "squashfs": ("it is squashfs, a read-only file system", "Put a writable ext4 or FAT32 partition first."),
    "iso9660": ("it is iso9660, a read-only file system", "Put a writable ext4 or FAT32 partition first."),
    None: ("no file system was found on it (unformatted, or a format the workbench does not know)",
           "Format the first partition as ext4 or FAT32, or move a partition holding one to the front."),
}


@check("limit.first-partition-fs", "First partition is FAT32, ext2/3/4 or UFS", "limits", "blocker")
def first_partition_fs(c: Check, ctx: Context) -> CheckResult:
    f = ctx.facts
    evidence = [f"partition table: {f.partition_table}" + (f" ({f.mbr_kind} MBR)" if f.mbr_kind else "")]
    evidence += [f"partition table warning: {w}" for w in f.warnings]
    if f.partition_table == "none":
        kind = f.whole_disk.kind if f.whole_disk else None
        evidence.append(f"whole-disk file system: {kind or 'none'}")
        return c.result("fail", "The image has no partition table (its file system spans the whole disk), so "
                                "there is no first partition for the platform to write os.conf to.", evidence,
                        "Copy the file system into partition 1 of a new disk with a partition table "
                        "(e.g. virt-resize, or sfdisk plus a file copy) and boot from that.")
    p = f.first_partition
    if p is None:
        return c.result("fail", f"The {f.partition_table.upper()} partition table is empty.", evidence,
                        "Create partitions and a file system; the first one must be FAT32 or ext2/3/4.")
    evidence.append(f"first partition on disk: {_describe(p)}, file system: {p.filesystem or 'none'}")
    if p.number != min(q.number for q in f.partitions):
        evidence.append(f"note: partition {p.number} lies first on disk although a lower-numbered partition exists")
    if p.is_bios_boot:
        return c.result("fail", "The first partition is a BIOS boot partition (raw GRUB code, no file system), "
                                "so the platform has nowhere to write os.conf.", evidence,
                        "Recreate the table so that an ext4 /boot or a FAT32 ESP comes first on disk and the "
                        "BIOS boot partition after it (gdisk, then grub-install).")
    if p.filesystem in ACCEPTED_FS:
        name = ACCEPTED_FS[p.filesystem]
        label = f" labelled {p.fs.label}" if p.fs.label else ""
        status = "warn" if f.warnings else "pass"
        detail = f"The first partition holds {name}{label}, which the platform can write to."
        if f.warnings:
            detail += " The partition table needs attention (see evidence)."
        return c.result(status, detail, evidence, "Repair the partition table with gdisk (w) or sgdisk -e."
                        if f.warnings else None, severity="medium" if f.warnings else None)
    why, fix = REJECTED.get(p.filesystem, (f"it holds {p.filesystem}, which the platform does not write",
                                           "Put an ext4 or FAT32 partition first."))
    return c.result("fail", f"The platform will reject the image: the first partition is not FAT32, ext2/3/4 "
                            f"or UFS; {why}.", evidence, fix)


@check("limit.first-partition-writable", "First partition is writable", "limits", "blocker")
def first_partition_writable(c: Check, ctx: Context) -> CheckResult:
    f = ctx.facts
    p = f.first_partition
    if p is None:
        return c.result("skip", "Not judged: there is no first partition (see limit.first-partition-fs).",
                        severity="info")
    fs = p.fs
    evidence = [f"first partition: {_describe(p)}, file system: {fs.kind or 'none'}"]
    problems: list[str] = []
    if p.read_only_attribute:
        problems.append("its GPT read-only attribute (bit 60) is set")
    problems += [f"the file system {r}" if not r.startswith(("it", "the")) else r for r in fs.readonly_reasons]
    if fs.kind not in ACCEPTED_FS and fs.kind not in READ_ONLY_FS and not problems:
        return c.result("skip", "Not judged: the first partition holds no file system the platform writes "
                                "(see limit.first-partition-fs).", evidence, severity="info")
    problems += fs.unclean_reasons
    if fs.free is not None:
        evidence.append(f"free space: {human_size(fs.free)}")
        if fs.free < MIN_FREE_BYTES:
            problems.append(f"only {human_size(fs.free)} is free (os.conf needs at least a block and an inode)")
    if fs.free_inodes is not None and fs.free_inodes < 2:
        problems.append("no free inodes are left")
    if fs.features:
        evidence.append("features: " + " ".join(fs.features))
    trial = getattr(ctx.guest, "trial_write", None) if ctx.guest is not None else None
    if trial is not None:
        evidence.append(("trial write: " if trial.ok else "trial write failed: ") + trial.detail)
        if trial.ok is False and fs.kind in ("ufs1", "ufs2"):
            return c.result("warn", "The trial write could not be made: Linux (the appliance) mounts UFS "
                                    "read-only, so writability cannot be confirmed here.", evidence, None,
                            severity="low")
        if trial.ok is False:
            problems.append(trial.detail)
        elif trial.ok and trial.free_bytes is not None and trial.free_bytes < MIN_FREE_BYTES:
            problems.append(f"only {human_size(trial.free_bytes)} is free after mounting")
    if problems:
        unclean = bool(fs.unclean_reasons)
        fix = ("Shut the source VM down cleanly (or run e2fsck -fy / fsck.vfat -a on the partition) and export again."
               if unclean else "Make the first partition writable: clear the read-only flag (sgdisk -A 1:clear:60), "
               "free some space, or recreate it as ext4.")
        return c.result("fail", "The platform could not write os.conf to the first partition: "
                        + "; ".join(problems) + ".", evidence, fix)
    newer = [f"{feat} (Linux {EXT_NEWER_FEATURES[feat]})" for feat in fs.newer_features]
    if newer:
        evidence.append(f"features a Linux {OLD_WRITER_KERNEL} writer cannot write: " + ", ".join(newer))
        return c.result("warn", "The first partition is writable, but it uses ext4 features that an older writer "
                                "cannot write; if the platform's writer is old, os.conf will not arrive.", evidence,
                        "Recreate the first partition without them (mkfs.ext4 -O ^casefold,^verity) "
                        "and copy its files back.",
                        severity="medium")
    if trial is not None and trial.ok:
        return c.result("pass", "A trial write of os.conf to the first partition succeeded.", evidence)
    if trial is not None and trial.ok is None:
        return c.result("warn", f"The first partition looks writable, but the trial write could not be made: "
                                f"{trial.detail}.", evidence, None, severity="low")
    if fs.kind in ("ufs1", "ufs2"):
        return c.result("warn", "UFS cannot be judged from the host; the trial write will confirm it.", evidence,
                        None, severity="low")
    how = "host-side only (--quick): not confirmed by a trial write" if ctx.quick else "not yet confirmed by a trial write"
    return c.result("pass", f"The first partition looks writable: clean, not read-only, with free space ({how}).",
                    evidence)
