"""The hand-off's text, each piece written to its client's own rules (the tests hold pinned copies of them):

- ossutil 1.x parses its arguments with goopt: an argument that starts with `-` is an option, so a relative path
  that starts with one is given as `./-…`. After the upload the object's `X-Oss-Hash-Crc64ecma` (`ossutil stat`)
  is compared with the CRC-64 that `workbench export` recorded beside the image (or `ossutil hash`'s).
- The aliyun CLI 3.x splits an argument at its first `=` or `:` and takes `--Name=value` as one flag with its
  value, so no value (`- nightly`, `--DryRun`) is ever read as a flag. Its parameter lookup, against its
  ImportImage metadata, refuses `--Features.NvmeSupport` (Features is declared a struct without members):
  `--force` is the CLI's documented way past the lookup, and the query then carries `Features.NvmeSupport`
  exactly as the official SDK serialises it.
- The Terraform provider aliyun/alicloud has `boot_mode` from 1.225.0; its `format` takes `qcow2`, `RAW` or `VHD`
  and its `architecture` only `x86_64` or `i386`. It has no argument for NVMe support (set after the apply with
  ModifyImageAttribute), tags, a resource group or a RAM role: those, and arm64, leave no block to print, and the
  text says why in its place.
Every operator value was checked printable (importrules): each output carries it exactly, never a stand-in.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

from workbench.export import crc_check, recorded_crc64
from workbench.importrules import DEFAULT_ROLE

if TYPE_CHECKING:
    from workbench.importplan import ImportPlan

PROVIDER = ">= 1.225.0"  # the first aliyun/alicloud release whose alicloud_image_import has boot_mode
TF_FORMATS = {"QCOW2": "qcow2", "RAW": "RAW", "VHD": "VHD"}  # the provider's spelling of the API's formats
TF_ARCHITECTURES = ("x86_64", "i386")
# what the operator or the review did not give: a placeholder the platform refuses, never a default it would take
PLACEHOLDERS = {"DiskDeviceMapping.1.OSSBucket": "BUCKET", "DiskDeviceMapping.1.OSSObject": "OBJECT",
                "Architecture": "ARCHITECTURE", "BootMode": "BOOTMODE", "DiskDeviceMapping.1.Format": "FORMAT"}
HASH_CRC = "sed -n 's/^CRC64-ECMA *: //p'"  # ossutil hash's line for a local file's


def filled(plan: "ImportPlan") -> dict:
    """The parameters with a placeholder for each unknown value (a blocker names it)."""
    p = {k: v for k, v in plan.parameters.items() if v is not None}
    for key, placeholder in PLACEHOLDERS.items():
        p.setdefault(key, placeholder)
    return p


def shell_path(path: str) -> str:
    """A local path as one shell word that no option parser reads as an option."""
    return shlex.quote("./" + path if path.startswith("-") else path)


def cli_value(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def aliyun_args(parameters: dict, api: str = "ImportImage") -> list[str]:
    """The aliyun CLI's argv for an RPC call: --force when a struct member needs it, then --Name=value each."""
    force = ["--force"] if any(k.startswith("Features.") for k in parameters) else []
    return ["aliyun", "ecs", api, *force, *(f"--{k}={cli_value(v)}" for k, v in parameters.items())]


def ossutil(p: dict, image: str) -> str:
    """The upload, then the command that compares the object's CRC-64 with the image's."""
    url = f"oss://{p['DiskDeviceMapping.1.OSSBucket']}/{p['DiskDeviceMapping.1.OSSObject']}"
    crc = recorded_crc64(image)
    if crc is not None:
        local, whence = str(crc), "the one workbench export recorded beside the image"
    else:
        local, whence = f'"$(ossutil hash {shell_path(image)} --type=crc64 | {HASH_CRC})"', "the local file's"
    return (f"ossutil cp {shell_path(image)} {shlex.quote(url)}\n"
            f"# then the object's CRC-64 (x-oss-hash-crc64ecma, kept for multipart uploads too) against {whence}:\n"
            + crc_check(url, local))


def hcl(value) -> str:
    """An HCL string literal with the value's own characters: only quote, backslash and the template openers escaped."""
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False).replace("${", "$${").replace("%{", "%%{")


def _terraform_refusals(p: dict, role: str) -> list[str]:
    out = []
    if p["Architecture"] not in TF_ARCHITECTURES and p["Architecture"] != PLACEHOLDERS["Architecture"]:
        out.append(f"its architecture argument takes {' or '.join(TF_ARCHITECTURES)} only, not {p['Architecture']}")
    if any(k.startswith("Tag.") for k in p):
        out.append("it has no argument for tags (Tag.N)")
    if "ResourceGroupId" in p:
        out.append("it has no argument for a resource group (ResourceGroupId)")
    if role != DEFAULT_ROLE:
        out.append(f"it has no argument for a RAM role (RoleName): it always imports with {DEFAULT_ROLE}")
    return out


def terraform(plan: "ImportPlan") -> str:
    """The alicloud_image_import block with its provider requirement, or why the provider cannot make this import."""
    p = filled(plan)
    refusals = _terraform_refusals(p, plan.role)
    if refusals:
        return ("# Terraform: the alicloud provider's alicloud_image_import cannot make this import: "
                + "; ".join(refusals) + ".\n# Use the aliyun ecs ImportImage command above.")
    lines = ["terraform {", "  required_providers {", "    alicloud = {", '      source  = "aliyun/alicloud"',
             f"      version = {hcl(PROVIDER)}  # boot_mode", "    }", "  }", "}", ""]
    if "RegionId" in p:
        lines += ['provider "alicloud" {', f"  region = {hcl(p['RegionId'])}", "}", ""]
    else:
        lines += ["# the region: the provider's (ALICLOUD_REGION), as none was given", ""]
    lines.append('resource "alicloud_image_import" "workbench" {')
    for key, attr in (("ImageName", "image_name"), ("Description", "description"), ("Architecture", "architecture"),
                      ("OSType", "os_type"), ("Platform", "platform"), ("BootMode", "boot_mode")):
        if key in p:
            lines.append(f"  {attr:<12} = {hcl(p[key])}")
    fmt = p["DiskDeviceMapping.1.Format"]
    lines += ["  disk_device_mapping {", f"    oss_bucket      = {hcl(p['DiskDeviceMapping.1.OSSBucket'])}",
              f"    oss_object      = {hcl(p['DiskDeviceMapping.1.OSSObject'])}",
              f"    format          = {hcl(TF_FORMATS.get(fmt, fmt))}",
              f"    disk_image_size = {int(p['DiskDeviceMapping.1.DiskImageSize'])}", "  }", "}"]
    if p.get("Features.NvmeSupport") == "supported":
        after = {"RegionId": p["RegionId"]} if "RegionId" in p else {}
        argv = aliyun_args({**after, "ImageId": "IMAGE_ID", "Features.NvmeSupport": "supported"},
                           "ModifyImageAttribute")
        command = " ".join(shlex.quote(a) for a in argv).replace(
            "--ImageId=IMAGE_ID", '"--ImageId=$(terraform output -raw image_id)"')
        lines += ["", 'output "image_id" {', "  value = alicloud_image_import.workbench.id", "}",
                  "# The provider has no argument for Features.NvmeSupport: the import leaves it unsupported.",
                  "# After terraform apply, set it with ModifyImageAttribute:", f"# {command}"]
    if p.get("DryRun"):
        lines.append("# --dry-run: the provider has no DryRun; terraform plan shows the request without importing")
    return "\n".join(lines)


def commands(plan: "ImportPlan", image_path: str) -> dict[str, str]:
    """The ossutil upload and its CRC-64 check, the aliyun CLI call and the Terraform block."""
    p = filled(plan)
    if not image_path.isprintable():  # the CLI refuses it; the TUI shows a placeholder rather than a wrong path
        image_path = "IMAGE"
    return {"ossutil": ossutil(p, image_path),
            "aliyun": " ".join(shlex.quote(a) for a in aliyun_args(p)),
            "terraform": terraform(plan)}


def text(plan: "ImportPlan", image_path: str) -> str:
    """What `workbench import-plan` prints: the parameters, blockers, warnings, then the three hand-offs."""
    from workbench.text import printable

    cmds = commands(plan, image_path)
    head = "ImportImage" + (" with DryRun=true (checks the request and your permissions, imports nothing: "
                            "DryRunOperation means it would pass)" if plan.parameters.get("DryRun") else "")
    out = [head + (" (ready)" if plan.ready else " (NOT READY: the blockers below fail the import)")]
    for key, value in plan.parameters.items():
        out.append(f"  {key} = {cli_value(value)}" if value is not None else f"  {key}: unknown (see the blockers)")
    out += [f"blocker: {printable(b, 400)}" for b in plan.blockers]
    out += [f"warning: {printable(w, 400)}" for w in plan.warnings]
    out.append(f"The import needs the RAM role {plan.role} (authorised once per account).")
    force = "; --force: the CLI's metadata declares Features without members, so its lookup refuses " \
            "--Features.NvmeSupport" if "--force" in cmds["aliyun"] else ""
    out += ["", "# upload (ossutil)", cmds["ossutil"], "", f"# import (aliyun CLI{force})", cmds["aliyun"], "",
            f"# terraform (aliyun/alicloud {PROVIDER})", cmds["terraform"]]
    return "\n".join(out)
