"""os.conf: the file the platform writes on the first partition at first boot.

Parsed as key=value lines (a value optionally in double quotes), validated key
by key, rendered back in the documented layout. Nothing is ever evaluated.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

QUOTED = ("eth0_route", "eth1_route", "dns_nameserver")  # in double quotes, as the documentation writes them
ALLOWED = re.compile(r"^[A-Za-z0-9.:/ =+_-]*$")
ALLOWED_ROUTE = re.compile(r"^[A-Za-z0-9.:/ ;=+_-]*$")
MAX_VALUE = 512
MAX_LINES = 200  # the parser reads this many lines and ignores the rest: one limit for both (parsers.build_script)
SPECIALS = set("()`~!@#$%^&*-+=|{}[]:;'<>,.?/")
MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def line(self) -> str:
        return f"{self.key}: {'warning: ' if self.severity == 'warning' else ''}{self.message}"


def _ipv4(value: str) -> ipaddress.IPv4Address:
    try:
        parts = value.split(".")
        if len(parts) != 4 or any(not p.isdigit() or (len(p) > 1 and p[0] == "0") for p in parts):
            raise ValueError
        return ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError):
        raise ValueError(f"'{value}' is not an IPv4 address (four numbers 0-255 separated by dots)") from None


def netmask_prefix(value: str) -> int:
    addr = int(_ipv4(value))
    inverted = ~addr & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise ValueError(f"'{value}' is not a contiguous netmask (like 255.255.255.0)")
    prefix = 32 - inverted.bit_length()
    if prefix == 0:
        raise ValueError("a netmask of 0.0.0.0 leaves no network")
    return prefix


@dataclass(frozen=True)
class Route:
    destination: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    host_bits: bool  # the destination had host bits set (10.0.0.1/8)

    @property
    def is_default(self) -> bool:
        return self.destination.prefixlen == 0


def parse_routes(value: str) -> list[Route]:
    routes = []
    for n, entry in enumerate(value.split(";"), 1):
        entry = entry.strip()
        if not entry:
            continue
        parts = entry.split()
        if len(parts) != 2 or "/" not in parts[0]:
            raise ValueError(f"route {n} '{entry}' is not 'CIDR gateway' (e.g. 0.0.0.0/0 10.0.0.1)")
        net, _, bits = parts[0].partition("/")
        _ipv4(net)
        if not bits.isdigit() or int(bits) > 32:
            raise ValueError(f"route {n}: '{parts[0]}' has no valid prefix length (0-32)")
        strict = True
        try:
            dest = ipaddress.IPv4Network(parts[0], strict=True)
        except ValueError:
            dest, strict = ipaddress.IPv4Network(parts[0], strict=False), False
        routes.append(Route(dest, _ipv4(parts[1]), not strict))
    if not routes:
        raise ValueError("no route given (entries are 'CIDR gateway', separated by ';')")
    return routes


def decode_password(value: str) -> str:
    """The password as the parser will set it: base64-decoded UTF-8, trailing newlines removed."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("does not decode to UTF-8 text") from None
    text = text.rstrip("\n")  # `echo pw | base64` adds one, as in the documented example
    if not text:
        raise ValueError("decodes to an empty password")
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError("decodes to several lines or a NUL character")
    return text


def password_warnings(pw: str) -> list[str]:
    out = []
    if not 8 <= len(pw) <= 30:
        out.append(f"the platform requires 8 to 30 characters (this one has {len(pw)})")
    classes = sum([any(c.islower() for c in pw), any(c.isupper() for c in pw), any(c.isdigit() for c in pw),
                   any(c in SPECIALS for c in pw)])
    if classes < 3:
        out.append("the platform requires three of: lower case, upper case, digits, special characters")
    if any(not (c.isalnum() or c in SPECIALS) for c in pw):
        out.append("has characters outside letters, digits and ()`~!@#$%^&*-+=|{}[]:;'<>,.?/")
    return out


class OsConf(BaseModel):
    """The documented os.conf keys; None means the key is absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hostname: str | None = None
    password: str | None = None
    eth0_ip_addr: str | None = None
    eth0_mac_addr: str | None = None
    eth0_netmask: str | None = None
    eth0_gateway: str | None = None
    eth0_route: str | None = None
    eth1_ip_addr: str | None = None
    eth1_mac_addr: str | None = None
    eth1_netmask: str | None = None
    eth1_gateway: str | None = None
    eth1_route: str | None = None
    dns_nameserver: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_shell(cls, v, info):
        if v is None:
            return v
        if not isinstance(v, str):
            raise ValueError("must be text")
        if len(v) > MAX_VALUE:
            raise ValueError(f"is longer than {MAX_VALUE} characters")
        pattern = ALLOWED_ROUTE if info.field_name.endswith("_route") else ALLOWED
        if not pattern.match(v):
            bad = sorted({c for c in v if not pattern.match(c)})
            shown = " ".join(repr(c) for c in bad[:6])
            raise ValueError(f"contains characters that are not allowed (shell metacharacters or "
                             f"control characters): {shown}")
        if v.strip() == "":
            raise ValueError("is empty")
        return v

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v):
        if v is None:
            return v
        name = v.rstrip(".")
        if len(name) > 253 or not all(LABEL.match(label) for label in name.split(".")):
            raise ValueError(f"'{v}' is not a valid host name (RFC 1123: letters, digits and hyphens, "
                             "labels of 1-63 characters)")
        return v

    @field_validator("password")
    @classmethod
    def _password(cls, v):
        if v is not None:
            decode_password(v)
        return v

    @field_validator("eth0_ip_addr", "eth1_ip_addr", "eth0_gateway", "eth1_gateway")
    @classmethod
    def _ip(cls, v):
        if v is not None:
            _ipv4(v)
        return v

    @field_validator("eth0_netmask", "eth1_netmask")
    @classmethod
    def _mask(cls, v):
        if v is not None:
            netmask_prefix(v)
        return v

    @field_validator("eth0_mac_addr", "eth1_mac_addr")
    @classmethod
    def _mac(cls, v):
        if v is not None and not MAC.match(v):
            raise ValueError(f"'{v}' is not a MAC address (six hex pairs separated by colons)")
        return v

    @field_validator("eth0_route", "eth1_route")
    @classmethod
    def _route(cls, v):
        if v is not None:
            parse_routes(v)
        return v

    @field_validator("dns_nameserver")
    @classmethod
    def _dns(cls, v):
        if v is not None:
            for ns in v.split():
                _ipv4(ns)
        return v

    # -- derived ----------------------------------------------------------------------------------
    @property
    def classic(self) -> bool:
        """Classic network: eth1 keys are present (eth1 the internet side). Otherwise VPC (eth0 only)."""
        return any(getattr(self, k) is not None for k in ETH1_KEYS)

    @property
    def network(self) -> str:
        return "classic" if self.classic else "vpc"

    def values(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in KEYS if getattr(self, k) is not None}

    def render(self) -> str:
        return render_values(self.values())

    def warnings(self) -> list[Problem]:
        out: list[Problem] = []
        if self.password is not None:
            out += [Problem("password", w, "warning") for w in password_warnings(decode_password(self.password))]
        if self.hostname is not None and len(self.hostname) > 64:
            out.append(Problem("hostname", "Linux keeps only the first 64 characters of a host name", "warning"))
        for iface in ("eth0", "eth1"):
            ip, mask = getattr(self, f"{iface}_ip_addr"), getattr(self, f"{iface}_netmask")
            if ip is None or mask is None:
                continue
            net = ipaddress.IPv4Network(f"{ip}/{netmask_prefix(mask)}", strict=False)
            gw = getattr(self, f"{iface}_gateway")
            if gw is not None and ipaddress.IPv4Address(gw) not in net:
                out.append(Problem(f"{iface}_gateway", f"{gw} is outside {iface}'s subnet {net}", "warning"))
            route = getattr(self, f"{iface}_route")
            if route is None:
                continue
            seen = set()
            for r in parse_routes(route):
                if r.gateway not in net:
                    out.append(Problem(f"{iface}_route", f"gateway {r.gateway} of {r.destination} is outside "
                                                         f"{iface}'s subnet {net}", "warning"))
                if r.host_bits:
                    out.append(Problem(f"{iface}_route", f"{r.destination.network_address}/{r.destination.prefixlen}"
                                                         " has host bits set", "warning"))
                if r.destination in seen:
                    out.append(Problem(f"{iface}_route", f"{r.destination} is listed twice", "warning"))
                seen.add(r.destination)
        default_iface = "eth1" if self.classic else "eth0"
        route = getattr(self, f"{default_iface}_route")
        if getattr(self, f"{default_iface}_ip_addr") and not (route and any(r.is_default for r in parse_routes(route))):
            fallback = getattr(self, f"{default_iface}_gateway")
            how = f"the parser uses {default_iface}_gateway ({fallback})" if fallback else "the instance gets none"
            out.append(Problem(f"{default_iface}_route", f"no default route (0.0.0.0/0) for the "
                               f"{'classic internet side' if self.classic else 'VPC'}; {how}", "warning"))
        return out


KEYS = tuple(OsConf.model_fields)  # the documented keys, in the documented order: the model is the one list
ETH1_KEYS = tuple(k for k in KEYS if k.startswith("eth1_"))


def render_values(values: dict[str, str]) -> str:
    """os.conf text in the documented layout (key order, quoted lists), valid or not."""
    lines = []
    for k in KEYS:
        v = values.get(k)
        if v is not None:
            lines.append(f'{k}="{v}"' if k in QUOTED else f"{k}={v}")
    return "\n".join(lines) + ("\n" if lines else "")


def encode_password(plain: str) -> str:
    return base64.b64encode(plain.encode("utf-8")).decode("ascii")


def parse_text(data: str | bytes) -> tuple[dict[str, str], list[Problem]]:
    """key=value pairs and the syntax problems (unknown or repeated keys, lines without =, bad bytes)."""
    problems: list[Problem] = []
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append(Problem("os.conf", f"is not UTF-8 text (byte {e.start})"))
            text = data.decode("utf-8", "replace")
    else:
        text = data
    values: dict[str, str] = {}
    where: dict[str, int] = {}
    # the grammar of the parser (assets/parsers/os-conf.sh.in, read_conf): every CR dropped, a line starting with #
    # is a comment, the key is everything before the first = exactly as written, one pair of double quotes around
    # the value is dropped; only the first MAX_LINES lines are read
    if text.startswith("\ufeff"):
        problems.append(Problem("os.conf", "starts with a UTF-8 byte-order mark, which the parser would read as part "
                                           "of the first key (so it would ignore that line); save it without one"))
        text = text[1:]
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        line = line.replace("\r", "")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if n > MAX_LINES:
            problems.append(Problem(f"line {n}", f"is past the {MAX_LINES} lines the parser reads, so it would be "
                                                 "ignored"))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            problems.append(Problem(f"line {n}", "is not key=value"))
            continue
        if key != key.strip() and key.strip() in KEYS:
            problems.append(Problem(key.strip(), f"has spaces around it (line {n}); the parser reads the key exactly "
                                                 "as written and would ignore this line"))
            continue
        if key not in KEYS:
            shown = key if re.match(r"^[A-Za-z0-9_.-]{1,40}$", key) else repr(key[:40])
            problems.append(Problem(shown, f"is not an os.conf key (line {n})"))
            continue
        if key in values:
            problems.append(Problem(key, f"appears twice (lines {where[key]} and {n})"))
            continue
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        values[key] = value
        where[key] = n
    return values, problems


def validate(data: str | bytes) -> tuple[OsConf | None, list[Problem]]:
    """The model (None when invalid) and every problem: errors for each bad key, then warnings."""
    values, problems = parse_text(data)
    return from_values(values, problems)


def completeness(values: dict) -> list[Problem]:
    """Keys that must come together: an interface needs its address and netmask; classic needs eth0."""
    out = []
    for iface in ("eth0", "eth1"):
        given = [k for k in KEYS if k.startswith(iface) and values.get(k) is not None]
        missing = [k for k in (f"{iface}_ip_addr", f"{iface}_netmask") if values.get(k) is None]
        if given and missing:
            out.append(Problem(missing[0], f"{', '.join(missing)} missing: {iface} is configured, and needs an "
                                           "address and a netmask"))
    if any(values.get(k) is not None for k in ETH1_KEYS) and values.get("eth0_ip_addr") is None \
            and not any(p.key == "eth0_ip_addr" for p in out):
        out.append(Problem("eth0_ip_addr", "missing: a classic network has eth0 (intranet) as well as eth1"))
    return out


def from_values(values: dict, problems: list[Problem] | None = None) -> tuple[OsConf | None, list[Problem]]:
    problems = list(problems or [])
    problems += completeness(values)
    try:
        conf = OsConf(**values)
    except ValidationError as e:
        for err in e.errors():
            key = str(err["loc"][0]) if err["loc"] else "os.conf"
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "is not an os.conf key"
            problems.append(Problem(key, msg))
        return None, problems
    if any(p.severity == "error" for p in problems):
        return None, problems + conf.warnings()
    return conf, problems + conf.warnings()


EXAMPLE_VPC = ('hostname=iZ23r29djmjZ\npassword=cXdlcjEyMzQK\neth0_ip_addr=10.171.254.123\n'
               'eth0_mac_addr=00:8c:fa:5e:14:23\neth0_netmask=255.255.255.0\neth0_gateway=10.171.254.1\n'
               'eth0_route="0.0.0.0/0 10.171.254.1"\ndns_nameserver="7.7.7.7 8.8.8.8"\n')
