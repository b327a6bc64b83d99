"""`workbench import-plan`: the ImportImage request the review implies, with nothing guessed.

Every parameter comes from what the review found: the architecture from the default kernel's header, the boot
mode from the boot code and the EFI system partition, NVMe support from boot.nvme, the disk format and its size
from the image. What the operator gives (region, bucket, object, name, description) is checked the way the
platform checks it. Failed import limits and boot-readiness blockers are listed; the commands still print.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from workbench.checks import Status
from workbench.errors import UsageError
from workbench.image.bootinfo import boot_mode_of
from workbench.units import GiB

SCHEMA = "workbench.import/1"
FORMATS = {"qcow2": "QCOW2", "raw": "RAW", "vpc": "VHD"}  # qemu's format name: the API's
SYSTEM_DISK_GIB = (5, 2048)  # the range a system disk image may have (the import needs more than 5 GiB)
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "arm64", "i386": "i386"}
BLOCKING_AREAS = ("limits", "boot", "network", "guest")
ROLE = "AliyunECSImageImportDefaultRole"
NAME = re.compile(r"^[^\W\d_][\w.:-]{1,127}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
REGION = re.compile(r"^[a-z]{2,}(-[a-z0-9]+){1,4}$")


def _sentence(value: str, what: str) -> str:
    return f"{what} {json.dumps(value, ensure_ascii=True)[:80]}"


def validate(region: str | None, bucket: str | None, obj: str | None, name: str | None,
             description: str | None) -> None:
    """The operator's values, as the platform checks them: one sentence (UsageError) for the first bad one."""
    if name is not None:
        if name.lower().startswith(("http://", "https://")):
            raise UsageError(f"{_sentence(name, '--name')} must not start with http:// or https://")
        if not NAME.match(name):
            raise UsageError(f"{_sentence(name, '--name')} must be 2 to 128 characters, start with a letter, and "
                             "hold only letters, digits, periods, underscores, colons and hyphens")
    if description is not None:
        if not 2 <= len(description) <= 256 or description.lower().startswith(("http://", "https://")):
            raise UsageError(f"{_sentence(description, '--description')} must be 2 to 256 characters and not start "
                             "with http:// or https://")
        if any(ord(c) < 32 or ord(c) == 127 for c in description):
            raise UsageError(f"{_sentence(description, '--description')} must not hold control characters "
                             "(newlines, tabs)")
    if bucket is not None and (not BUCKET.match(bucket) or "--" in bucket):
        raise UsageError(f"{_sentence(bucket, '--bucket')} is not an OSS bucket name (3 to 63 lower-case letters, "
                         "digits and hyphens, starting and ending with a letter or digit)")
    if region is not None and not REGION.match(region):
        raise UsageError(f"{_sentence(region, '--region')} is not a region id (like cn-hangzhou or ap-southeast-1)")
    if obj is not None:
        if not 1 <= len(obj.encode()) <= 1023 or obj.startswith(("/", "\\")) or any(ord(c) < 32 for c in obj):
            raise UsageError(f"{_sentence(obj, '--object')} is not an OSS object key (1 to 1023 bytes, not starting "
                             "with / or \\, no control characters)")


@dataclass
class ImportPlan:
    parameters: dict
    warnings: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.blockers

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "parameters": self.parameters, "warnings": self.warnings,
                "blockers": self.blockers}


def build(review, region: str | None = None, bucket: str | None = None, obj: str | None = None,
          name: str | None = None, description: str | None = None) -> ImportPlan:
    """The ImportImage parameters from a finished review (Review: facts, guest, results)."""
    validate(region, bucket, obj, name, description)
    facts, guest = review.facts, review.guest
    bf = guest.boot if guest is not None else None
    warnings: list[str] = []
    blockers: list[str] = []
    p: dict = {"Platform": "Customized Linux", "OSType": "linux"}
    arch = bf.kernel.arch if bf is not None and bf.kernel is not None else None
    p["Architecture"] = ARCHITECTURES.get(arch or "")
    if p["Architecture"] is None:
        blockers.append("the architecture could not be read from the default kernel's header"
                        + (f" (it says {arch})" if arch else ""))
    mode = boot_mode_of(facts, bf) if bf is not None else None
    p["BootMode"] = {"BIOS": "BIOS", "UEFI": "UEFI", "both": "BIOS"}.get(mode or "")
    if mode == "both":
        warnings.append("the image boots by BIOS and by UEFI: BootMode=BIOS (UEFI would work too)")
    elif mode is None:
        blockers.append("the boot mode could not be determined (no BIOS boot code, no EFI loader): see boot.mode")
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
    for key, value in (("DiskDeviceMapping.1.OSSBucket", bucket), ("DiskDeviceMapping.1.OSSObject", obj),
                       ("ImageName", name), ("Description", description), ("RegionId", region)):
        if value is not None:
            p[key] = value
    for r in review.results:
        if r.area in BLOCKING_AREAS and r.status == Status.FAIL and str(r.severity) in ("blocker", "high"):
            blockers.append(f"{r.id}: {r.detail}")
        elif r.area in BLOCKING_AREAS and r.status in (Status.FAIL, Status.WARN, Status.ERROR, Status.SKIP):
            warnings.append(f"{r.id} ({r.status}): {r.detail}")
    return ImportPlan(p, warnings, blockers)


def commands(plan: ImportPlan, image_path: str) -> dict[str, str]:
    """The ossutil upload, the aliyun CLI call and the Terraform block; every value shell- or HCL-quoted."""
    p = plan.parameters
    bucket, obj = p.get("DiskDeviceMapping.1.OSSBucket", "BUCKET"), p.get("DiskDeviceMapping.1.OSSObject", "OBJECT")
    q = shlex.quote
    upload = f"ossutil cp {q(image_path)} {q(f'oss://{bucket}/{obj}')}"
    args = ["aliyun", "ecs", "ImportImage"]
    for key in ("RegionId", "ImageName", "Description", "Platform", "OSType", "Architecture", "BootMode"):
        if p.get(key) is not None:
            args += [f"--{key}", str(p[key])]
    if p.get("Features.NvmeSupport") is not None:
        args += ["--Features.NvmeSupport", p["Features.NvmeSupport"]]
    args += ["--DiskDeviceMapping.1.OSSBucket", bucket, "--DiskDeviceMapping.1.OSSObject", obj]
    for key in ("DiskDeviceMapping.1.Format", "DiskDeviceMapping.1.DiskImageSize"):
        if p.get(key) is not None:
            args += [f"--{key}", str(p[key])]
    cli = " ".join(q(a) for a in args)

    def hcl(v) -> str:
        return json.dumps(v, ensure_ascii=True).replace("${", "$${").replace("%{", "%%{")

    lines = ['resource "alicloud_image_import" "workbench" {']
    for key, attr in (("ImageName", "image_name"), ("Description", "description"), ("Architecture", "architecture"),
                      ("OSType", "os_type"), ("Platform", "platform"), ("BootMode", "boot_mode")):
        if p.get(key) is not None:
            lines.append(f"  {attr:<12} = {hcl(p[key])}")
    lines.append("  disk_device_mapping {")
    lines.append(f"    oss_bucket      = {hcl(bucket)}")
    lines.append(f"    oss_object      = {hcl(obj)}")
    if p.get("DiskDeviceMapping.1.Format"):
        lines.append(f"    format          = {hcl(p['DiskDeviceMapping.1.Format'])}")
    lines.append(f"    disk_image_size = {int(p['DiskDeviceMapping.1.DiskImageSize'])}")
    lines.append("  }")
    lines.append("}")
    return {"ossutil": upload, "aliyun": cli, "terraform": "\n".join(lines)}
