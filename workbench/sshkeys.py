"""Recognising SSH private keys by content, and reading authorized_keys lines (pure)."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import dataclass

PEM = re.compile(rb"-----BEGIN ((?:OPENSSH|RSA|DSA|EC|ENCRYPTED|SSH2 ENCRYPTED)? ?PRIVATE KEY)-----")
PUTTY = re.compile(rb"^PuTTY-User-Key-File-\d+: (\S+)", re.M)
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


# Key type names sshd 9 accepts at the start of an authorized_keys key (sshkey.c peek_type_nid: exact names)
KEY_NAMES = frozenset({
    "ssh-rsa", "rsa-sha2-256", "rsa-sha2-512", "ssh-dss", "ssh-ed25519", "ssh-xmss@openssh.com",
    "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com"}
    | {f"{t}-cert-v01@openssh.com" for t in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512", "ssh-dss", "ssh-ed25519",
                                             "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")}
    | {"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
       "ssh-xmss-cert-v01@openssh.com"})
C_SPACE = b" \t\n\v\f\r"


@dataclass(frozen=True)
class AuthorizedKey:
    key_type: str
    comment: str
    options: str
    line: int
    fingerprint: str | None = None  # SHA256:... as ssh-keygen -l prints it; None when the blob does not decode


def _blob_type(name: str) -> str:
    """The type a key blob carries for a type name at the start of a line (signature names share the key's)."""
    for alias, plain in (("rsa-sha2-256", "ssh-rsa"), ("rsa-sha2-512", "ssh-rsa"),
                         ("webauthn-sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")):
        if name.startswith(alias):
            return plain + name[len(alias):]
    return name


def _fingerprint(token: bytes, name: str) -> str | None:
    """SHA256 fingerprint of a base64 key blob (white space inside it skipped, as b64_pton does) when it decodes
    and carries the type the line names."""
    try:
        blob = base64.b64decode(bytes(c for c in token if c not in C_SPACE), validate=True)
    except (ValueError, base64.binascii.Error):
        return None
    kt = _ssh_string(blob, 0)
    if kt is None or kt[0].decode("ascii", "replace") != _blob_type(name):
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _key_at(line: bytes, at: int) -> tuple[str, bytes, int] | None:
    """(type, blob token, end of the blob) when a key starts at line[at:], as sshkey_read finds one."""
    end = at
    while end < len(line) and line[end] not in b" \t":
        end += 1
    name = line[at:end].decode("ascii", "replace")
    if name not in KEY_NAMES or end == len(line):
        return None
    i = end
    while i < len(line) and line[i] in b" \t":
        i += 1
    j = i
    while j < len(line) and line[j] not in b" \t":
        j += 1
    return (name, line[i:j], j) if j > i else None


def _past_options(line: bytes, at: int) -> int | None:
    """Where the options end (sshkey_advance_past_options: a quoted string may hold blanks, \\" escapes a
    quote), or None for an unterminated quote."""
    quoted = False
    i = at
    while i < len(line) and (quoted or line[i] not in b" \t"):
        if line[i:i + 2] == b'\\"':
            i += 1
        elif line[i:i + 1] == b'"':
            quoted = not quoted
        i += 1
    return None if quoted and i >= len(line) else i


def _skip_blanks(line: bytes, at: int) -> int:
    while at < len(line) and line[at] in b" \t":
        at += 1
    return at


def authorized_key_line(line: bytes, n: int) -> AuthorizedKey | None:
    """The key on one authorized_keys line as sshd reads it: a key at the start, or after the options. A line
    whose type name sshd knows but whose blob does not decode is still reported (without a fingerprint)."""
    line = line.split(b"\0", 1)[0].rstrip(b"\n")
    start = _skip_blanks(line, 0)
    if start >= len(line) or line[start:start + 1] == b"#":
        return None
    tried = []
    first = _key_at(line, start)
    if first:
        tried.append((first, b""))
    after = _past_options(line, start)
    if after is not None:
        second = _key_at(line, _skip_blanks(line, after))
        if second:
            tried.append((second, line[start:after]))
    if not tried:
        return None
    for (name, blob, end), options in tried:
        fp = _fingerprint(blob, name)
        if fp or (name, blob, end) == tried[-1][0]:
            comment = line[_skip_blanks(line, end):].decode("utf-8", "replace").strip()
            return AuthorizedKey(name, comment, options.decode("utf-8", "replace"), n, fp)
    return None


def authorized_keys(data: bytes | str) -> list[AuthorizedKey]:
    """Every key in an authorized_keys file, as sshd reads it: lines end at LF only (a lone CR does not end a
    line), each line ends at a NUL. No line limit: the caller bounds the bytes."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    out = []
    for n, line in enumerate(data.split(b"\n"), 1):
        key = authorized_key_line(line, n)
        if key is not None:
            out.append(key)
    return out
