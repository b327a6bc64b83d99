"""The values an operator gives the import, checked the way the platform checks them, before anything is printed.

The rules are the ImportImage documentation's (the API metadata and the official SDK say the same): ImageName 2 to
128 characters, starting with a letter or a Chinese character, not with `aliyun` or `acs:`, holding only letters,
digits, `.`, `:`, `_` and `-`; Description 2 to 256 characters, not starting with `http://` or `https://`; Tag.N
(N up to 20): a key of 1 to 128 characters not starting with `aliyun` or `acs:`, a value of up to 128 not starting
with `acs:`, neither holding `http://` or `https://`. The prefixes are refused in any letter case, lengths are
counted as the platform's Java side counts them (UTF-16 units), and a value with a character that does not print
(a control character, NBSP, a zero-width joiner, DEL...) is refused everywhere: every output then carries exactly
the text given, never a replacement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from workbench.errors import UsageError

BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
REGION = re.compile(r"^[a-z]{2,}(-[a-z0-9]+){1,4}$")
RESOURCE_GROUP = re.compile(r"^rg-[A-Za-z0-9]{1,61}$")
ROLE_NAME = re.compile(r"^[A-Za-z0-9.-]{1,64}$")  # a RAM role name
CJK = "\u3400-\u4dbf\u4e00-\u9fff"  # the Chinese characters a name may start with
NAME = re.compile(rf"^[A-Za-z{CJK}][A-Za-z0-9{CJK}.:_-]*$")
MAX_TAGS = 20
DEFAULT_ROLE = "AliyunECSImageImportDefaultRole"  # the import's RAM role unless RoleName names another


@dataclass
class Given:
    """What the operator asks of the import (all optional)."""
    region: str | None = None
    bucket: str | None = None
    object: str | None = None
    name: str | None = None
    description: str | None = None
    tags: list[tuple[str, str]] = field(default_factory=list)
    resource_group: str | None = None
    role_name: str | None = None
    dry_run: bool = False


def _shown(value: str) -> str:
    return json.dumps(value, ensure_ascii=True)[:80]


def units(value: str) -> int:
    """The length as the platform counts it: UTF-16 code units (an emoji is two)."""
    return len(value.encode("utf-16-le")) // 2


def printable_only(value: str, what: str) -> None:
    """Refuse a character that does not print: the outputs must carry the value exactly, never a stand-in."""
    for ch in value:
        if not ch.isprintable():
            raise UsageError(f"{what} {_shown(value)} holds U+{ord(ch):04X}, a character that does not print "
                             "(control, format or space character other than a plain space): type it without it")


def _prefixed(value: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if value.lower().startswith(p)), None)


def check_name(name: str) -> None:
    printable_only(name, "--name")
    bad = _prefixed(name, ("aliyun", "acs:", "http://", "https://"))
    if bad:
        raise UsageError(f"--name {_shown(name)} must not start with {bad} (the platform reserves it)")
    if not 2 <= units(name) <= 128 or not NAME.match(name):
        raise UsageError(f"--name {_shown(name)} must be 2 to 128 characters, start with a letter or a Chinese "
                         "character, and hold only letters, digits, periods, colons, underscores and hyphens")


def check_description(text: str) -> None:
    printable_only(text, "--description")
    bad = _prefixed(text, ("http://", "https://"))
    if not 2 <= units(text) <= 256 or bad:
        raise UsageError(f"--description {_shown(text)} must be 2 to 256 characters and not start with http:// "
                         "or https://")


def parse_tag(text: str) -> tuple[str, str]:
    """KEY=VALUE (the value may be empty) as the platform takes a tag."""
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"--tag {_shown(text)} must be KEY=VALUE")
    check_tag(key, value)
    return key, value


def check_tag(key: str, value: str) -> None:
    printable_only(f"{key}={value}", "--tag")
    if not 1 <= units(key) <= 128 or _prefixed(key, ("aliyun", "acs:")):
        raise UsageError(f"--tag key {_shown(key)} must be 1 to 128 characters and not start with aliyun or acs:")
    if units(value) > 128 or _prefixed(value, ("acs:",)):
        raise UsageError(f"--tag value {_shown(value)} must be at most 128 characters and not start with acs:")
    if any(u in f"{key}={value}".lower() for u in ("http://", "https://")):
        raise UsageError(f"--tag {_shown(f'{key}={value}')} must not hold http:// or https://")


def check_tags(tags: list[tuple[str, str]]) -> None:
    if len(tags) > MAX_TAGS:
        raise UsageError(f"at most {MAX_TAGS} --tag options (the platform's limit), not {len(tags)}")
    for key, value in tags:
        check_tag(key, value)
    keys = [k for k, _ in tags]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise UsageError(f"--tag key {_shown(dup)} is given twice")


def check_object(key: str) -> None:
    printable_only(key, "--object")
    if not 1 <= len(key.encode()) <= 1023 or key.startswith(("/", "\\")):
        raise UsageError(f"--object {_shown(key)} is not an OSS object key (1 to 1023 bytes, not starting with / "
                         "or \\)")


def validate(given: Given, image: str | None = None) -> None:
    """The operator's values, as the platform checks them: one sentence (UsageError) for the first bad one."""
    if image is not None:
        printable_only(image, "the image path")
    if given.name is not None:
        check_name(given.name)
    if given.description is not None:
        check_description(given.description)
    if given.bucket is not None and (not BUCKET.match(given.bucket) or "--" in given.bucket):
        raise UsageError(f"--bucket {_shown(given.bucket)} is not an OSS bucket name (3 to 63 lower-case letters, "
                         "digits and hyphens, starting and ending with a letter or digit)")
    if given.region is not None and not REGION.match(given.region):
        raise UsageError(f"--region {_shown(given.region)} is not a region id (like cn-hangzhou or ap-southeast-1)")
    if given.object is not None:
        check_object(given.object)
    check_tags(given.tags)
    if given.resource_group is not None and not RESOURCE_GROUP.match(given.resource_group):
        raise UsageError(f"--resource-group {_shown(given.resource_group)} is not a resource group id (rg- and "
                         "letters or digits)")
    if given.role_name is not None and not ROLE_NAME.match(given.role_name):
        raise UsageError(f"--role-name {_shown(given.role_name)} is not a RAM role name (1 to 64 letters, digits, "
                         "periods and hyphens)")
