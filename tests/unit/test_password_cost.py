"""Password hashes whose cost parameter would hang the scan (bcrypt cost 31, sha512crypt rounds=999999999, a
yescrypt that takes a gigabyte a try): read before anything is tried, reported by account, never tried, and the
check is then not complete (warn), never a pass."""

import ctypes
import time

import pytest

from tests.unit.security_trees import SHA_123456, SHA_STRONG, context, passwd
from workbench import crypt
from workbench.checks import REGISTRY, all_checks, run_check

B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# settings libxcrypt accepts as they are: each try takes minutes to days, or a gigabyte
BCRYPT_31 = "$2b$31$" + "a" * 53
SHA_HUGE = "$6$rounds=999999999$saltsalt$" + "b" * 86
YESCRYPT_HUGE = "$y$jFT$saltsaltsaltsalt$" + "c" * 43  # N = 2^18, r = 32: 1 GiB a try


def run(cid, ctx):
    all_checks()
    return run_check(REGISTRY[cid], ctx)


def gensalt(prefix: str, count: int) -> str:
    """libxcrypt's own setting for a cost (what passwd and chpasswd write)."""
    lib = crypt._lib()
    lib.crypt_gensalt_rn.restype = ctypes.c_char_p
    buf = ctypes.create_string_buffer(256)
    out = lib.crypt_gensalt_rn(prefix.encode(), count, b"0123456789abcdef", 16, buf, 256)
    assert out, (prefix, count)
    return out.decode()


@pytest.mark.parametrize("h,words", [(BCRYPT_31, "bcrypt with cost 31"), (SHA_HUGE, "rounds=999999999"),
                                     (YESCRYPT_HUGE, "N=262144, r=32"), ("$6$rounds=-5$s$h", "rounds=-5"),
                                     ("$5$rounds=\u0661\u0660$s$h", "sha256crypt"), ("$sha1$99999999$s$h", "sha1crypt"),
                                     ("$7$zU..../....salt$h", "scrypt"), ("_zzzzsaltsaltsaltsal", "BSDi")])
def test_an_extreme_cost_is_named(h, words):
    why = crypt.excessive_cost(h)
    assert why and words in why, why


@pytest.mark.parametrize("prefix,count", [("$y$", 0), ("$y$", 5), ("$y$", 7), ("$2b$", 10), ("$2b$", 12),
                                          ("$6$", 0), ("$6$", 100_000), ("$5$", 500_000), ("$7$", 0), ("$1$", 0)])
def test_the_costs_distributions_write_are_tried(prefix, count):
    """What libxcrypt's gensalt writes for the default and a raised cost stays under every ceiling."""
    assert crypt.excessive_cost(gensalt(prefix, count) + "x") is None


def test_raised_yescrypt_costs_are_read_as_libxcrypt_writes_them():
    """Each yescrypt cost step of libxcrypt doubles N: the ones past 64 MiB a try are refused."""
    refused = [n for n in range(1, 12) if crypt.excessive_cost(gensalt("$y$", n) + "x")]
    assert refused == list(range(8, 12)), refused
    assert gensalt("$y$", 5).startswith("$y$j9T$")


@pytest.mark.timeout(60)
def test_the_scan_reports_the_costly_accounts_and_is_not_complete():
    shadow = (f"root:{BCRYPT_31}:0::::::\nops:{SHA_HUGE}:0::::::\nweb:{YESCRYPT_HUGE}:0::::::\n"
              f"dev:{SHA_STRONG}:0::::::\n")
    rows = ["root:x:0:0::/root:/bin/bash", "ops:x:1000:1000::/home/ops:/bin/bash",
            "web:x:1001:1001::/home/web:/bin/bash", "dev:x:1002:1002::/home/dev:/bin/bash"]
    t = time.monotonic()
    r = run("password.default", context({"/etc/passwd": passwd(*rows), "/etc/shadow": shadow}))
    assert time.monotonic() - t < 45
    assert r.status == "warn" and r.incomplete, r
    text = "\n".join(r.evidence)
    assert "root (uid 0): not tried, its hash asks for bcrypt with cost 31" in text
    assert "ops (uid 1000): not tried" in text and "rounds=999999999" in text and "web (uid 1001)" in text
    assert "dev" not in text.split("1 account(s) tried")[0] and r.offers == {"fix.lock-account": ["root", "ops", "web"]}
    # a guessable password elsewhere still fails, and the costly accounts are still named
    r = run("password.default", context({"/etc/passwd": passwd(*rows),
                                         "/etc/shadow": shadow.replace(SHA_STRONG, SHA_123456)}))
    assert r.status == "fail" and r.incomplete and any("bcrypt with cost 31" in e for e in r.evidence)
