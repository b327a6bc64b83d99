"""The real appliance on built images: fast inspection, mounts, the trial write, pulled files."""

import os
import tempfile

import pytest

from tests.conftest import sha256
from workbench.image.preflight import preflight
from workbench.image.session import GuestSession

pytestmark = pytest.mark.appliance


def test_centos_sample(guest, built):
    facts, r = guest("sample")
    o = r.os
    assert (o.distro, o.version, o.family, o.init, o.network) == ("centos", "7.9", "rhel", "systemd", "sysconfig")
    assert o.first_partition_mountpoint == "/boot"
    assert r.root_device == "/dev/sda2"
    assert [(m.device, m.mountpoint) for m in r.mounts] == [("/dev/sda2", "/"), ("/dev/sda1", "/boot")]
    assert [r.mountpoint(p.device) for p in facts.partitions] == ["/boot", "/"]
    assert r.trial_write.ok is True and r.trial_write.free_bytes > 500 << 20
    # /etc pulled whole with owners and modes; the rc.d layout behind the /etc/init.d link
    shadow = r.tree.node("/etc/shadow")
    assert shadow.kind == "file" and shadow.mode == 0o000 and shadow.uid == 0
    assert r.tree.read_text("/etc/shadow").startswith("root:$6$")
    assert r.tree.resolve("/etc/init.d/network") == "/etc/rc.d/init.d/network"
    assert r.tree.node("/etc/ssh/ssh_host_rsa_key").gid == 997
    assert r.tree.resolve("/sbin/init") == "/usr/lib/systemd/systemd"
    assert r.tree.is_file("/usr/lib/systemd/system/sshd.service")
    # homes: small files pulled with owners; the package database (Berkeley DB) pulled whole
    key = r.tree.node("/home/admin/.ssh/id_ed25519")
    assert key.uid == 1000 and key.mode == 0o600 and key.data.startswith(b"-----BEGIN OPENSSH PRIVATE KEY")
    assert r.tree.read_text("/root/.ssh/authorized_keys").endswith("deploy@build-server\n")
    assert r.tree.node("/var/lib/rpm/Packages").size > 8192
    assert r.notes == []


def test_lvm_root_with_xfs_boot(guest):
    facts, r = guest("lvm-centos7")
    assert r.root_device == "/dev/centos/root"
    assert ("/dev/sda1", "/boot") in [(m.device, m.mountpoint) for m in r.mounts]
    assert r.os.first_partition_mountpoint == "/boot" and r.os.family == "rhel"
    # xfs is not a file system the platform writes to, but the appliance can: the trial write succeeds
    assert r.trial_write.ok is True


def test_gpt_esp_first_debian(guest):
    facts, r = guest("gpt-esp-debian")
    assert r.os.distro == "debian" and r.os.network == "ifupdown" and r.os.version == "12"
    assert r.os.first_partition_mountpoint == "/boot/efi"
    assert r.trial_write.ok is True  # FAT32 written on the overlay
    assert r.tree.read_text("/etc/os-release").startswith("PRETTY_NAME=\"Debian")  # link into /usr/lib


def test_clean_debian_home_pull_skips_big_files(guest):
    _, r = guest("gpt-esp-debian")
    assert r.tree.read_text("/home/debian/.profile") == "# ~/.profile\n"
    big = r.tree.node("/home/debian/big.bin")  # over 64 KiB: left out of the transfer, examined by its head
    assert big.size > 200 << 10 and big.data is None and not r.tree.unread_under(["/home/debian"])
    assert r.tree.read_text("/var/lib/dpkg/status").startswith("Package: openssh-server")


def test_rpm_sqlite_behind_a_symlink(guest):
    _, r = guest("rocky9")
    assert r.os.distro == "rocky" and r.os.network == "networkmanager"
    assert r.tree.is_file("/var/lib/rpm/rpmdb.sqlite")
    assert r.tree.resolve("/var/lib/rpm/rpmdb.sqlite") == "/usr/lib/sysimage/rpm/rpmdb.sqlite"


def test_whole_disk_filesystem(guest):
    facts, r = guest("whole-disk-ext4")
    assert r.root_device == "/dev/sda" and r.os.distro == "alpine"
    assert r.trial_write is None  # no first partition to try


def test_the_image_is_never_written(built, guest):
    path = built("sample")
    before = sha256(path)
    facts = preflight(str(path))
    with GuestSession(facts) as s:
        s.start()
        s.mount(facts.partitions[0].device, "/")  # even a read-write mount only reaches the overlay
        s.write_file("/scribble", b"x")
        s.unmount_all()
    assert sha256(path) == before
    # nothing left in this test's own TMPDIR (conftest gives each test one; never the machine's /tmp)
    assert not any(n.startswith("wb-pull") for n in os.listdir(tempfile.gettempdir()))
