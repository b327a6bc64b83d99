"""The places sshd takes keys from, as it expands them, on in-memory trees (pure; the differential tests in
tests/unit/differential compare the same readers with the host's sshd)."""

import pytest

from tests.unit.security_trees import context
from workbench.checks import REGISTRY, all_checks, run_check
from workbench.sshd_config import argv_split, config_lines, expand_authorized, read_config, split_line

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9mZmxpbmVrZXlvZmZsaW5la2V5b2ZmbGluZWtleQ== planted@evil\n"
PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
          "bob:x:1000:1000::/home/bob:/bin/bash\n"
          "svc:x:998:998::/srv:/bin/bash\n"
          "www:x:33:33::/var/www:/usr/sbin/nologin\n")


def run(cid, ctx):
    all_checks()
    return run_check(REGISTRY[cid], ctx)


@pytest.mark.parametrize("config, path", [
    ("AuthorizedKeysFile /etc/ssh/keys/%U\n", "/etc/ssh/keys/1000"),
    ("AuthorizedKeysFile /etc/ssh/keys/%u.pub\n", "/etc/ssh/keys/bob.pub"),
    ("AuthorizedKeysFile %h/.config/k\n", "/home/bob/.config/k"),
    ("AuthorizedKeysFile /etc/ssh/100%%/%u\n", "/etc/ssh/100%/bob"),
    ("AuthorizedKeysFile .ssh/authorized_keys\nMatch all\n    AuthorizedKeysFile /etc/ssh/all/%u\n",
     "/etc/ssh/all/bob"),
    ("Match User alice\n    AuthorizedKeysFile /etc/ssh/alice_keys\n", "/etc/ssh/alice_keys"),
    ("Match Address 10.0.0.0/8\n    AuthorizedKeysFile \"/etc/ssh/keys dir/%u\"\n", "/etc/ssh/keys dir/bob"),
    ("TrustedUserCAKeys /etc/ssh/ca.pub\n", "/etc/ssh/ca.pub"),
    ("AuthorizedKeysFile .ssh/authorized_keys # comment\n", "/srv/.ssh/authorized_keys"),  # home is a system dir
    ("AuthorizedKeysFile .ssh/authorized_keys\n", "/var/www/.ssh/authorized_keys"),  # nologin: tunnels still work
])
def test_keys_where_sshd_takes_them_are_found(config, path):
    ctx = context({"/etc/passwd": PASSWD, "/etc/ssh/sshd_config": config, path: KEY})
    r = run("ssh.authorized-keys", ctx)
    assert r.status == "fail" and path in r.offers["fix.remove-authorized-keys"], r.evidence
    assert "planted@evil" in " ".join(r.evidence)


def test_a_host_key_outside_etc_ssh_is_checked():
    key = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
           "QyNTUxOQAAACBmYWtlZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZQAAAJA=\n-----END OPENSSH PRIVATE KEY-----\n")
    ctx = context({"/etc/ssh/sshd_config": "HostKey /var/lib/ssh/host_ed25519\n", "/var/lib/ssh/host_ed25519": key})
    r = run("ssh.host-keys", ctx)
    assert r.status == "fail" and r.offers["fix.remove-host-keys"] == ["/var/lib/ssh/host_ed25519"]
    relative = context({"/etc/ssh/sshd_config": "HostKey etc/hk\n", "/etc/hk": key,
                        "/etc/default/ssh": 'SSHD_OPTS="-h /opt/hk2"\n', "/opt/hk2": key})
    assert sorted(run("ssh.host-keys", relative).offers["fix.remove-host-keys"]) == ["/etc/hk", "/opt/hk2"]


def test_private_keys_in_a_system_dir_home_are_found():
    ctx = context({"/etc/passwd": PASSWD, "/srv/.ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n",
                   "/srv/data/big.bin": "not walked"})
    r = run("ssh.user-keys", ctx)
    assert r.status == "fail" and r.offers["fix.remove-user-keys"] == ["/srv/.ssh/id_ed25519"]


def test_an_include_outside_what_is_pulled_is_not_a_pass():
    ctx = context({"/etc/ssh/sshd_config": "Include /usr/local/etc/ssh/*.conf\n"})
    r = run("ssh.sshd-config", ctx)
    assert r.status == "warn" and r.incomplete and "outside /etc" in " ".join(r.evidence)
    assert run("ssh.authorized-keys", ctx).incomplete


def test_include_keeps_the_match_state_of_the_including_file():
    """sshd restores the including file's Match state after an Include: a Match inside an included file does
    not swallow the lines after the Include."""
    ctx = context({"/etc/ssh/sshd_config": "Include /etc/ssh/d/a.conf\nPermitEmptyPasswords yes\n",
                   "/etc/ssh/d/a.conf": "Match User nobody\nX11Forwarding yes\n"})
    cfg = read_config(ctx.tree)
    assert [(s.key, s.match) for s in cfg.settings] == [("x11forwarding", "User nobody"),
                                                        ("permitemptypasswords", None)]


@pytest.mark.parametrize("line, words", [
    ("PermitEmptyPasswords yes # comment", ("PermitEmptyPasswords", ["yes"])),
    ("PermitEmptyPasswords\ryes", ("PermitEmptyPasswords", ["yes"])),
    ("PermitEmptyPasswords=yes", ("PermitEmptyPasswords", ["yes"])),
    ("PermitEmptyPasswords = yes", ("PermitEmptyPasswords", ["yes"])),
    ('AuthorizedKeysFile "/a b/%u" .ssh/k', ("AuthorizedKeysFile", ["/a b/%u", ".ssh/k"])),
    ("AuthorizedKeysFile /a\\ b", ("AuthorizedKeysFile", ["/a b"])),
    ("X yes#no", ("X", ["yes#no"])),
])
def test_lines_split_as_sshd_splits_them(line, words):
    keyword, _rest, args = split_line(line)
    assert (keyword, args) == words
    assert argv_split('"unterminated') is None


def test_config_lines_as_sshd_loads_them():
    # a NUL ends its line and swallows the LF: the next line joins it
    assert config_lines(b"  A yes\n\tB\0junk\nC no\nD\r\n") == ["A yes", "BC no", "D\r", ""]


def test_expansion_refuses_unknown_tokens():
    assert expand_authorized("/k/%U/%u", "bob", 1000, "/home/bob", {}) == "/k/1000/bob"
    assert expand_authorized("%h/../x", "bob", 1000, "/home/bob", {}) == "/home/x"
    assert expand_authorized("/k/%C", "bob", 1000, "/home/bob", {}) is None
    assert expand_authorized("~alice/k", "bob", 1000, "/home/bob", {"alice": "/srv/alice"}) == "/srv/alice/k"
    assert expand_authorized(".ssh/k", "r", 0, "", {}) == "/.ssh/k"  # an empty home: sshd opens /.ssh/k


def test_an_included_file_that_was_not_read_is_not_a_pass():
    ctx = context({"/etc/ssh/sshd_config": "Include /etc/sshd_extra.conf\n", "/etc/sshd_extra.conf": "x"})
    ctx.tree.mark_unread("/etc/sshd_extra.conf", "5000000 bytes, not read (over the per-file limit)")
    node = ctx.tree.node("/etc/sshd_extra.conf")
    ctx.tree.add(type(node)(node.path, "file", size=5_000_000))  # pulled as too big: no data
    r = run("ssh.sshd-config", ctx)
    assert r.status == "warn" and r.incomplete and "/etc/sshd_extra.conf" in " ".join(r.evidence)


def test_match_blocks_in_an_included_file():
    """Each Match in an included file starts its own block, narrowed by the Match of the Include line."""
    ctx = context({"/etc/ssh/sshd_config": "Include /etc/ssh/d/a.conf\nMatch Address 10.0.0.0/8\n"
                                           "Include /etc/ssh/d/b.conf\n",
                   "/etc/ssh/d/a.conf": "Match all\nX11Forwarding yes\nMatch User deploy\nPermitEmptyPasswords yes\n",
                   "/etc/ssh/d/b.conf": "Match User ops\nPermitRootLogin yes\n"})
    assert [(s.key, s.match) for s in read_config(ctx.tree).settings] == [
        ("x11forwarding", "all"), ("permitemptypasswords", "User deploy"),
        ("permitrootlogin", "Address 10.0.0.0/8 and User ops")]
