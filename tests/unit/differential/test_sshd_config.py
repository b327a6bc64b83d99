"""sshd's configuration as the host's sshd reads it (`sshd -T -f FILE -C user=…,host=…,addr=…`) against
workbench/sshd_config.py and the ssh checks, over generated corpora of hostile variations: the settings that
let someone in (PermitEmptyPasswords, PermitRootLogin with passwords), the files keys are taken from
(AuthorizedKeysFile for each plausible connection) and the host keys; and sshd's start options
(SSHD_OPTS in /etc/default/ssh, sourced as Debian's init script does)."""

from __future__ import annotations

import os
import random
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.unit.differential.consumers import need, report, run
from tests.unit.security_trees import context
from workbench.checks import REGISTRY, all_checks, run_check
from workbench.sshd_config import expand_authorized
from workbench.sshpaths import authorized_files, host_key_files

CORPUS = 400
ENV_CORPUS = 150
SPECS = ["user=root,host=h.example,addr=10.1.2.3,laddr=10.0.0.5,lport=22",
         "user=bob,host=bastion,addr=192.168.1.9,laddr=10.0.0.5,lport=2222",
         "user=evil,host=x.invalid,addr=8.8.8.8,laddr=10.0.0.5,lport=22"]
ACCOUNTS = [("root", 0, "/root"), ("bob", 1000, "/home/bob"), ("evil", 1001, "/var/lib/evil")]
KEY_VALUES = {
    "PermitEmptyPasswords": ["yes", "no", "YES", '"yes"', "no"],
    "PermitRootLogin": ["yes", "no", "prohibit-password", "without-password"],
    "PasswordAuthentication": ["yes", "no"],
    "AuthorizedKeysFile": [".ssh/authorized_keys", "/etc/ssh/keys/%u", "%h/.ssh/k_%U", "/var/lib/keys/%%u",
                           "none", ".ssh/a .ssh/b", '"/srv/keys/%u"', "~/k", "/opt/k/%u %h/.k"],
    "HostKey": ["/var/lib/ssh/hk_extra", "etc/relative_key"],
    "X11Forwarding": ["yes", "no"],
}
MATCHES = ["all", "All", "all # everything", "User bob", "User root", "User evil,bob", "Address 10.0.0.0/8",
           "Group root", "User nobody", "LocalPort 2222", "Host *.example"]
SEPARATORS = [" ", " ", " ", "\t", "=", " = ", "\r", "  ", " \t"]
TRAILERS = ["", "", "", " # comment", "\t# c", " ", "\t", "\r", " \r"]
LEADERS = ["", "", "", " ", "\t", "  ", "\r"]


def _case(r: random.Random, word: str) -> str:
    return r.choice([word, word, word.lower(), word.upper(), "".join(r.choice((c.upper(), c.lower())) for c in word)])


def _directive(r: random.Random) -> str:
    key = r.choice(list(KEY_VALUES))
    value = r.choice(KEY_VALUES[key])
    return r.choice(LEADERS) + _case(r, key) + r.choice(SEPARATORS) + value + r.choice(TRAILERS)


OURS = "/etc/ssh/wbt"  # where our tree holds what sshd reads from the test's directory (@D@ in the corpus)


def _config(r: random.Random) -> tuple[str, dict[str, str]]:
    """A main configuration (its first line names the test's host key) and files it includes, with @D@ for
    their directory."""
    lines = ["HostKey @D@/hk"]
    includes: dict[str, str] = {}
    for _ in range(r.randint(2, 12)):
        roll = r.random()
        if roll < 0.15:
            lines.append(r.choice(LEADERS) + _case(r, "Match") + r.choice([" ", "\t", "="]) + r.choice(MATCHES))
        elif roll < 0.22:
            name = f"inc{len(includes)}.conf"
            includes[name] = "\n".join(_directive(r) for _ in range(r.randint(1, 3))) + "\n"
            if r.random() < 0.3:
                includes[name] = "Match User bob\n" + includes[name]
            lines.append(_case(r, "Include") + " " + r.choice([f"@D@/{name}", "@D@/inc*.conf"]))
        elif roll < 0.27:
            lines.append(r.choice(["# PermitEmptyPasswords yes", "", "   ", "#"]))
        else:
            lines.append(_directive(r))
    brk = r.choice(["\n", "\n", "\n", "\r\n"])
    return brk.join(lines) + brk, includes


def _sshd_runner(sshd: str, tmp: Path) -> list[str]:
    """The command prefix that runs sshd -T here: as root, sshd wants its privilege separation directory, so
    it runs in a private mount namespace with a fresh /run (nothing on the host is touched)."""
    if os.geteuid() != 0:
        return []
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /run && mkdir /run/sshd"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("sshd -T as root needs /run/sshd; a private mount namespace (unshare -m) is not available here: "
                    + probe.stderr.decode(errors="replace")[:200])
    return ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /run && mkdir /run/sshd && exec "$@"', "sh"]


def _batch(prefix: list[str], jobs: list[tuple[list[str], Path]]) -> None:
    """Run many sshd -T in one namespace: each job's argv, its output to path (.out, .rc)."""
    script = "\n".join(f"{shlex.join(argv)} > {shlex.quote(str(p))}.out 2>/dev/null; echo $? > {shlex.quote(str(p))}.rc"
                       for argv, p in jobs)
    (jobs[0][1].parent / "batch.sh").write_text(script + "\n")
    subprocess.run(prefix + ["sh", str(jobs[0][1].parent / "batch.sh")], cwd="/", check=True, timeout=600)


def _dump(path: Path) -> dict[str, list[str]] | None:
    if path.with_suffix(".rc").read_text().strip() != "0":
        return None
    out: dict[str, list[str]] = {}
    for line in path.with_suffix(".out").read_text().splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key, []).append(value)
    return out


PASSWD = "".join(f"{n}:x:{u}:{u}::{h}:/bin/bash\n" for n, u, h in ACCOUNTS)


def _expanded(patterns: list[str]) -> set[str]:
    """The files sshd opens for our three accounts (percent and tilde expansion as sshd does it)."""
    homes = {n: h for n, _, h in ACCOUNTS}
    return {p for pat in patterns for n, u, h in ACCOUNTS if (p := expand_authorized(pat, n, u, h, homes))}


def _ours(files: dict[str, str]) -> dict:
    """What the checks conclude on a tree holding these files (and three accounts)."""
    ctx = context({"/etc/passwd": PASSWD, **files})
    config = run_check(_check("ssh.sshd-config"), ctx)
    found = " ".join([config.detail] + config.evidence).lower()
    where, _cut = authorized_files(ctx.tree)
    return {"empty": config.status == "fail" and "permitemptypasswords" in config.detail.lower(),
            "root": "permitrootlogin" in found, "files": {p for _, p in where},
            "hostkeys": set(host_key_files(ctx.tree)), "status": config.status}


def _compare(i: int, dumps: list[dict | None], ours: dict, what: str) -> list[str]:
    """What sshd concluded for each connection, against what our checks conclude."""
    bad = []
    if ours["status"] == "error":
        return [f"#{i} {what}: ssh.sshd-config crashed"]
    for spec, dump in zip(SPECS, dumps):
        if dump is None:
            continue  # sshd refuses this configuration: it would not start
        if dump.get("permitemptypasswords") == ["yes"] and not ours["empty"]:
            bad.append(f"#{i} {what} ({spec}): sshd permits empty passwords; ssh.sshd-config says {ours['status']}")
        if dump.get("permitrootlogin") == ["yes"] and dump.get("passwordauthentication") == ["yes"] \
                and not ours["root"]:
            bad.append(f"#{i} {what} ({spec}): sshd lets root in with a password; ssh.sshd-config does not say so")
        theirs = [p for v in dump.get("authorizedkeysfile", []) for p in v.split() if p != "none"]
        missing = _expanded(theirs) - ours["files"]
        if missing:
            bad.append(f"#{i} {what} ({spec}): sshd takes keys from {sorted(missing)}; we do not look there")
        keys = {"/" + os.path.normpath(k).lstrip("/") for k in dump.get("hostkey", [])} - ours["hostkeys"]
        if keys:
            bad.append(f"#{i} {what} ({spec}): sshd loads host keys {sorted(keys)}; ssh.host-keys does not look")
    return bad


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    path = need("sshd")
    keygen = need("ssh-keygen")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("hk", "hk2"):
        run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    return path, d, _sshd_runner(path, d)


def _dump_ours(path: Path, real: str) -> dict[str, list[str]] | None:
    """sshd's dump, with the test's directory written as our tree has it."""
    dump = _dump(path)
    return None if dump is None else {k: [v.replace(real, OURS) for v in vs] for k, vs in dump.items()}


def test_sshd_config_as_sshd_reads_it(sshd):
    """For every generated configuration sshd accepts, each of three connections: what sshd -T says would let
    someone in, we report; the key files and host keys sshd uses, we look at."""
    path, d, prefix = sshd
    r = random.Random(22)
    jobs, variants = [], []
    for i in range(CORPUS):
        vd = d / f"c{i}"
        vd.mkdir()
        os.link(d / "hk", vd / "hk")
        main, includes = _config(r)
        (vd / "sshd_config").write_text(main.replace("@D@", str(vd)))
        for name, text in includes.items():
            (vd / name).write_text(text)
        ours = {"/etc/ssh/sshd_config": main.replace("@D@", OURS), f"{OURS}/hk": (d / "hk").read_text(),
                **{f"{OURS}/{n}": t for n, t in includes.items()}}
        variants.append((vd, ours))
        jobs += [([path, "-T", "-f", str(vd / "sshd_config"), "-C", spec], vd / f"spec{k}")
                 for k, spec in enumerate(SPECS)]
    _batch(prefix, jobs)
    bad, accepted, empty, files_seen = [], 0, 0, 0
    for i, (vd, files) in enumerate(variants):
        dumps = [_dump_ours(vd / f"spec{k}", str(vd)) for k in range(len(SPECS))]
        accepted += any(dumps)
        empty += any(dump and dump.get("permitemptypasswords") == ["yes"] for dump in dumps)
        files_seen += any(dump and dump.get("authorizedkeysfile") != [".ssh/authorized_keys .ssh/authorized_keys2"]
                          for dump in dumps)
        try:
            bad += _compare(i, dumps, _ours(files), repr(files["/etc/ssh/sshd_config"][:400]))
        except Exception as e:  # a crash is a disagreement too
            bad.append(f"#{i}: {type(e).__name__}: {e}")
    assert accepted > CORPUS // 3, f"only {accepted} of {CORPUS} generated configurations were accepted by sshd"
    report(bad, CORPUS, f"sshd -T ({accepted} configurations accepted, {empty} permit empty passwords, "
                        f"{files_seen} take keys from elsewhere than the default)")


ENV_LINES = ['SSHD_OPTS="-o PermitEmptyPasswords=yes"', "SSHD_OPTS='-oPermitEmptyPasswords=yes'",
             'export SSHD_OPTS="-o PermitEmptyPasswords=yes"', 'SSHD_OPTS="-o PermitRootLogin=yes"',
             'SSHD_OPTS="-oPermitEmptyPasswords=no -o PermitEmptyPasswords=yes"', 'SSHD_OPTS=""',
             'SSHD_OPTS="$SSHD_OPTS -o PermitEmptyPasswords=yes"', '# SSHD_OPTS="-o PermitEmptyPasswords=yes"',
             'SSHD_OPTS="-o AuthorizedKeysFile=/srv/keys/%u"', 'SSHD_OPTS="-D -o PermitEmptyPasswords yes"',
             'SSHD_OPTS="-Do PermitEmptyPasswords=yes"', 'SSHD_OPTS="-o \\"PermitEmptyPasswords yes\\""',
             'SSHD_OPTS="-f @D@/alt_config"', 'SSHD_OPTS="-h @D@/hk2 -o PasswordAuthentication=yes"',
             'SSHD_OPTS="-4 -o PermitRootLogin=yes -oPasswordAuthentication=yes"',
             'SSHD_OPTS="-o AuthorizedKeysFile=%h/.ssh/k_%U -o HostKey=@D@/hk2"', "SSHD_OPTS=-oPermitEmptyPasswords=yes",
             'SSHD_OPTS="-o PermitEmptyPasswords=yes # trailing"', "  SSHD_OPTS='-o PermitEmptyPasswords=yes'"]


def test_sshd_start_options_as_debian_passes_them(sshd):
    """SSHD_OPTS from /etc/default/ssh, sourced by sh and split into words as Debian's ssh unit and init script
    pass them to sshd: what sshd then concludes, we conclude."""
    path, d, prefix = sshd
    alt = "HostKey @D@/hk\nPermitEmptyPasswords yes\nAuthorizedKeysFile /opt/alt/%u\n"
    base = "HostKey @D@/hk\nPermitEmptyPasswords no\nPasswordAuthentication no\n"
    (d / "alt_config").write_text(alt.replace("@D@", str(d)))
    (d / "base_config").write_text(base.replace("@D@", str(d)))
    r = random.Random(23)
    jobs, variants = [], []
    for i in range(ENV_CORPUS):
        vd = d / f"e{i}"
        vd.mkdir()
        env = "\n".join(r.choice(ENV_LINES) for _ in range(r.randint(1, 3))) + "\n"
        (vd / "ssh").write_text(env.replace("@D@", str(d)))
        variants.append((vd, env))
        jobs += [(["sh", "-c", '. "$1"; exec "$2" -T -f "$3" $SSHD_OPTS -C "$4"', "sh", str(vd / "ssh"), path,
                   str(d / "base_config"), spec], vd / f"spec{k}") for k, spec in enumerate(SPECS)]
    _batch(prefix, jobs)
    bad = []
    for i, (vd, env) in enumerate(variants):
        dumps = [_dump_ours(vd / f"spec{k}", str(d)) for k in range(len(SPECS))]
        files = {"/etc/default/ssh": env.replace("@D@", OURS), "/etc/ssh/sshd_config": base.replace("@D@", OURS),
                 f"{OURS}/alt_config": alt.replace("@D@", OURS), f"{OURS}/hk": (d / "hk").read_text(),
                 f"{OURS}/hk2": (d / "hk2").read_text()}
        bad += _compare(i, dumps, _ours(files), repr(env))
    report(bad, ENV_CORPUS, "sshd -T after sh sources /etc/default/ssh")


@pytest.mark.parametrize("config", [
    "PermitEmptyPasswords yes # let anyone in\n",
    "PermitEmptyPasswords\ryes\n",
    "PermitEmptyPasswords no\nMatch all\n  PermitEmptyPasswords yes\n",
])
def test_permit_empty_passwords_as_sshd_reads_it_fails_the_check(sshd, config):
    path, d, prefix = sshd
    vd = d / f"x{abs(hash(config))}"
    vd.mkdir()
    os.link(d / "hk", vd / "hk")
    (vd / "sshd_config").write_text(f"HostKey {vd}/hk\n" + config)
    _batch(prefix, [([path, "-T", "-f", str(vd / "sshd_config"), "-C", SPECS[0]], vd / "out")])
    assert _dump(vd / "out")["permitemptypasswords"] == ["yes"]  # sshd does permit them
    r = run_check(_check("ssh.sshd-config"), context({"/etc/ssh/sshd_config": config}))
    assert r.status == "fail" and "PermitEmptyPasswords" in r.detail


def test_sshd_opts_in_etc_default_ssh_fail_the_check():
    ctx = context({"/etc/ssh/sshd_config": "PermitEmptyPasswords no\n",
                   "/etc/default/ssh": '# Options to pass to sshd\nSSHD_OPTS="-o PermitEmptyPasswords=yes"\n'})
    r = run_check(_check("ssh.sshd-config"), ctx)
    assert r.status == "fail" and "/etc/default/ssh:2: -o PermitEmptyPasswords=yes" in r.evidence[0]
    rhel = context({"/etc/ssh/sshd_config": "PermitEmptyPasswords no\n",
                    "/etc/sysconfig/sshd": "OPTIONS='-oPermitEmptyPasswords=yes'\n"})
    assert run_check(_check("ssh.sshd-config"), rhel).status == "fail"


def _check(cid: str):
    all_checks()
    return REGISTRY[cid]


def test_the_harden_fix_makes_sshd_refuse_empty_passwords(sshd):
    """For every generated configuration where sshd permits empty passwords: fix.harden-sshd's files, as sshd then
    reads them, permit none (lines are numbered as sshd numbers them: a lone CR does not end one)."""
    from workbench.fixes import build_fixes

    path, d, prefix = sshd
    r = random.Random(31)
    cases = []
    for i in range(CORPUS):
        main, includes = _config(r)
        vd = d / f"h{i}"
        vd.mkdir()
        os.link(d / "hk", vd / "hk")
        files = {"/etc/ssh/sshd_config": main.replace("@D@", OURS), f"{OURS}/hk": (d / "hk").read_text(),
                 **{f"{OURS}/{n}": t for n, t in includes.items()}}
        cases.append((vd, files))
        for name, text in files.items():
            (vd / (name[len(OURS) + 1:] if name.startswith(OURS) else "sshd_config")).write_text(
                text.replace(OURS, str(vd)))
    _batch(prefix, [([path, "-T", "-f", str(vd / "sshd_config"), "-C", spec], vd / f"before{k}")
                    for vd, _ in cases for k, spec in enumerate(SPECS)])
    fixed = []
    for vd, files in cases:
        if not any((dump := _dump(vd / f"before{k}")) and dump.get("permitemptypasswords") == ["yes"]
                   for k in range(len(SPECS))):
            continue
        ctx = context({"/etc/passwd": PASSWD, **files})
        fixes = {f.id: f for f in build_fixes([run_check(_check("ssh.sshd-config"), ctx)], ctx.tree)}
        assert "fix.harden-sshd" in fixes, files["/etc/ssh/sshd_config"]
        for ch in fixes["fix.harden-sshd"].changes:
            target = vd / ("sshd_config" if ch.path == "/etc/ssh/sshd_config" else ch.path[len(OURS) + 1:])
            target.write_bytes(ch.content.replace(OURS.encode(), str(vd).encode()))
        fixed.append(vd)
    assert len(fixed) > 20, "too few generated configurations permit empty passwords to test the fix"
    _batch(prefix, [([path, "-T", "-f", str(vd / "sshd_config"), "-C", spec], vd / f"after{k}")
                    for vd in fixed for k, spec in enumerate(SPECS)])
    bad = [f"{vd.name} ({SPECS[k]}): still permits empty passwords: {(vd / 'sshd_config').read_bytes()[:300]!r}"
           for vd in fixed for k in range(len(SPECS))
           if (dump := _dump(vd / f"after{k}")) is not None and dump.get("permitemptypasswords") != ["no"]]
    report(bad, len(fixed), "sshd -T after fix.harden-sshd")
