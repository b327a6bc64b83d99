"""The hand-off's text through its real clients' own rules, not through our expectations:

- the official SDK (alibabacloud_ecs20140526) builds ImportImageRequest / ModifyImageAttributeRequest from the plan
  and serialises the query that it would send: it must be the plan, key for key;
- the aliyun CLI's argument split and parameter lookup (tests/fixtures/clients/aliyun_cli.json: the rules and the
  ImportImage metadata, pinned with their commits) take every printed flag, and the query it would send is the SDK's;
- python-hcl2 parses the Terraform block, and every argument and value passes the provider's schema
  (tests/fixtures/clients/alicloud_image_import.json, pinned with its commit);
- hostile values come out identical in every output (after each client's own decoding) or are refused.
"""

import json
import re
import shlex
from pathlib import Path

import hcl2
import pytest
from alibabacloud_ecs20140526 import models
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions
from hcl2.utils import SerializationOptions

from tests.unit.test_import_plan import review
from workbench import importcmds, importplan
from workbench.errors import UsageError
from workbench.importrules import Given, parse_tag

CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
CLI = json.loads((CLIENTS / "aliyun_cli.json").read_text())
PROVIDER = json.loads((CLIENTS / "alicloud_image_import.json").read_text())


# -- the official SDK ------------------------------------------------------------------------------------------
def nested(flat: dict) -> dict:
    """The SDK model's map from the API's flattened names (Name.N.Member, Name.Member)."""
    out: dict = {}
    for key, value in flat.items():
        parts = key.split(".")
        if len(parts) == 3:  # a repeat list: Name.N.Member
            items = out.setdefault(parts[0], [])
            while len(items) < int(parts[1]):
                items.append({})
            items[int(parts[1]) - 1][parts[2]] = value
        elif len(parts) == 2:  # a struct: Name.Member
            out.setdefault(parts[0], {})[parts[1]] = value
        else:
            out[key] = value
    return out


def sdk_query(api: str, flat: dict) -> dict:
    """What the SDK's client would send for these parameters (its call_api replaced by a recorder)."""
    client = Client(Config(access_key_id="test", access_key_secret="test", region_id="cn-hangzhou",
                           endpoint="ecs.cn-hangzhou.aliyuncs.com"))
    seen = {}

    def record(params, request, runtime):
        seen.update(action=params.action, query=request.query)
        return {"body": {"RequestId": "test"}, "headers": {}, "statusCode": 200}

    client.call_api = record
    request = getattr(models, f"{api}Request")().from_map(nested(flat))
    getattr(client, re.sub(r"(?<!^)([A-Z])", r"_\1", api).lower() + "_with_options")(request, RuntimeOptions())
    assert seen["action"] == api
    return seen["query"]


# -- the aliyun CLI's rules (fixtures/clients/aliyun_cli.json) ------------------------------------------------
def find_parameter(params: list, name: str) -> dict | None:
    """The metadata's parameter a flag name is, as the CLI's lookup decides."""
    for p in params:
        if p["name"] == name:
            return p
        if p.get("sub_parameters") and name.startswith(p["name"] + "."):
            index, dot, member = name[len(p["name"]) + 1:].partition(".")
            return find_parameter(p["sub_parameters"], member) if dot and index else None
        if p["type"] == "RepeatList" and name.startswith(p["name"] + ".") and len(name) > len(p["name"]) + 1:
            return p
    return None


def aliyun_query(argv: list[str], api: str) -> tuple[dict, list[str]]:
    """(the query the CLI sends for argv, the flags that passed only by --force). Fails where the CLI would."""
    assert argv[:3] == ["aliyun", "ecs", api]
    params, own, unknown = CLI["apis"][api], {}, {}
    for arg in argv[3:]:
        cut = min((i for i in (arg.find("="), arg.find(":")) if i >= 0), default=-1)
        prefix, value = (arg[:cut], arg[cut + 1:]) if cut >= 0 else (arg, "")
        assert prefix.startswith("--") and not prefix.startswith("---") and len(prefix) > 2, f"{arg!r}: not a flag"
        name = prefix[2:]
        target = own if name in CLI["own_flags"] else unknown
        assert name not in target, f"--{name} duplicated"
        if name in CLI["valueless_own_flags"]:
            assert value == "", f"--{name} takes no value"
            target[name] = True
        else:
            assert value != "", f"{arg!r}: an empty value would take the next argument"
            target[name] = value
    forced = []
    for name in unknown:
        assert not name.endswith("-FILE"), f"--{name} would be read from a file"
        p = find_parameter(params, name)
        if p is None:
            assert "force" in own, f"--{name}: the CLI stops with 'unknown parameter' (no --force)"
            forced.append(name)
        else:
            assert p["position"] == "Query"
    query = dict(unknown)
    for name, value in own.items():  # the CLI copies its own flags that are parameters too (RegionId)
        if find_parameter(params, name) is not None:
            query[name] = value
    return query, forced


def struct_members(params: list) -> set[str]:
    return {p["name"] for p in params if p["type"] == "Struct" and not p.get("sub_parameters")}


# -- Terraform (fixtures/clients/alicloud_image_import.json) ------------------------------------------------------
def template_literal(value: str) -> str:
    """An HCL quoted template's text without interpolation: $${ and %%{ are the literal ${ and %{."""
    out, i = [], 0
    while i < len(value):
        if value.startswith(("$${", "%%{"), i):
            out.append(value[i + 1:i + 3])
            i += 3
        else:
            assert not value.startswith(("${", "%{"), i), f"an interpolation in {value!r}"
            out.append(value[i])
            i += 1
    return "".join(out)


def terraform_values(text: str) -> tuple[dict, dict, dict]:
    """(required_providers.alicloud, provider "alicloud" arguments, the resource's arguments) with the string
    values as Terraform reads them; every argument checked against the provider's schema."""
    doc = hcl2.loads(text, serialization_options=SerializationOptions(strip_string_quotes=True, explicit_blocks=False,
                                                                      with_comments=False))

    def value(v):
        return template_literal(v) if isinstance(v, str) else v

    required = {k: value(v) for k, v in doc["terraform"][0]["required_providers"][0]["alicloud"].items()}
    provider = {k: value(v) for k, v in doc["provider"][0]["alicloud"].items()} if "provider" in doc else {}
    assert set(provider) <= set(PROVIDER["provider_arguments_used"])
    res = doc["resource"][0]["alicloud_image_import"]["workbench"]
    args = {k: value(v) for k, v in res.items() if k not in PROVIDER["blocks"]}
    blocks = {k: [{a: value(b) for a, b in blk.items()} for blk in res[k]] for k in PROVIDER["blocks"] if k in res}
    for name, spec in [(k, PROVIDER["arguments"].get(k)) for k in args]:
        assert spec is not None, f"{name}: not an argument of alicloud_image_import"
        assert spec["type"] == "string" and isinstance(args[name], str)
        assert args[name] in spec.get("one_of", [args[name]]), f"{name} = {args[name]!r} fails the provider's check"
    for name, spec in PROVIDER["blocks"].items():
        assert not spec["required"] or len(blocks.get(name, [])) == 1
        for key, v in blocks[name][0].items():
            arg = spec["arguments"].get(key)
            assert arg is not None, f"{name}.{key}: not an argument"
            assert isinstance(v, int) if arg["type"] == "int" else isinstance(v, str)
            assert v in arg.get("one_of", [v]), f"{name}.{key} = {v!r} fails the provider's check"
    return required, provider, {**args, **{f"{k}.{a}": b for k, blk in blocks.items() for a, b in blk[0].items()}}


def admits(constraint: str, version: str) -> bool:
    op, wanted = constraint.split()
    assert op == ">="
    return tuple(map(int, version.split("."))) >= tuple(map(int, wanted.split(".")))


TF_NAMES = {"ImageName": "image_name", "Description": "description", "Architecture": "architecture",
            "OSType": "os_type", "Platform": "platform", "BootMode": "boot_mode",
            "DiskDeviceMapping.1.OSSBucket": "disk_device_mapping.oss_bucket",
            "DiskDeviceMapping.1.OSSObject": "disk_device_mapping.oss_object",
            "DiskDeviceMapping.1.DiskImageSize": "disk_device_mapping.disk_image_size"}


# -- the tests -----------------------------------------------------------------------------------------------------
HOSTILE = "it's $(touch /tmp/pwned) `id` ${HOME} %{x} \"q\" \\ - nightly 🚀 --DryRun"


def ready_plan(**kw):
    given = Given("cn-hangzhou", "my-images", kw.pop("object", "-x=1:2 $(id) 🚀.qcow2"), "Debian_12",
                  kw.pop("description", HOSTILE), **kw)
    plan = importplan.build(review(), given)
    assert plan.ready, plan.blockers
    return plan


def test_the_sdk_sends_exactly_the_plan():
    plan = ready_plan(tags=[parse_tag("env=-prod ${x}")], resource_group="rg-acfm2example",
                      role_name="MyImportRole", dry_run=True)
    query = sdk_query("ImportImage", plan.parameters)
    assert query == {k: str(v) for k, v in plan.parameters.items()}


@pytest.mark.parametrize("extra", [{}, {"tags": [("a", "1"), ("b", "")], "dry_run": True},
                                   {"resource_group": "rg-x1", "role_name": "Role.1"}])
def test_every_aliyun_flag_passes_the_clis_lookup_and_sends_the_sdks_query(extra):
    plan = ready_plan(**extra)
    argv = shlex.split(importcmds.commands(plan, "/images/disk.qcow2")["aliyun"])
    query, forced = aliyun_query(argv, "ImportImage")
    assert forced == ["Features.NvmeSupport"]  # a member of a Struct the metadata declares without members
    assert {f.split(".")[0] for f in forced} <= struct_members(CLI["apis"]["ImportImage"])
    sdk = sdk_query("ImportImage", plan.parameters)
    assert {k: v.lower() if k == "DryRun" else v for k, v in query.items()} == \
        {k: v.lower() if k == "DryRun" else v for k, v in sdk.items()}  # the CLI sends true, Python's SDK True


def test_without_force_the_cli_refuses_the_struct_member():
    argv = shlex.split(importcmds.commands(ready_plan(), "disk.qcow2")["aliyun"])
    argv.remove("--force")
    with pytest.raises(AssertionError, match="unknown parameter"):
        aliyun_query(argv, "ImportImage")
    with pytest.raises(AssertionError, match="an empty value"):  # why an empty tag value is left out
        aliyun_query(["aliyun", "ecs", "ImportImage", "--Tag.1.Value=", "--Tag.1.Key=k"], "ImportImage")


def test_the_terraform_block_passes_the_providers_schema_with_the_plans_values():
    plan = ready_plan()
    required, provider, args = terraform_values(importcmds.commands(plan, "disk.qcow2")["terraform"])
    assert required["source"] == PROVIDER["provider_source"]
    since = PROVIDER["boot_mode_since"].split()[0]
    assert admits(required["version"], since) and not admits(required["version"], "1.224.0")
    assert provider == {"region": "cn-hangzhou"}
    p = plan.parameters
    assert {TF_NAMES[k]: p[k] for k in TF_NAMES} == {v: args[v] for v in TF_NAMES.values()}
    assert args["disk_device_mapping.format"] == "qcow2"  # the provider's spelling of QCOW2


@pytest.mark.parametrize("fmt, tf", [("raw", "RAW"), ("vpc", "VHD"), ("qcow2", "qcow2")])
def test_each_format_as_the_provider_spells_it(fmt, tf):
    plan = importplan.build(review(fmt=fmt), Given(bucket="b-1", object="k"))
    _, provider, args = terraform_values(importcmds.commands(plan, "disk")["terraform"])
    assert args["disk_device_mapping.format"] == tf and provider == {}


def test_nvme_support_is_set_after_the_terraform_apply_by_a_call_the_cli_and_sdk_take():
    plan = ready_plan()
    assert plan.parameters["Features.NvmeSupport"] == "supported"
    tf = importcmds.commands(plan, "disk.qcow2")["terraform"]
    assert "no argument for Features.NvmeSupport" in tf
    after = next(line[2:] for line in tf.splitlines() if line.startswith("# aliyun ecs ModifyImageAttribute"))
    argv = shlex.split(after)
    query, forced = aliyun_query(argv, "ModifyImageAttribute")
    assert forced == ["Features.NvmeSupport"]
    assert query["ImageId"] == "$(terraform output -raw image_id)"  # in double quotes: the shell substitutes it
    assert sdk_query("ModifyImageAttribute", {**query, "ImageId": "m-1"}) == {**query, "ImageId": "m-1"}
    assert 'output "image_id"' in tf and "alicloud_image_import.workbench.id" in tf
    from tests.unit.test_boot_checks import kernel

    plain = importplan.build(review(k=kernel(initramfs_modules=("virtio_blk", "virtio_pci", "ext4"))))
    assert plain.parameters["Features.NvmeSupport"] == "unsupported"  # the provider's import leaves it so too
    assert "ModifyImageAttribute" not in importcmds.commands(plain, "d")["terraform"]


@pytest.mark.parametrize("extra, why", [
    ({"tags": [("env", "prod")]}, "no argument for tags"), ({"resource_group": "rg-x1"}, "resource group"),
    ({"role_name": "MyRole"}, "it always imports with AliyunECSImageImportDefaultRole")])
def test_what_the_provider_cannot_express_blocks_its_block_and_says_why(extra, why):
    tf = importcmds.commands(ready_plan(**extra), "disk.qcow2")["terraform"]
    assert why in tf and "alicloud_image_import cannot make this import" in tf
    assert all(line.startswith("#") for line in tf.splitlines())  # no block that would import something else


def test_arm64_has_no_terraform_block():
    from tests.unit.test_boot_checks import kernel

    arm = kernel()
    arm.arch = "arm64"
    plan = importplan.build(review(k=arm, esp=("/dev/sda1", ["EFI/BOOT/BOOTAA64.EFI"])),
                            Given(bucket="b-1", object="k"))
    tf = importcmds.commands(plan, "disk")["terraform"]
    assert "takes x86_64 or i386 only, not arm64" in tf and "resource" not in tf
    query, _ = aliyun_query(shlex.split(importcmds.commands(plan, "disk")["aliyun"]), "ImportImage")
    assert (query["Architecture"], query["BootMode"]) == ("arm64", "UEFI")


def test_unknown_values_are_placeholders_the_clients_refuse_never_defaults():
    from tests.unit.test_boot_checks import kernel

    k = kernel()
    k.arch = None
    plan = importplan.build(review(k=k, boot_code=None))
    cmds = importcmds.commands(plan, "disk")
    query, _ = aliyun_query(shlex.split(cmds["aliyun"]), "ImportImage")
    assert (query["Architecture"], query["BootMode"]) == ("ARCHITECTURE", "BOOTMODE")
    with pytest.raises(AssertionError, match="architecture = 'ARCHITECTURE' fails the provider's check"):
        terraform_values(cmds["terraform"])


@pytest.mark.parametrize("value", [HOSTILE, "-x", "--DryRun", "a=b:c", "${a}$${b}%%{c}$$${d}", "q'\"\\", "🚀 é 中文"])
def test_hostile_values_come_out_identical_in_every_output(value):
    plan = ready_plan(description=value if len(value) >= 2 else value + "!", object=value,
                      tags=[("k", value)])
    desc, obj = plan.parameters["Description"], plan.parameters["DiskDeviceMapping.1.OSSObject"]
    cmds = importcmds.commands(plan, value)
    query, _ = aliyun_query(shlex.split(cmds["aliyun"]), "ImportImage")
    assert (query["Description"], query["DiskDeviceMapping.1.OSSObject"], query["Tag.1.Value"]) == (desc, obj, value)
    cp = shlex.split(cmds["ossutil"].splitlines()[0])
    assert cp[2] in (value, "./" + value) and not cp[2].startswith("-") and cp[3] == f"oss://my-images/{obj}"
    untagged = ready_plan(description=desc, object=obj)  # tags would leave no Terraform block
    _, _, args = terraform_values(importcmds.commands(untagged, value)["terraform"])
    assert (args["description"], args["disk_device_mapping.oss_object"]) == (desc, obj)
    assert f"  Description = {desc}" in importcmds.text(plan, value).splitlines()


@pytest.mark.parametrize("value", ["no\u00a0break", "zero\u200dwidth", "del\x7f", "tab\tin", "nl\n", "\u2028"])
def test_values_that_do_not_print_are_refused_not_replaced(value):
    for given in (Given(description="ab" + value), Given(object=value), Given(tags=[("k", value)])):
        with pytest.raises(UsageError, match="does not print"):
            importplan.build(review(), given)
    with pytest.raises(UsageError, match="does not print"):
        parse_tag("k=" + value)


def test_the_text_output_never_says_none():
    from tests.unit.test_boot_checks import kernel

    k = kernel()
    k.arch = None
    text = importcmds.text(importplan.build(review(k=k, boot_code=None)), "disk")
    assert "None" not in text and "  Architecture: unknown (see the blockers)" in text
