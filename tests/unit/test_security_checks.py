"""Every security check on in-memory trees, including hostile and broken input."""

import time

import pytest

from tests.unit.security_trees import SHA_123456, SHA_STRONG, context, passwd
from workbench import crypt
from workbench.checks import REGISTRY, run_check
from workbench.checks.passwords import name_variants, scan
from workbench.checks.services import xinetd_services
from workbench.checks.ssh import sshd_settings
from workbench.fixes import build_fixes, combine

ROOT_LINE = "root:x:0:0:root:/root:/bin/bash"


def run(check_id, ctx):
    return run_check(REGISTRY[check_id], ctx)


# -- passwords ---------------------------------------------------------------------------------------
def test_empty_password_on_login_accounts_only():
    ctx = context({"/etc/passwd": passwd(ROOT_LINE, "svc:x:998:998::/var/lib/svc:/sbin/nologin",
                                         "guest:x:1001:1001::/home/guest:"),
                   "/etc/shadow": "root::19000:0:99999:7:::\nsvc::19000::::::\nguest::19000::::::\n"})
    r = run("password.empty", ctx)
    assert r.status == "fail" and r.severity == "high"
    assert [e.split(":")[0] for e in r.evidence] == ["root (uid 0)", "guest (uid 1001)"]  # empty shell = /bin/sh
    assert r.offers == {"fix.lock-account": ["root", "guest"]}


def test_locked_and_starred_accounts_are_fine():
    ctx = context({"/etc/passwd": passwd(ROOT_LINE, "a:x:1000:1000::/home/a:/bin/bash"),
                   "/etc/shadow": f"root:!{SHA_123456}:0:::::\na:*:19000::::::\n"})
    for cid in ("password.empty", "password.default", "password.first-login-change", "password.weak-hash"):
        assert run(cid, ctx).status == "pass", cid


def test_default_password_found_and_never_named():
    ctx = context({"/etc/passwd": passwd(ROOT_LINE, "ops:x:1000:1000::/home/ops:/bin/bash"),
                   "/etc/shadow": f"root:{SHA_123456}:19000:0:99999:7:::\nops:{SHA_STRONG}:19000::::::\n"})
    r = run("password.default", ctx)
    assert r.status == "fail"
    assert r.evidence[0] == "root (uid 0): matches a default password (the bundled list)"
    assert not any("123456" in e for e in r.evidence) and "123456" not in r.detail
    assert r.offers == {"fix.lock-account": ["root"]}


def test_user_name_variants_are_tried():
    h = crypt.md5_crypt("deploy123", "s4lt")
    ctx = context({"/etc/passwd": passwd("deploy:x:1000:1000::/home/deploy:/bin/bash"),
                   "/etc/shadow": f"deploy:{h}:19000::::::\n"})
    r = run("password.default", ctx)
    assert r.status == "fail" and "variant of the user name" in r.evidence[0]
    assert "deploy123" in name_variants("deploy")


@pytest.mark.parametrize("setting", ["$y$j9T$", "$5$rounds=5000$", "$2b$10$", "$1$", "ab"])
def test_every_scheme_verifies(setting):
    salt = {"$y$j9T$": "$y$j9T$abcdefghijklmnop$", "$5$rounds=5000$": "$5$rounds=5000$saltsalt$",
            "$2b$10$": "$2b$10$" + "a" * 22, "$1$": "$1$saltsalt$", "ab": "ab"}[setting]
    h = crypt.crypt("changeme", salt)
    assert h and crypt.verify("changeme", h) and not crypt.verify("changemf", h)
    assert scan([("x", h)], ["nope", "changeme"]) == {"x": "list"}


def test_scan_stops_an_account_at_its_first_hit_and_reports_progress():
    h = crypt.sha512_crypt("first", "stopSalt")
    seen = []
    words = ["first"] + [f"w{i}" for i in range(200)]
    found = scan([("u", h)], words, workers=2, progress=seen.append)
    assert found == {"u": "list"}
    assert seen[-1].done == seen[-1].total and seen[-1].found == 1


def test_scan_can_be_cancelled():
    import threading

    h = crypt.sha512_crypt("never-in-the-list", "cancelSalt")
    cancel = threading.Event()
    cancel.set()
    t = time.monotonic()
    assert scan([("u", h)], [f"w{i}" for i in range(500)], cancel=cancel) == {}
    assert time.monotonic() - t < 1.0
    ctx = context({"/etc/passwd": passwd(ROOT_LINE), "/etc/shadow": f"root:{h}:0::::::\n"},
                  cancel=cancel)
    assert run("password.default", ctx).status == "skip"


def test_first_login_change():
    ctx = context({"/etc/passwd": passwd(ROOT_LINE, "a:x:1000:1000::/home/a:/bin/bash"),
                   "/etc/shadow": f"root:{SHA_STRONG}:0:0:99999:7:::\na:{SHA_STRONG}:19500:0:99999:7:::\n"})
    r = run("password.first-login-change", ctx)
    assert r.status == "fail" and r.evidence == ["a (uid 1000): password last changed on day 19500, not forced to change"]
    assert r.offers == {"fix.expire-passwords": ["a"]}


@pytest.mark.parametrize("h,word", [("abJnggxhB/yWI", "des"), ("$1$x$y", "md5-crypt"), ("$3$$8846f7eaee8fb117ad06bdd830b7586c", "NT hash"),
                                    ("$6$rounds=1000$s$h", "1000 rounds"), ("plaintext", "not a recognised")])
def test_weak_hashes(h, word):
    ctx = context({"/etc/passwd": passwd(ROOT_LINE), "/etc/shadow": f"root:{h}:0::::::\n"})
    r = run("password.weak-hash", ctx)
    assert r.status == "fail" and word in r.evidence[0]


def test_hostile_account_files():
    garbage = "\x00\xff" * 1000 + "\n" + "root:x:0:0:r:/root:/bin/bash\r\n" + "junk\n" * 5 + "root:x:0:0:dup:/:/bin/sh\n"
    shadow = "root::0::::::\r\n" + "root:$6$x$y:1::::::\n" + ("a" * 100_000) + "\n"
    ctx = context({"/etc/passwd": garbage, "/etc/shadow": shadow})
    r = run("password.empty", ctx)
    assert r.status == "fail"
    assert any("more than once" in e for e in r.evidence)
    for cid in ("password.default", "password.first-login-change", "password.weak-hash"):
        assert run(cid, ctx).status in ("pass", "fail")


def test_no_passwd_skips():
    ctx = context({"/etc/os-release": "ID=debian\n"})
    assert run("password.empty", ctx).status == "skip"


# -- ssh ---------------------------------------------------------------------------------------------
OPENSSH_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
               "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
               "QyNTUxOQAAACBmYWtlZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZQAAAJA=\n"
               "-----END OPENSSH PRIVATE KEY-----\n")


def test_host_keys_by_name_and_content_and_regeneration_note():
    ctx = context({"/etc/ssh/ssh_host_ed25519_key": OPENSSH_KEY, "/etc/ssh/ssh_host_ed25519_key.pub": "ssh-ed25519 AAA",
                   "/etc/ssh/odd_name": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
                   "/etc/ssh/ssh_host_rsa_key": "", "/usr/lib/systemd/system/sshd-keygen@.service": "[Unit]\n"})
    r = run("ssh.host-keys", ctx)
    assert r.status == "fail"
    assert sorted(r.offers["fix.remove-host-keys"]) == ["/etc/ssh/odd_name", "/etc/ssh/ssh_host_ed25519_key",
                                                        "/etc/ssh/ssh_host_rsa_key"]
    assert "(ssh-ed25519)" in r.evidence[1] or "(ssh-ed25519)" in " ".join(r.evidence)
    assert any("sshd-keygen@.service" in e for e in r.evidence)
    clean = context({"/etc/ssh/sshd_config": "Port 22\n"})
    r = run("ssh.host-keys", clean)
    assert r.status == "pass" and "nothing in the image regenerates" in r.evidence[0]


def test_user_keys_found_by_content_anywhere_in_homes():
    ctx = context({"/etc/passwd": passwd(ROOT_LINE, "bob:x:1000:1000::/home/bob:/bin/bash"),
                   "/home/bob/backup/deploy": OPENSSH_KEY, "/root/.ssh/id_rsa.pub": "ssh-rsa AAA x",
                   "/home/bob/.putty/key.ppk": "PuTTY-User-Key-File-3: ssh-rsa\nEncryption: aes256-cbc\n",
                   "/home/bob/notes.txt": "no key here"})
    r = run("ssh.user-keys", ctx)
    assert r.status == "fail"
    assert r.offers["fix.remove-user-keys"] == ["/home/bob/.putty/key.ppk", "/home/bob/backup/deploy"]
    assert any("passphrase-protected" in e for e in r.evidence)
    assert any("ssh-ed25519 private key (not encrypted)" in e for e in r.evidence)


def test_home_symlinked_outside_is_not_followed_into_system_dirs():
    ctx = context({"/etc/passwd": passwd(ROOT_LINE, "evil:x:1000:1000::/home/evil:/bin/bash"),
                   "/etc/ssh/ssh_host_rsa_key": OPENSSH_KEY}, {"/home/evil": "/etc", "/root": "/"})
    r = run("ssh.user-keys", ctx)
    assert r.status == "pass"  # /etc (and /) are system directories, not homes


def test_authorized_keys_with_comments_and_sshd_path():
    ctx = context({"/etc/passwd": passwd(ROOT_LINE),
                   "/root/.ssh/authorized_keys": 'from="10.0.0.0/8" ssh-ed25519 AAAAC3 ops@[red]bastion[/red]\n# c\n\n'
                                                 "ssh-rsa AAAAB3 \n",
                   "/etc/ssh/sshd_config": "AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u\n",
                   "/etc/ssh/keys/root": "ecdsa-sha2-nistp256 AAAA extra@host\n"})
    r = run("ssh.authorized-keys", ctx)
    assert r.status == "fail" and len(r.evidence) == 3
    assert "ops@[red]bastion[/red]" in r.evidence[0] and '[from="10.0.0.0/8"]' in r.evidence[0]
    assert "no comment" in r.evidence[1]
    assert r.offers["fix.remove-authorized-keys"] == ["/root/.ssh/authorized_keys", "/etc/ssh/keys/root"]


def test_sshd_config_first_value_wins_includes_and_match():
    files = {"/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nPermitEmptyPasswords no\n"
                                     "PermitRootLogin yes\nMatch User guest\n  PermitEmptyPasswords yes\n",
             "/etc/ssh/sshd_config.d/10-a.conf": "permitemptypasswords=yes\n",
             "/etc/ssh/sshd_config.d/20-b.conf": "PermitEmptyPasswords no\n"}
    ctx = context(files)
    r = run("ssh.sshd-config", ctx)
    assert r.status == "fail"
    # each finding quotes the line as the file has it, with its path and line number
    assert "/etc/ssh/sshd_config.d/10-a.conf:1: permitemptypasswords=yes: accounts with empty passwords can log in" \
        in r.evidence  # the Include comes first: its value wins
    assert "/etc/ssh/sshd_config:5: PermitEmptyPasswords yes (in Match User guest): accounts with empty passwords " \
           "can log in" in r.evidence
    assert any(e.startswith("/etc/ssh/sshd_config:3: PermitRootLogin yes: ") for e in r.evidence)
    assert "permitemptypasswords=yes; PermitEmptyPasswords yes" in r.detail
    safe = context({"/etc/ssh/sshd_config": "PermitEmptyPasswords no\nPermitEmptyPasswords yes\n"})
    assert run("ssh.sshd-config", safe).status == "pass"  # the later value is ignored by sshd


def test_sshd_include_loops_end():
    ctx = context({"/etc/ssh/sshd_config": "Include /etc/ssh/a\n", "/etc/ssh/a": "Include /etc/ssh/b\nX11Forwarding yes\n",
                   "/etc/ssh/b": "Include /etc/ssh/a\nInclude /etc/ssh/sshd_config\n"})
    settings, notes = sshd_settings(ctx.tree)
    assert any("loop" in n for n in notes)
    assert run("ssh.sshd-config", ctx).status == "pass"


# -- services ----------------------------------------------------------------------------------------
def test_systemd_wants_sockets_and_masks():
    ctx = context({"/usr/lib/systemd/system/telnet.socket": "[Socket]\nListenStream=23\n",
                   "/etc/systemd/system/sockets.target.wants/": ""},
                  {"/etc/systemd/system/sockets.target.wants/telnet.socket": "/usr/lib/systemd/system/telnet.socket",
                   "/etc/systemd/system/multi-user.target.wants/vsftpd.service": "/usr/lib/systemd/system/vsftpd.service",
                   "/etc/systemd/system/rpcbind.service": "/dev/null",
                   "/etc/systemd/system/multi-user.target.wants/rpcbind.service": "/usr/lib/systemd/system/rpcbind.service"})
    r = run("service.risky", ctx)
    assert r.status == "fail" and r.severity == "high"
    assert "telnet" in r.detail and "FTP server" in r.detail and "rpcbind" not in r.detail  # masked = off
    assert "link:/etc/systemd/system/sockets.target.wants/telnet.socket" in r.offers["fix.disable-service"]


def test_sysv_openrc_upstart_xinetd_inetd():
    ctx = context({"/etc/rc.d/init.d/vsftpd": "#!/bin/sh\n", "/etc/runlevels/default/": "",
                   "/etc/init/tftpd-hpa.conf": "start on runlevel [2345]\n",
                   "/etc/init/ypbind.conf": "start on runlevel [2345]\n",
                   "/etc/xinetd.d/rsh": "service shell\n{\n  disable = no\n}\n",
                   "/etc/xinetd.d/tftp": "service tftp\n{\n  disable = yes\n}\n",
                   "/etc/inetd.conf": "#telnet stream tcp nowait root /usr/sbin/tcpd in.telnetd\n"
                                      "finger stream tcp nowait nobody /usr/sbin/tcpd in.fingerd\n"},
                  {"/etc/rc.d/rc3.d/S60vsftpd": "../init.d/vsftpd", "/etc/rc3.d": "rc.d/rc3.d",
                   "/etc/runlevels/default/snmpd": "/etc/init.d/snmpd"})
    r = run("service.risky", ctx)
    text = " ".join(r.evidence)
    assert "S60vsftpd" in text and "tftpd-hpa.conf" in text
    assert "xinetd service shell" in text and "xinetd itself is not enabled" in text
    assert "inetd line for finger" in text and "telnet" not in r.detail
    assert "SNMP" not in r.detail  # enabled, but no default community
    assert "xinetd service tftp" not in text  # disable = yes


def test_snmp_default_community_and_nfs_exports():
    ctx = context({"/etc/snmp/snmpd.conf": "rocommunity public default\n", "/etc/exports": "/srv 10.0.0.0/8(rw)\n"},
                  {"/etc/systemd/system/multi-user.target.wants/snmpd.service": "/x",
                   "/etc/systemd/system/multi-user.target.wants/nfs-server.service": "/y"})
    r = run("service.risky", ctx)
    assert "SNMP with a default community" in r.detail and "NFS server with exports" in r.detail
    assert any("rocommunity public" in e for e in r.evidence)


def test_upstart_manual_override_and_clean_image():
    ctx = context({"/etc/init/tftpd-hpa.conf": "start on runlevel [2345]\n", "/etc/init/tftpd-hpa.override": "manual\n"})
    assert run("service.risky", ctx).status == "pass"


def test_unit_names_with_markup_are_evidence_text():
    ctx = context({"/etc/xinetd.d/x": "service telnet\n{\n}\n"}, {"/etc/rc3.d/S01[b]telnetd[/b]": "/x"})
    r = run("service.risky", ctx)
    assert r.status == "fail"  # xinetd block without disable: enabled
    assert xinetd_services(ctx.tree) == [("telnet", "/etc/xinetd.d/x", True)]


# -- fixes -------------------------------------------------------------------------------------------
def test_fixes_are_file_changes():
    ctx = context({"/etc/passwd": passwd(ROOT_LINE, "a:x:1000:1000::/home/a:/bin/bash"),
                   "/etc/shadow": f"root:{SHA_123456}:19000:0:99999:7:::\na::19000::::::\n",
                   "/etc/ssh/ssh_host_rsa_key": OPENSSH_KEY, "/etc/ssh/ssh_host_rsa_key.pub": "ssh-rsa AAA",
                   "/etc/ssh/sshd_config": "PermitEmptyPasswords yes\nPort 22\n",
                   "/etc/xinetd.d/telnet": "service telnet\n{\n        disable         = no\n}\n"},
                  {"/etc/systemd/system/multi-user.target.wants/xinetd.service": "/usr/lib/systemd/system/xinetd.service"})
    results = [run(c, ctx) for c in REGISTRY]
    fixes = {f.id: f for f in build_fixes(results, ctx.tree)}
    lock = fixes["fix.lock-account"]
    assert set(lock.targets) == {"a", "root"} and set(lock.checks) == {"password.empty", "password.default"}
    shadow = lock.changes[0]
    assert shadow.path == "/etc/shadow" and shadow.after.startswith(f"root:!{SHA_123456}:") and "\na:!:19000" in shadow.after
    expire = fixes["fix.expire-passwords"].changes[0]
    assert f"root:{SHA_123456}:0:0" in expire.after
    keys = fixes["fix.remove-host-keys"].changes
    assert [(c.path, c.action) for c in keys] == [("/etc/ssh/ssh_host_rsa_key", "delete"),
                                                  ("/etc/ssh/ssh_host_rsa_key.pub", "delete")]
    sshd = fixes["fix.harden-sshd"].changes[0]
    assert sshd.after.startswith("# workbench") and "PermitEmptyPasswords no" in sshd.after
    assert "# disabled by workbench (fix.harden-sshd): PermitEmptyPasswords yes" in sshd.after
    svc = {c.path: c for c in fixes["fix.disable-service"].changes}
    assert "disable         = yes" in svc["/etc/xinetd.d/telnet"].after
    # all fixes together: one change per file, each applied on top of the one before
    changes, _ = combine(list(fixes.values()), ctx.tree)
    paths = [c.path for c in changes]
    assert len(paths) == len(set(paths))
    shadow = next(c for c in changes if c.path == "/etc/shadow")
    assert f"root:!{SHA_123456}:0:0" in shadow.after  # root: locked and expired
    assert "\na:!:19000" in shadow.after  # a had no password: locked only
    files = {p: ctx.tree.read_text(p) for p in ("/etc/passwd",)}
    files.update({c.path: c.after for c in changes if c.action == "modify"})
    fixed = context(files, {"/etc/systemd/system/multi-user.target.wants/xinetd.service": "/x"})
    for cid in ("password.empty", "password.default", "ssh.sshd-config", "service.risky"):
        assert run(cid, fixed).status == "pass", cid
