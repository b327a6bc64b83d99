"""GuestTree: hostile archives, symlinks that try to escape or loop, byte budgets."""

import io
import tarfile

from workbench.image.tree import GuestTree, normpath


def tar_bytes(members) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                info.mode = 0o640
                info.uid = 0
                tar.addfile(info, io.BytesIO(payload))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, payload
                tar.addfile(info)
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
                tar.addfile(info)
    buf.seek(0)
    return buf


def test_normpath():
    assert normpath("./etc/passwd") == "/etc/passwd"
    assert normpath("./.ssh/id_rsa") == "/.ssh/id_rsa"
    assert normpath("../../../etc/shadow") == "/etc/shadow"
    assert normpath("//etc//x") == "/etc/x"
    assert normpath("a\0b") is None and normpath("") is None


def test_tar_paths_cannot_leave_the_tree():
    t = GuestTree()
    t.add_tar(tar_bytes([("./../../escape", "file", b"x"), ("/abs/file", "file", b"y"),
                         ("./ok/../fine", "file", b"z")]), "/etc")
    assert t.read_bytes("/etc/escape") is None and t.read_bytes("/escape") == b"x"
    assert t.read_bytes("/etc/abs/file") == b"y"
    assert t.read_bytes("/etc/fine") == b"z"
    assert t.was_pulled("/etc/anything") and not t.was_pulled("/root/x")


def test_hardlinks_devices_and_modes():
    t = GuestTree()
    t.add_tar(tar_bytes([("./a", "file", b"data"), ("./b", "hard", "./a"), ("./null", "chr", None)]), "/etc")
    assert t.read_bytes("/etc/b") == b"data"
    assert t.node("/etc/null").kind == "other" and t.read_bytes("/etc/null") is None
    assert t.node("/etc/a").mode == 0o640


def test_symlinks_resolve_inside_the_tree_only():
    t = GuestTree.from_dict({"/usr/lib/os-release": "ID=x\n", "/etc/real": "r"},
                            {"/etc/os-release": "../usr/lib/os-release", "/etc/abs": "/etc/real",
                             "/etc/up": "../../../../../../etc/real", "/home/u/.ssh": "/root/.ssh"})
    assert t.read_text("/etc/os-release") == "ID=x\n"
    assert t.read_text("/etc/abs") == "r"
    assert t.read_text("/etc/up") == "r"  # .. stops at the guest root, never reaches the host
    assert t.resolve("/home/u/.ssh/id_rsa") == "/root/.ssh/id_rsa"
    assert t.is_link("/etc/abs") and t.readlink("/etc/abs") == "/etc/real"


def test_symlink_loops_end():
    t = GuestTree.from_dict({}, {"/a": "/b", "/b": "/a", "/self": "self"})
    assert t.resolve("/a") is None and t.resolve("/self") is None
    assert t.read_bytes("/a/x") is None and not t.exists("/a")


def test_per_file_and_total_budgets():
    t = GuestTree(max_file=10, max_total=15)
    t.add_tar(tar_bytes([("./small", "file", b"12345"), ("./big", "file", b"x" * 11),
                         ("./fits", "file", b"0123456789"), ("./over", "file", b"abc")]), "/d")
    assert t.read_bytes("/d/small") == b"12345"
    assert t.node("/d/big").truncated and t.read_bytes("/d/big") is None
    assert t.read_bytes("/d/fits") == b"0123456789"
    assert t.read_bytes("/d/over") is None  # 5 + 10 kept: the budget is spent
    assert any("/d/big" in s for s in t.skipped)


def test_garbage_archive_is_noted_not_raised():
    t = GuestTree()
    t.add_tar(io.BytesIO(b"\x00garbage" * 100), "/etc")
    t.add_tar(io.BytesIO(tar_bytes([("./a", "file", b"x" * 2000)]).getvalue()[:1200]), "/var")
    assert len(t.skipped) >= 1


def test_read_text_normalises_line_ends_and_bad_bytes():
    t = GuestTree.from_dict({"/f": b"a\r\nb\rc\xff\n"})
    assert t.read_text("/f") == "a\nb\nc\ufffd\n"


def test_listdir_and_walk():
    t = GuestTree.from_dict({"/etc/ssh/a": "1", "/etc/ssh/b": "2", "/etc/x": "3"})
    assert t.listdir("/etc/ssh") == ["a", "b"]
    assert [n.path for n in t.walk("/etc/ssh")] == ["/etc/ssh", "/etc/ssh/a", "/etc/ssh/b"]
