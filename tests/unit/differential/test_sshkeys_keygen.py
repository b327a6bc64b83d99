"""authorized_keys files as OpenSSH reads them (ssh-keygen -l -f, whose line reader is sshd's) against
workbench/sshkeys.py and the ssh.authorized-keys check, over a generated corpus of hostile variations."""

from __future__ import annotations

import base64
import random
import re
import struct

import pytest

from tests.unit.differential.consumers import need, report, run
from tests.unit.security_trees import context
from workbench.checks import REGISTRY, all_checks, run_check
from workbench.sshkeys import authorized_keys

CORPUS = 300
OPTIONS = ['command="echo a b c d e f g h i j k",no-pty', 'from="10.0.0.0/8,192.168.0.0/16"', "restrict",
           'command="say \\"hi there\\" now"', 'environment="A=b c d e f g h i",no-agent-forwarding',
           "no-port-forwarding,no-X11-forwarding", 'permitopen="host:22",command="/bin/true x y z"',
           'command="unterminated quote here', "cert-authority", "host1,host2"]
COMMENTS = ["", "ops@bastion", "a long comment with many words in it", "# not a comment", "\t tabbed"]


def _ssh_string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def ed25519_blob(r: random.Random) -> str:
    """A public ed25519 key blob (any 32 bytes make one): distinct keys cost nothing."""
    return base64.b64encode(_ssh_string(b"ssh-ed25519") + _ssh_string(r.randbytes(32))).decode()


@pytest.fixture(scope="module")
def real_keys(tmp_path_factory):
    """A few keys of other types, made by ssh-keygen (an RSA key is named rsa-sha2-512 in one variation)."""
    keygen = need("ssh-keygen")
    d = tmp_path_factory.mktemp("keys")
    out = []
    for kind, bits in (("ecdsa", "256"), ("ecdsa", "384"), ("rsa", "1024"), ("dsa", "1024")):
        path = d / f"{kind}{bits}"
        proc = run([keygen, "-q", "-t", kind, "-b", bits, "-N", "", "-C", "", "-f", str(path)])
        if proc.returncode == 0:
            name, blob = open(f"{path}.pub").read().split()[:2]
            out.append((name, blob))
    return out


def _line(r: random.Random, real) -> str:
    name, blob = ("ssh-ed25519", ed25519_blob(r)) if r.random() < 0.75 or not real else r.choice(real)
    if name == "ssh-rsa" and r.random() < 0.5:
        name = "rsa-sha2-512"
    if r.random() < 0.05:
        name = r.choice(["SSH-ED25519", "ED25519", "ssh-ed448"])
    if r.random() < 0.08:
        cut = r.randrange(4, len(blob) - 4)
        blob = blob[:cut] + r.choice(["\r", "\v", " "]) + blob[cut:]
    sep = r.choice([" ", " ", "\t", "  ", " \t "])
    key = f"{name}{sep}{blob}"
    comment = r.choice(COMMENTS)
    if comment:
        key += r.choice([" ", "\t"]) + comment
    if r.random() < 0.45:
        key = r.choice(OPTIONS) + r.choice([" ", " ", "  ", "\t"]) + key
    return r.choice(["", "", " ", "\t", "  "]) + key + r.choice(["", "", " ", "\r", "\t"])


def corpus(real, n: int = CORPUS, seed: int = 22) -> list[bytes]:
    r = random.Random(seed)
    out = []
    for i in range(n):
        lines = [_line(r, real) for _ in range(r.randint(1, 5))]
        for _ in range(r.randint(0, 2)):
            lines.insert(r.randrange(len(lines) + 1), r.choice(["# comment", "", "   ", "\t# x", "garbage line",
                                                                "ssh-ed25519", "ssh-ed25519 "]))
        if r.random() < 0.1:  # a lone CR where a line break would be
            i2 = r.randrange(len(lines))
            lines[i2] = lines[i2] + "\r" + _line(r, real)
        if r.random() < 0.05:
            i2 = r.randrange(len(lines))
            lines[i2] = lines[i2][:3] + "\0" + lines[i2][3:]
        if i % 50 == 7:  # past any line limit: more than 10,000 lines before the last keys
            lines = lines[:1] + ["# padding"] * 10_050 + [_line(r, real)] + lines[1:]
        brk = r.choice(["\n", "\n", "\r\n"])
        out.append((brk.join(lines) + (brk if r.random() < 0.8 else "")).encode())
    return out


FP = re.compile(r"\b(SHA256:[A-Za-z0-9+/]{43})\b")


def test_authorized_keys_as_sshd_reads_them(real_keys, tmp_path):
    """Every key ssh-keygen finds in an authorized_keys file, we find (same fingerprint); and
    ssh.authorized-keys fails on the file."""
    keygen = need("ssh-keygen")
    all_checks()
    bad: list[str] = []
    items = corpus(real_keys)
    for i, data in enumerate(items):
        path = tmp_path / f"ak{i}"
        path.write_bytes(data)
        proc = run([keygen, "-l", "-E", "sha256", "-f", str(path)])
        theirs = FP.findall(proc.stdout.decode("utf-8", "replace"))
        try:
            ours = [k.fingerprint for k in authorized_keys(data)]
        except Exception as e:  # a crash is a disagreement too
            ours = [f"{type(e).__name__}: {e}"]
        missing = [fp for fp in theirs if fp not in ours]
        if missing:
            bad.append(f"#{i} {data[:300]!r}{'…' if len(data) > 300 else ''}: ssh-keygen reads {len(theirs)} key(s), "
                       f"we miss {missing}")
        if theirs:
            ctx = context({"/etc/passwd": "root:x:0:0::/root:/bin/bash\n", "/root/.ssh/authorized_keys": data})
            result = run_check(REGISTRY["ssh.authorized-keys"], ctx)
            if result.status != "fail" or len(result.evidence) < len(theirs):
                bad.append(f"#{i}: ssh-keygen reads {len(theirs)} key(s); ssh.authorized-keys says {result.status} "
                           f"with {len(result.evidence)} line(s) of evidence")
    report(bad, len(items), "ssh-keygen -l")


@pytest.mark.parametrize("line", [
    'command="echo one two three four five six seven eight nine",no-pty {key} quoted@options',
    'environment="X=a \\"b c\\" d e f g h" {key}',
])
def test_a_key_after_options_with_quoted_blanks_is_found(line, tmp_path):
    keygen = need("ssh-keygen")
    data = (line.format(key="ssh-ed25519 " + ed25519_blob(random.Random(1))) + "\n").encode()
    (tmp_path / "ak").write_bytes(data)
    theirs = FP.findall(run([keygen, "-l", "-E", "sha256", "-f", str(tmp_path / "ak")]).stdout.decode())
    assert len(theirs) == 1  # ssh-keygen (and sshd) read the key
    assert [k.fingerprint for k in authorized_keys(data)] == theirs


def test_a_key_after_line_10000_is_found(tmp_path):
    keygen = need("ssh-keygen")
    data = ("# filler\n" * 10_500 + "ssh-ed25519 " + ed25519_blob(random.Random(2)) + " late@key\n").encode()
    (tmp_path / "ak").write_bytes(data)
    theirs = FP.findall(run([keygen, "-l", "-E", "sha256", "-f", str(tmp_path / "ak")]).stdout.decode())
    assert len(theirs) == 1
    ctx = context({"/etc/passwd": "root:x:0:0::/root:/bin/bash\n", "/root/.ssh/authorized_keys": data})
    r = run_check(REGISTRY["ssh.authorized-keys"], ctx)
    assert r.status == "fail" and "late@key" in r.evidence[0] and "line 10501" in r.evidence[0]
    assert theirs[0] in r.evidence[0]


def test_corpus_reaches_past_line_10000(real_keys):
    """The corpus does put keys past the old 10,000-line limit."""
    long = [d for d in corpus(real_keys) if d.count(b"\n") > 10_000]
    assert len(long) >= 5 and all(authorized_keys(d)[-1].line > 10_050 for d in long)
