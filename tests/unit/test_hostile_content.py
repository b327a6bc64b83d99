"""Guest data built to hide findings, hang the review or take over the terminal (pure: in-memory trees).

Fail closed: what was not read makes the checks that need it warn, naming it. Bounded: crafted databases
and configurations stop within their budgets, and ^C stops them at once. Escaped: nothing from the image
reaches a terminal or a document as control characters or markup.
"""

import io
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from tests.unit.security_trees import FACTS, context
from tests.unit.test_vulns import DEB12, dpkg
from workbench import packages, rpmdb
from workbench.checks import REGISTRY, all_checks, run_check, run_checks
from workbench.fixes import build_fixes
from workbench.checks.ssh import sshd_settings
from workbench.image.tree import Node
from workbench.review import Review

pytestmark = pytest.mark.timeout(120)

ESCAPES = "\x1b]52;c;aGFja2Vk\x07\x1b[2J\x1b[H\rALL CHECKS PASSED\x1b[0m\u202e"


def run(cid, ctx):
    all_checks()
    return run_check(REGISTRY[cid], ctx)


# -- fail closed ------------------------------------------------------------------------------------------------
def test_a_shadow_too_big_to_read_is_not_a_pass():
    """/etc/shadow padded past the read limit, an empty root password at its end: not read, so not passed."""
    ctx = context({"/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n"})
    ctx.tree.add(Node("/etc/shadow", "file", 0o640, size=9 << 20))
    ctx.tree.mark_unread("/etc/shadow", f"{9 << 20} bytes, not read (over the per-file limit)")
    for cid in ("password.empty", "password.default", "password.first-login-change", "password.weak-hash"):
        r = run(cid, ctx)
        assert r.status == "warn", (cid, r.status, r.detail)
        assert "Not fully reviewed" in r.detail and any("/etc/shadow" in e for e in r.evidence), r.evidence


def test_a_tree_that_was_cut_short_is_not_a_pass():
    ctx = context({"/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n", "/etc/shadow": "root:*:1:0:99999:7:::\n",
                   "/etc/ssh/sshd_config": "Port 22\n"})
    ctx.tree.mark_unread("/etc", "the transfer was cut at the review's budget; the rest was not read")
    assert {run(c, ctx).status for c in ("password.empty", "ssh.host-keys", "ssh.sshd-config",
                                         "service.risky")} == {"warn"}


def test_vulnerable_openssh_after_100000_stub_packages_is_found():
    stubs = "".join(f"Package: stub{i}\nStatus: install ok installed\nVersion: 1\n\n" for i in range(100_000))
    ctx = context({**DEB12, "/var/lib/dpkg/status": stubs + dpkg(("openssh-server", "1:9.2p1-2+deb12u2", "openssh"))})
    r = run("vuln.remote", ctx)
    assert r.status == "fail" and r.evidence[0].startswith("openssh-server 1:9.2p1-2+deb12u2: CVE-2024-6387")


def test_a_package_list_past_the_limit_is_not_a_pass(monkeypatch):
    monkeypatch.setattr(packages, "MAX_PACKAGES", 1000)
    stubs = "".join(f"Package: stub{i}\nStatus: install ok installed\nVersion: 1\n\n" for i in range(1500))
    r = run("vuln.remote", context({**DEB12, "/var/lib/dpkg/status": stubs}))
    assert r.status == "warn" and "Not fully reviewed" in r.detail
    assert r.evidence[0].startswith("not read: /var/lib/dpkg/status lists more than 1000 packages")


def test_a_package_database_that_was_not_read_is_not_a_pass():
    ctx = context(DEB12)
    ctx.tree.add(Node("/var/lib/dpkg/status", "file", 0o644, size=80 << 20))
    ctx.tree.mark_unread("/var/lib/dpkg/status", "83886080 bytes, over the 64 MiB read of a package database")
    r = run("vuln.remote", ctx)
    assert r.status == "warn" and "/var/lib/dpkg/status could not be read" in r.detail


# -- bounded work -------------------------------------------------------------------------------------------------
def _sqlite(tmp_path, schema: str) -> bytes:
    db = tmp_path / "rpmdb.sqlite"
    con = sqlite3.connect(db)
    con.executescript(schema)
    con.close()
    return db.read_bytes()


def test_rpm_sqlite_whose_packages_is_a_recursive_view_stops_at_once(tmp_path):
    data = _sqlite(tmp_path, "CREATE VIEW Packages AS WITH RECURSIVE c(x, blob) AS (SELECT 1, x'00' UNION ALL "
                             "SELECT x + 1, x'00' FROM c) SELECT x AS hnum, blob FROM c;")
    t = time.monotonic()
    with pytest.raises(rpmdb.RpmDbError, match="no Packages table .*a view"):
        rpmdb.read_sqlite(data)
    assert time.monotonic() - t < 2
    r = run("vuln.remote", context({"/etc/os-release": 'ID="rocky"\nVERSION_ID="9.3"\n',
                                    "/var/lib/rpm/rpmdb.sqlite": data}))
    assert r.status == "warn" and "a view" in r.detail


def test_a_query_over_its_time_budget_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(rpmdb, "SQLITE_SECONDS", 1)
    db = tmp_path / "x.sqlite"
    sqlite3.connect(db).close()
    con = rpmdb._open_untrusted(str(db))
    t = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="interrupt"):
        con.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c").fetchall()
    assert time.monotonic() - t < 3


def test_sigint_stops_a_long_query_within_a_second(tmp_path):
    """A crafted database that keeps sqlite busy: ^C ends the read at once (the query sees it between steps)."""
    root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    db = str(tmp_path / "slow.sqlite")
    code = textwrap.dedent(f"""
        import sqlite3, sys
        sys.path.insert(0, {root!r})
        from workbench import rpmdb
        from workbench.interrupt import deferred
        rpmdb.SQLITE_SECONDS = 600
        con = sqlite3.connect({db!r})
        con.executescript("CREATE TABLE Packages (hnum INTEGER, blob BLOB);"
                          "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) "
                          "INSERT INTO Packages SELECT x, zeroblob(16) FROM c;")
        con.close()
        print("running", flush=True)
        try:
            with deferred() as held:  # as read_sqlite holds signals around its query
                con = rpmdb._open_untrusted({db!r}, lambda: held.got is not None)
                try:
                    con.execute("SELECT count(*) FROM Packages a, Packages b").fetchall()
                except sqlite3.OperationalError:
                    pass
        except KeyboardInterrupt:
            print("stopped", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "running"
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    t = time.monotonic()
    out, _ = proc.communicate(timeout=20)
    assert "stopped" in out and time.monotonic() - t < 1.5


def test_sshd_includes_that_include_each_other_are_bounded():
    files = {"/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n"}
    for i in range(30):
        files[f"/etc/ssh/sshd_config.d/{i:02}.conf"] = "Include /etc/ssh/sshd_config.d/*.conf\nX11Forwarding no\n"
    ctx = context(files)
    t = time.monotonic()
    settings, notes = sshd_settings(ctx.tree)
    assert time.monotonic() - t < 5 and len(notes) <= 20
    assert any(n.startswith("not read: more than 256 files are included") for n in notes)
    r = run("ssh.sshd-config", ctx)
    assert r.status == "warn" and "Not fully reviewed" in r.detail


# -- escaping ------------------------------------------------------------------------------------------------------
def _hostile_review():
    ctx = context({
        "/etc/os-release": f'ID=debian\nPRETTY_NAME="Debian{ESCAPES}"\n',
        "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n<img src=x onerror=alert(1)>:x:1000:1000::/home/evil:/bin/sh\n",
        "/etc/shadow": "root:*:1:0:99999:7:::\n<img src=x onerror=alert(1)>::1:0:99999:7:::\n",
        "/root/.ssh/authorized_keys": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9m <script>alert(1)</script>{ESCAPES}\n",
    })
    review = Review(FACTS, ctx.guest)
    review.results = run_checks(review.context())
    review.fixes = build_fixes(review.results, review.guest.tree)
    return review


def test_terminal_text_carries_no_control_characters():
    from workbench.report.text import print_text

    out = io.StringIO()
    print_text(_hostile_review(), out, color=False)
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\u202e" not in text
    assert "Debian\ufffd]52;c;aGFja2Vk\ufffd" in text  # shown, made harmless


def test_documents_escape_image_text():
    from workbench.report.document import ReviewDocument, render

    doc = ReviewDocument(_hostile_review(), osconf_text="hostname=a\npassword=x\n")
    for suffix in (".md", ".html"):
        text = render(doc, suffix)
        assert "<img" not in text and "<script" not in text and "\x1b" not in text, suffix
    assert r"&lt;img src\=x onerror\=alert\(1\)&gt;" in render(doc, ".md")


# -- one os.conf grammar -----------------------------------------------------------------------------------------
def test_the_validator_reads_os_conf_as_the_parser_does():
    from workbench.osconf import MAX_LINES, validate

    conf, problems = validate(b"hostname =x\n")
    assert conf is None and any("spaces around it" in p.message for p in problems)
    late = b"#\n" * MAX_LINES + b"hostname=late-host\n"
    conf, problems = validate(late)
    assert any(p.key == f"line {MAX_LINES + 1}" and "past the 200 lines" in p.message for p in problems)
    conf, problems = validate("\ufeffhostname=bom-host\n".encode())
    assert conf is None and problems[0].message.startswith("starts with a UTF-8 byte-order mark")


def test_the_parser_ignores_what_the_validator_rejects():
    """The same two files through the real parser: the spaced key and the late line change nothing."""
    from tests.unit.sim_helpers import run as simulate

    for conf in ("hostname =spaced\n", "#\n" * 200 + "hostname=late-host\n"):
        cs = simulate("ifupdown", conf)
        assert cs.change("/etc/hostname") is None, conf[:20]


def test_a_file_of_the_wrong_type_is_not_an_absence():
    """A FIFO where /etc/shadow should be (as a tar from the guest lists it): the password checks warn."""
    import tarfile

    from workbench.image.tree import GuestTree

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"root:x:0:0:root:/root:/bin/bash\n"
        info = tarfile.TarInfo("./passwd")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        fifo = tarfile.TarInfo("./shadow")
        fifo.type = tarfile.FIFOTYPE
        tar.addfile(fifo)
    ctx = context({})
    tree = GuestTree()
    buf.seek(0)
    tree.add_tar(buf, "/etc")
    ctx.guest.tree = tree
    r = run("password.empty", ctx)
    assert r.status == "warn" and "not read: /etc/shadow (not a regular file)" in r.evidence
