#!/usr/bin/env python3
"""Fetch the published SARIF 2.1.0 JSON schema into .cache/schemas/ for the tests (run by the bootstrap, never at
test time). It comes from the npm registry, inside Microsoft's SARIF multitool package (MIT), which carries the
schema beside its validator; the tarball is streamed and only that one file is kept, checked against its
pinned SHA-256."""

from __future__ import annotations

import hashlib
import sys
import tarfile
import urllib.request
from pathlib import Path

URL = "https://registry.npmjs.org/@microsoft/sarif-multitool-linux/-/sarif-multitool-linux-5.7.0.tgz"
MEMBER = "package/sarif-2.1.0.json"
SHA256 = "1c49a0f2b60444c71bb14878e21e0d882198eff4c539861b133093ad89ed798c"
OUT = Path(__file__).resolve().parents[1] / ".cache" / "schemas" / "sarif-2.1.0.json"


def main() -> int:
    if OUT.exists() and hashlib.sha256(OUT.read_bytes()).hexdigest() == SHA256:
        return 0
    with urllib.request.urlopen(URL, timeout=120) as response, tarfile.open(fileobj=response, mode="r|gz") as tar:
        for member in tar:
            if member.name == MEMBER and member.isfile() and member.size < 1 << 20:
                data = tar.extractfile(member).read()
                break
        else:
            print(f"fetch_sarif_schema: {MEMBER} is not in {URL}", file=sys.stderr)
            return 1
    if hashlib.sha256(data).hexdigest() != SHA256:
        print("fetch_sarif_schema: the schema's SHA-256 is not the pinned one; not kept", file=sys.stderr)
        return 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    partial = OUT.with_name(OUT.name + ".partial")
    partial.write_bytes(data)
    partial.rename(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
