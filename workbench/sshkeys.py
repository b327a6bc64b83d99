"""Recognising SSH private keys by content, and reading authorized_keys lines (pure)."""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass

PEM = re.compile(rb"-----BEGIN ((?:OPENSSH|RSA|DSA|EC|ENCRYPTED|SSH2 ENCRYPTED)? ?PRIVATE KEY)-----")
PUTTY = re.compile(rb"^PuTTY-User-Key-File-\d+: (\S+)", re.M)
KEY_TYPES = ("ssh-rsa", "ssh-dss", "ssh-ed25519", "ssh-ed448", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
MAX_SNIFF = 64 << 10


@dataclass(frozen=True)
class PrivateKey:
    format: str  # openssh | pem | pkcs8 | putty | ssh2
    key_type: str | None
    encrypted: bool | None


def _ssh_string(buf: bytes, at: int) -> tuple[bytes, int] | None:
    if at + 4 > len(buf):
        return None
    n = struct.unpack_from(">I", buf, at)[0]
    if at + 4 + n > len(buf):
        return None
    return buf[at + 4:at + 4 + n], at + 4 + n


def _openssh_details(block: bytes) -> tuple[str | None, bool | None]:
    body = b"".join(ln.strip() for ln in block.splitlines() if ln and not ln.startswith(b"-----"))
    try:
        raw = base64.b64decode(body[: 64 << 10], validate=False)
    except (ValueError, base64.binascii.Error):
        return None, None
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        return None, None
    at = len(magic)
    cipher = _ssh_string(raw, at)
    if cipher is None:
        return None, None
    kdf = _ssh_string(raw, cipher[1])
    opts = _ssh_string(raw, kdf[1]) if kdf else None
    if opts is None or opts[1] + 4 > len(raw):
        return None, cipher[0] != b"none"
    pub = _ssh_string(raw, opts[1] + 4)
    key_type = None
    if pub:
        kt = _ssh_string(pub[0], 0)
        key_type = kt[0].decode("ascii", "replace") if kt else None
    return key_type, cipher[0] != b"none"


def private_key(data: bytes) -> PrivateKey | None:
    """The private key in data (a file's first bytes), if it holds one."""
    head = data[:MAX_SNIFF]
    m = PEM.search(head)
    if m:
        label = m.group(1).decode()
        if label.startswith("OPENSSH"):
            end = head.find(b"-----END OPENSSH PRIVATE KEY-----", m.end())
            key_type, enc = _openssh_details(head[m.start(): end if end > 0 else len(head)])
            return PrivateKey("openssh", key_type, enc)
        if label.startswith("SSH2"):
            return PrivateKey("ssh2", None, True)
        if label == "ENCRYPTED PRIVATE KEY":
            return PrivateKey("pkcs8", None, True)
        if label == "PRIVATE KEY":
            return PrivateKey("pkcs8", None, False)
        kind = {"RSA": "ssh-rsa", "DSA": "ssh-dss", "EC": "ecdsa"}.get(label.split()[0])
        return PrivateKey("pem", kind, b"Proc-Type: 4,ENCRYPTED" in head[m.end(): m.end() + 200])
    p = PUTTY.search(head[:4096])
    if p:
        enc = re.search(rb"^Encryption: (\S+)", head, re.M)
        return PrivateKey("putty", p.group(1).decode("ascii", "replace"),
                          bool(enc and enc.group(1) != b"none"))
    return None


@dataclass(frozen=True)
class AuthorizedKey:
    key_type: str
    comment: str
    options: str
    line: int


def authorized_keys(text: str, max_lines: int = 10_000) -> list[AuthorizedKey]:
    out = []
    for n, line in enumerate(text.splitlines()[:max_lines], 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        for i, tok in enumerate(tokens[:8]):
            if tok in KEY_TYPES or tok.startswith(("ssh-", "ecdsa-", "sk-")):
                out.append(AuthorizedKey(tok, " ".join(tokens[i + 2:]), " ".join(tokens[:i]), n))
                break
    return out
