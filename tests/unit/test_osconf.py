"""os.conf: parsing, validation of every key, rendering, and the CLI contract."""

import json

import pytest

from tests.unit.sim_helpers import CLASSIC, MULTI, VPC
from workbench.osconf import OsConf, decode_password, from_values, parse_text, validate


def errors(text):
    conf, problems = validate(text)
    return conf, [p.line() for p in problems if p.severity == "error"], [p.line() for p in problems if p.severity == "warning"]


@pytest.mark.parametrize("text", [VPC, CLASSIC, MULTI])
def test_documented_examples_are_valid_and_round_trip(text):
    conf, errs, _ = errors(text)
    assert conf is not None and errs == []
    again, errs2, _ = errors(conf.render())
    assert again == conf and errs2 == []
    assert parse_text(conf.render())[0] == conf.values()


def test_vpc_and_classic():
    assert validate(VPC)[0].network == "vpc"
    assert validate(CLASSIC)[0].network == "classic"
    assert validate("hostname=a\n")[0].network == "vpc"


def test_documented_password_loses_its_trailing_newline():
    assert decode_password("cXdlcjEyMzQK") == "qwer1234"
    _, _, warns = errors(VPC)
    assert any(w.startswith("password: warning: the platform requires three of") for w in warns)


@pytest.mark.parametrize("line,message", [
    ("hostname=-bad-", "hostname: '-bad-' is not a valid host name"),
    ("hostname=" + "a" * 64, "hostname: '" + "a" * 64 + "' is not a valid host name"),
    ("password=not base64!", "password: contains characters"),
    ("password=@@@", "password: contains characters"),
    ("password=////", "password: does not decode to UTF-8 text"),
    ("password=Cg==", "password: decodes to an empty password"),
    ("password=YQpiCg==", "password: decodes to several lines"),
    ("eth0_ip_addr=10.0.0.256\neth0_netmask=255.0.0.0", "eth0_ip_addr: '10.0.0.256' is not an IPv4 address"),
    ("eth0_ip_addr=010.0.0.1\neth0_netmask=255.0.0.0", "eth0_ip_addr: '010.0.0.1' is not an IPv4 address"),
    ("eth0_ip_addr=10.0.0.1\neth0_netmask=255.255.0.255", "eth0_netmask: '255.255.0.255' is not a contiguous netmask"),
    ("eth0_ip_addr=10.0.0.1\neth0_netmask=0.0.0.0", "eth0_netmask: a netmask of 0.0.0.0 leaves no network"),
    ("eth0_ip_addr=10.0.0.1\neth0_netmask=255.0.0.0\neth0_mac_addr=00:8c:fa:5e:14", "eth0_mac_addr: '00:8c:fa:5e:14' is not a MAC"),
    ('eth0_ip_addr=10.0.0.1\neth0_netmask=255.0.0.0\neth0_route="0.0.0.0/0"', "eth0_route: route 1 '0.0.0.0/0' is not 'CIDR gateway'"),
    ('eth0_ip_addr=10.0.0.1\neth0_netmask=255.0.0.0\neth0_route="10.0.0.0/40 10.0.0.1"', "has no valid prefix length"),
    ('dns_nameserver="7.7.7.7 8.8.8"', "dns_nameserver: '8.8.8' is not an IPv4 address"),
    ("eth0_mac_addr=00:8c:fa:5e:14:23", "eth0_ip_addr, eth0_netmask missing"),
    ("eth1_ip_addr=1.2.3.4\neth1_netmask=255.255.255.0", "eth0_ip_addr: missing: a classic network"),
    ("foo=bar", "foo: is not an os.conf key (line 1)"),
    ("hostname=a\nhostname=b", "hostname: appears twice (lines 1 and 2)"),
    ("just text", "line 1: is not key=value"),
])
def test_each_bad_key_is_named(line, message):
    conf, errs, _ = errors(line + "\n")
    assert conf is None
    assert any(e.startswith(message) or message in e for e in errs), errs


@pytest.mark.parametrize("value", ["$(reboot)", "`id`", "a;b", "a|b", "a&b", "a>b", "a\\b", "a'b", 'a"b', "a\tb",
                                   "a\x1bb", "a{b}", "a*", "a?b", "~root", "a!b", "a#b", "a[1]"])
def test_shell_metacharacters_are_rejected_in_every_key(value):
    for key in ("hostname", "password", "eth0_ip_addr", "eth0_route", "dns_nameserver", "eth1_mac_addr"):
        conf, problems = from_values({key: value})
        assert conf is None
        assert any(p.key == key and (("not allowed" in p.message) or key == "eth0_route" and value == "a;b")
                   for p in problems), (key, value, problems)


def test_every_bad_key_is_reported_not_only_the_first():
    text = "hostname=$(x)\npassword=%%%\neth0_ip_addr=1.2.3\neth0_netmask=1.2.3.4\ndns_nameserver=x\n"
    _, errs, _ = errors(text)
    assert {e.split(":")[0] for e in errs} == {"hostname", "password", "eth0_ip_addr", "eth0_netmask", "dns_nameserver"}


def test_non_utf8_long_and_newline_values():
    conf, errs, _ = errors(b"hostname=caf\xe9\n")
    assert conf is None and any("not UTF-8" in e for e in errs)
    conf, errs, _ = errors("hostname=" + "a" * 600 + "\n")
    assert any("longer than 512" in e for e in errs)
    conf, problems = from_values({"hostname": "a\nb"})
    assert conf is None and "not allowed" in problems[0].message


def test_warnings_do_not_invalidate():
    text = ("eth0_ip_addr=10.0.0.5\neth0_netmask=255.255.255.0\neth0_gateway=10.0.1.1\n"
            'eth0_route="10.0.0.1/8 10.0.0.1;10.0.0.0/8 10.0.0.1"\n')
    conf, errs, warns = errors(text)
    assert conf is not None and errs == []
    assert "eth0_gateway: warning: 10.0.1.1 is outside eth0's subnet 10.0.0.0/24" in warns
    assert any("host bits set" in w for w in warns) and any("listed twice" in w for w in warns)
    assert any("no default route (0.0.0.0/0) for the VPC; the parser uses eth0_gateway (10.0.1.1)" in w for w in warns)


def test_model_is_frozen_and_forbids_extra():
    with pytest.raises(Exception):
        OsConf(nonsense="1")
    conf = validate(VPC)[0]
    with pytest.raises(Exception):
        conf.hostname = "x"


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_validate(run_cli, tmp_path):
    good = tmp_path / "good.conf"
    good.write_text(VPC)
    proc = run_cli("osconf", "validate", good)
    assert proc.returncode == 0 and proc.stdout.startswith("password: warning:")
    bad = tmp_path / "bad.conf"
    bad.write_text("hostname=$(reboot)\neth0_ip_addr=1.2.3.4\n")
    proc = run_cli("osconf", "validate", bad)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert "eth0_netmask: eth0_netmask missing: eth0 is configured, and needs an address and a netmask" in lines
    assert any(ln.startswith("hostname: contains characters") for ln in lines)
    proc = run_cli("osconf", "validate", tmp_path / "missing.conf")
    assert proc.returncode == 2 and proc.stdout == "" and "no such file" in proc.stderr


def test_cli_render(run_cli, tmp_path):
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"hostname": "web1", "eth0_ip_addr": "10.0.0.5", "eth0_netmask": "255.255.255.0",
                             "eth0_route": "0.0.0.0/0 10.0.0.1", "dns_nameserver": "1.1.1.1"}))
    proc = run_cli("osconf", "render", "--from-json", j)
    assert proc.returncode == 0
    assert proc.stdout == ('hostname=web1\neth0_ip_addr=10.0.0.5\neth0_netmask=255.255.255.0\n'
                           'eth0_route="0.0.0.0/0 10.0.0.1"\ndns_nameserver="1.1.1.1"\n')
    j.write_text(json.dumps({"hostname": "$(x)"}))
    proc = run_cli("osconf", "render", "--from-json", j)
    assert proc.returncode == 1 and "hostname: contains characters" in proc.stderr and proc.stdout == ""
    j.write_text("[1, 2")
    proc = run_cli("osconf", "render", "--from-json", j)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
