"""`workbench import-plan`: the ImportImage request the review implies, with nothing guessed.

Every parameter comes from what the review found: the architecture from the default kernel's header (or, when
it does not say, from the guest's own ELF binaries), the boot mode from the boot code and the EFI system
partition (arm64 boots by UEFI only), NVMe support from boot.nvme, the disk format and its size from the image.
What the operator gives (region, bucket, object, name, description, tags, resource group, role) is checked the
way the platform checks it (importrules). Failed import limits and boot-readiness blockers are listed; the
commands still print. The parameters are the API's own query names, as the official SDK serialises them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.checks import Status
from workbench.image.bootinfo import boot_mode_of
from workbench.importcmds import commands  # noqa: F401  (the hand-off's text: importplan.commands)
from workbench.importrules import DEFAULT_ROLE as ROLE, Given, validate  # noqa: F401
from workbench.units import GiB

SCHEMA = "workbench.import/1"
FORMATS = {"qcow2": "QCOW2", "raw": "RAW", "vpc": "VHD"}  # qemu's format name: the API's
SYSTEM_DISK_GIB = (5, 2048)  # the range a system disk image may have (the import needs more than 5 GiB)
ARCHITECTURES = ("x86_64", "arm64", "i386")
BLOCKING_AREAS = ("limits", "boot", "network", "guest")


@dataclass
class ImportPlan:
    parameters: dict
    warnings: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.blockers

    @property
    def role(self) -> str:
        return self.parameters.get("RoleName") or ROLE

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "parameters": self.parameters, "warnings": self.warnings,
                "blockers": self.blockers}


def _architecture(bf, warnings: list[str], blockers: list[str]) -> str | None:
    """The kernel's header first; the guest's binaries when the kernel does not say (as libguestfs does)."""
    kernel = bf.kernel.arch if bf is not None and bf.kernel is not None else None
    arch = kernel or (bf.binary_arch if bf is not None else None)
    if kernel is None and arch is not None:
        warnings.append(f"Architecture={arch} from the guest's binaries ({', '.join(bf.binary_arch_from)}): the "
                        "default kernel's header does not say")
    if arch in ARCHITECTURES:
        return arch
    if arch is not None:
        blockers.append(f"the image is built for {arch}: the import takes x86_64, arm64 or i386")
    else:
        blockers.append("the architecture could not be read from the default kernel's header nor from the guest's "
                        "binaries (/bin/sh, ls, env, init)")
    return None


def _boot_mode(mode: str | None, arch: str | None, warnings: list[str], blockers: list[str]) -> str | None:
    if mode is None:
        blockers.append("the boot mode could not be determined (no BIOS boot code, no EFI loader): see boot.mode")
        return None
    if arch == "arm64":  # no BIOS on arm64: the platform takes UEFI only
        if mode == "BIOS":
            blockers.append("an arm64 image boots by UEFI only, and no EFI loader was found on an EFI system "
                            "partition (only BIOS boot code)")
            return None
        return "UEFI"
    if mode == "both":
        warnings.append("the image boots by BIOS and by UEFI: BootMode=BIOS (UEFI would work too)")
        return "BIOS"
    return mode


def build(review, given: Given | None = None) -> ImportPlan:
    """The ImportImage parameters from a finished review (Review: facts, guest, results)."""
    given = given or Given()
    validate(given)
    facts, guest = review.facts, review.guest
    bf = guest.boot if guest is not None else None
    warnings: list[str] = []
    blockers: list[str] = []
    p: dict = {}
    if given.region is not None:
        p["RegionId"] = given.region
    if given.name is not None:
        p["ImageName"] = given.name
    if given.description is not None:
        p["Description"] = given.description
    p.update({"Platform": "Customized Linux", "OSType": "linux"})
    p["Architecture"] = _architecture(bf, warnings, blockers)
    mode = boot_mode_of(facts, bf) if bf is not None else None
    p["BootMode"] = _boot_mode(mode, p["Architecture"], warnings, blockers)
    nvme = next((r for r in review.results if r.id == "boot.nvme"), None)
    p["Features.NvmeSupport"] = "supported" if nvme is not None and nvme.status == Status.PASS else "unsupported"
    if p["Features.NvmeSupport"] == "unsupported":
        why = nvme.detail if nvme is not None else "the NVMe readiness was not reviewed"
        warnings.append(f"NvmeSupport=unsupported: the image stays off NVMe instance families ({why})")
    fmt = FORMATS.get(facts.format)
    p["DiskDeviceMapping.1.Format"] = fmt
    if fmt is None:
        blockers.append(f"the import takes QCOW2, RAW or VHD, not {facts.format}: convert it with "
                        "workbench export --output-format qcow2")
    size = -(-facts.virtual_size // GiB)
    low, high = SYSTEM_DISK_GIB
    p["DiskDeviceMapping.1.DiskImageSize"] = size
    if not low <= size <= high:
        blockers.append(f"the image's virtual size rounds up to {size} GiB, outside the system disk's range "
                        f"({low} to {high} GiB)")
    if given.bucket is not None:
        p["DiskDeviceMapping.1.OSSBucket"] = given.bucket
    if given.object is not None:
        p["DiskDeviceMapping.1.OSSObject"] = given.object
    for n, (key, value) in enumerate(given.tags, 1):
        p[f"Tag.{n}.Key"] = key
        if value:  # an empty value is no value (the aliyun CLI cannot pass an empty one)
            p[f"Tag.{n}.Value"] = value
    if given.resource_group is not None:
        p["ResourceGroupId"] = given.resource_group
    if given.role_name is not None:
        p["RoleName"] = given.role_name
    if given.dry_run:
        p["DryRun"] = True
    for r in review.results:
        if r.area in BLOCKING_AREAS and r.status == Status.FAIL and str(r.severity) in ("blocker", "high"):
            blockers.append(f"{r.id}: {r.detail}")
        elif r.area in BLOCKING_AREAS and r.status in (Status.FAIL, Status.WARN, Status.ERROR, Status.SKIP):
            warnings.append(f"{r.id} ({r.status}): {r.detail}")
    return ImportPlan(p, warnings, blockers)
