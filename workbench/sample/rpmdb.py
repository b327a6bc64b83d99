"""A real rpm database for sample and test images, built with rpmbuild, rpm --justdb and db5.3_load."""

from __future__ import annotations

import tempfile
from pathlib import Path

from workbench.sample.build import _run


def rpm_database(packages: list[tuple[str, str, str, int | None]], kind: str = "bdb") -> dict[str, bytes]:
    """A real rpm database listing (name, version, release, epoch) packages, as {file name: bytes}.

    rpmbuild makes empty packages and rpm --justdb installs them into a sqlite database;
    for "bdb" (RHEL/CentOS 7 and 8) the same header blobs are loaded into a Berkeley DB hash
    file with db5.3_load, which is how those releases store /var/lib/rpm/Packages.
    """
    import sqlite3
    import struct

    with tempfile.TemporaryDirectory(prefix="wb-rpm-") as tmp:
        top = Path(tmp) / "top"
        rpms = []
        for name, version, release, epoch in packages:
            spec = Path(tmp) / f"{name}.spec"
            spec.write_text(f"Name: {name}\nVersion: {version}\nRelease: {release}\n"
                            + (f"Epoch: {epoch}\n" if epoch is not None else "")
                            + "Summary: workbench sample package\nLicense: MIT\nBuildArch: noarch\n"
                              "%description\nAn empty package for a sample rpm database.\n%files\n")
            _run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", str(spec)])
        rpms = sorted(str(p) for p in (top / "RPMS").rglob("*.rpm"))
        db = Path(tmp) / "db"
        db.mkdir()
        _run(["rpm", "--dbpath", str(db), "--initdb"])
        _run(["rpm", "-i", "--justdb", "--nodeps", "--noscripts", "--notriggers", "--ignorearch", "--ignoreos",
              "--dbpath", str(db), *rpms])
        sqlite_path = db / "rpmdb.sqlite"
        if kind == "sqlite":
            return {"rpmdb.sqlite": sqlite_path.read_bytes()}
        con = sqlite3.connect(sqlite_path)
        rows = con.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
        con.close()
        dump = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=4096", "HEADER=END",
                " " + struct.pack("<I", 0).hex(), " " + struct.pack("<I", len(rows)).hex()]
        for hnum, blob in rows:
            dump += [" " + struct.pack("<I", hnum).hex(), " " + bytes(blob).hex()]
        dump.append("DATA=END")
        (Path(tmp) / "dump").write_text("\n".join(dump) + "\n")
        out = Path(tmp) / "Packages"
        _run(["db5.3_load", "-f", str(Path(tmp) / "dump"), str(out)])
        return {"Packages": out.read_bytes()}
