"""dpkg's database as dpkg reads it (`dpkg-query --admindir=DIR -W`) against workbench/packages.py and the
vuln.remote check, over a generated corpus of status files (and update journals) with hostile variations."""

from __future__ import annotations

import random

import pytest

from tests.unit.differential.consumers import need, report, run
from tests.unit.security_trees import context
from workbench.checks import REGISTRY, all_checks, run_check
from workbench.packages import FILES_PRESENT, installed_packages

CORPUS = 400
DEB12 = 'ID=debian\nVERSION_ID="12"\n'
VULNERABLE = ("1:9.2p1-2", "1:9.2p1-2+deb12u2")
PACKAGES = [("openssh-server", VULNERABLE + ("1:9.2p1-2+deb12u3",)), ("bash", ("5.2.15-2+b2",)),
            ("libc6", ("2.36-9+deb12u4",)), ("telnetd", ("0.17+2.4-2",)), ("zlib1g", ("1:1.2.13.dfsg-1",))]
STATUSES = ["install ok installed"] * 5 + ["Install OK Installed", "install ok half-configured",
                                           "deinstall ok config-files", "install ok unpacked", "hold ok installed",
                                           "install  ok   installed", "purge ok not-installed"]


def _field(r: random.Random, name: str, value: str) -> str:
    name = r.choice([name, name, name, name.lower(), name.upper()])
    colon = r.choice([": ", ": ", ":", " : ", ":\t", ":  "])
    return name + colon + value + r.choice(["", "", "", " ", "\t", "\r"])


def _stanza(r: random.Random, name: str, versions: tuple[str, ...]) -> list[str]:
    fields = [("Package", r.choice([name, name, name.upper()])), ("Status", r.choice(STATUSES)),
              ("Version", r.choice(versions)), ("Architecture", "amd64"), ("Maintainer", "X <x@example.org>"),
              ("Source", "openssh" if name == "openssh-server" else name),
              ("Description", "a package\n more text\n .\n end")]
    if r.random() < 0.3 and "not-installed" not in fields[1][1]:
        fields.append(("Conffiles", "\n /etc/x 0123456789abcdef\n /etc/y 0123456789abcdef"))
    if r.random() < 0.2:
        fields.append(("X-Custom", "value"))
    r.shuffle(fields)
    return [_field(r, k, v) for k, v in fields]


def _status(r: random.Random) -> str:
    brk = r.choice(["\n"] * 10 + ["\r\n", "\r"])
    sep = r.choice(["\n"] * 8 + ["\n\n", " \n", "\t\n", "\r\n", "\n\r\n"])
    stanzas = [brk.join(_stanza(r, *pkg)) for pkg in r.sample(PACKAGES, r.randint(1, len(PACKAGES)))]
    text = r.choice(["", "", "\n", "\n\n"]) + (brk + sep).join(stanzas) + brk
    if r.random() < 0.1:
        text = text.rstrip("\n")
    return text


def corpus(n: int = CORPUS, seed: int = 22) -> list[tuple[str, list[str]]]:
    """(status, update journal entries)."""
    r = random.Random(seed)
    out = []
    for _ in range(n):
        updates = [_status(r) for _ in range(r.choice([0, 0, 0, 1, 2]))]
        out.append((_status(r), updates))
    return out


def _write(d, status: str, updates: list[str]) -> None:
    (d / "updates").mkdir(parents=True)
    (d / "info").mkdir()
    (d / "status").write_bytes(status.encode())
    for k, text in enumerate(updates):
        (d / "updates" / f"{k:04}").write_bytes(text.encode())


def test_installed_packages_as_dpkg_reads_them(tmp_path):
    """Every package dpkg-query lists with its files on disk, we list with the same version; and where that
    is a vulnerable openssh-server on Debian 12, vuln.remote fails."""
    query = need("dpkg-query")
    all_checks()
    bad: list[str] = []
    items = corpus()
    accepted = 0
    for i, (status, updates) in enumerate(items):
        d = tmp_path / f"db{i}"
        _write(d, status, updates)
        proc = run([query, f"--admindir={d}", "-W", "-f", "${Package}\t${Version}\t${Status}\n"])
        if proc.returncode != 0:
            continue  # dpkg refuses this database: apt and dpkg would not work on the instance
        accepted += 1
        theirs = {tuple(ln.split("\t")[:2]) for ln in proc.stdout.decode().splitlines()
                  if ln.count("\t") == 2 and ln.split("\t")[2].split()[-1] in FILES_PRESENT}
        files = {"/etc/os-release": DEB12, "/var/lib/dpkg/status": status,
                 **{f"/var/lib/dpkg/updates/{k:04}": u for k, u in enumerate(updates)}}
        ctx = context(files)
        try:
            ours = {(p.name, p.version) for p in installed_packages(ctx.tree).packages}
        except Exception as e:  # a crash is a disagreement too
            ours = {(type(e).__name__, str(e))}
        if not theirs <= ours:
            bad.append(f"#{i} {status[:300]!r} + {len(updates)} update(s): dpkg sees {sorted(theirs - ours)}, we do not")
        if any(n == "openssh-server" and v in VULNERABLE for n, v in theirs):
            r = run_check(REGISTRY["vuln.remote"], ctx)
            if r.status != "fail":
                bad.append(f"#{i}: dpkg has a vulnerable openssh-server installed; vuln.remote says {r.status}")
    assert accepted > CORPUS // 4, f"dpkg accepted only {accepted} of {CORPUS} generated databases"
    report(bad, len(items), f"dpkg-query ({accepted} databases accepted)")


@pytest.mark.parametrize("status", [
    # lower-case field names
    "package: openssh-server\nstatus: install ok installed\nversion: 1:9.2p1-2\narchitecture: amd64\n",
    # a journal entry dpkg applies over a patched status file
    None,
    # CR as part of a stanza separator: dpkg reads the line as a continuation, the stanza goes on
    "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\t\n\nPackage: openssh-server\n"
    "Status: Install OK Installed\nVersion: 1:9.2p1-2\n",
])
def test_a_vulnerable_openssh_dpkg_sees_fails_vuln_remote(tmp_path, status):
    query = need("dpkg-query")
    patched = "Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2+deb12u3\n"
    updates = [] if status else ["Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2\n"]
    status = status or patched
    _write(tmp_path, status, updates)
    out = run([query, f"--admindir={tmp_path}", "-W", "-f", "${Package} ${Version}\n"]).stdout.decode()
    assert "openssh-server 1:9.2p1-2\n" in out  # dpkg sees the vulnerable version
    ctx = context({"/etc/os-release": DEB12, "/var/lib/dpkg/status": status,
                   **{f"/var/lib/dpkg/updates/{k:04}": u for k, u in enumerate(updates)}})
    all_checks()
    assert run_check(REGISTRY["vuln.remote"], ctx).status == "fail"
