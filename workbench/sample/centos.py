"""The built-in sample: a CentOS 7-like image with a few deliberate findings.

Importable by the limits (MBR, ext4 /boot first, 8 GiB virtual) but not safe
as it stands: a default root password never forced to change, an md5-crypt
account, baked-in SSH host keys and authorized_keys, a user's private key,
root login over SSH with empty passwords allowed, and telnet through xinetd.
Its rpm database has a bash still open to Shellshock (CVE-2014-7169). On ECS
it would not boot: its host-only initramfs (dracut on the machine it came from)
holds that machine's disk drivers and no virtio, and qemu-guest-agent is enabled.
It is a review sample, not a bootable system (the kernel, GRUB's first stage and
the modules are placeholders).
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

from workbench import crypt
from workbench.sample.build import BuildError, Disk, Part, Tree, build, new_uuid
from workbench.sample.rpmdb import rpm_database
from workbench.units import GiB

# What the sample's executables hold: an x86_64 ELF header (as a CentOS 7 build's; the architecture reads from
# it when the placeholder kernel does not say), then a placeholder: nothing in the sample runs.
ELF_X86_64 = (b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0, 64, 0, 0, 64, 56, 0,
                                                                64, 0, 0) + b"placeholder\n")

BOOT_UUID = "9b2c3a4e-7f1d-4c6b-8a2e-5d0f1e2a3b4c"
ROOT_UUID = "3f6e8d1a-2b4c-4e5f-9a7b-8c9d0e1f2a3b"
KERNEL = "3.10.0-1160.el7.x86_64"
SAMPLE_SIZE = 8 * GiB
SAMPLE_PACKAGES = [
    ("bash", "4.2.45", "5.el7_0.2", None),  # before the CVE-2014-7169 fix
    ("openssh-server", "7.4p1", "21.el7", None),
    ("openssl-libs", "1.0.2k", "19.el7", 1),
    ("xz-libs", "5.2.2", "1.el7", None),
    ("kernel", "3.10.0", "1160.el7", None),
    ("xinetd", "2.3.15", "14.el7", 2),
    ("telnet-server", "0.17", "66.el7", 1),
]


def _ssh_keypair(kind: str, comment: str) -> tuple[str, str]:
    """A real key pair from ssh-keygen, or a clearly fake stand-in when it is missing."""
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "k"
        try:
            subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(key)],
                           check=True, capture_output=True)
            return key.read_text(), key.with_suffix(".pub").read_text()
        except (FileNotFoundError, subprocess.CalledProcessError):
            body = "b3BlbnNzaC1rZXktdjEAAAAA-sample-not-a-real-key"
            return (f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n",
                    f"ssh-{kind} AAAAC3NzaC1sample {comment}\n")


# A stand-in for GRUB's first stage (boot.img): only its name and messages, no working code.
GRUB_STAGE1 = (b"\xeb\x63\x90" + bytes(0x17d) + b"GRUB \0Geom\0Hard Disk\0Read\0 Error\r\n\0").ljust(440, b"\0")
# The kernel has virtio as modules (as CentOS 7's does); the host-only initramfs dracut made on the physical
# machine the image came from holds that machine's disk drivers, not virtio: on ECS it cannot find its root.
KERNEL_MODULES = {
    "kernel/drivers/virtio/virtio.ko.xz": "", "kernel/drivers/virtio/virtio_ring.ko.xz": "",
    "kernel/drivers/virtio/virtio_pci.ko.xz": "kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz",
    "kernel/drivers/block/virtio_blk.ko.xz": "kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz",
    "kernel/drivers/net/virtio_net.ko.xz": "kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz",
    "kernel/drivers/nvme/host/nvme.ko.xz": "", "kernel/drivers/ata/ahci.ko.xz": "kernel/drivers/ata/libahci.ko.xz",
    "kernel/drivers/ata/libahci.ko.xz": "", "kernel/drivers/scsi/sd_mod.ko.xz": "",
    "kernel/fs/ext4/ext4.ko.xz": "kernel/fs/jbd2/jbd2.ko.xz kernel/fs/mbcache.ko.xz",
    "kernel/fs/jbd2/jbd2.ko.xz": "", "kernel/fs/mbcache.ko.xz": "",
}
HOSTONLY = ("ahci", "libahci", "sd_mod", "ext4", "jbd2", "mbcache")


def initramfs() -> bytes:
    """A gzip'd cpio as dracut writes it in host-only mode: the drivers of the machine it ran on."""
    import gzip

    from workbench.sample.cpio import newc, tree_of

    files = {"init": b"#!/bin/sh\n# placeholder: this sample image does not boot\n",
             f"usr/lib/modules/{KERNEL}/modules.dep": b""}
    for path in KERNEL_MODULES:
        if path.rsplit("/", 1)[1].split(".ko")[0] in HOSTONLY:
            files[f"usr/lib/modules/{KERNEL}/{path}"] = b"placeholder module\n"
    return gzip.compress(newc(tree_of(files)), mtime=0)


def boot_tree() -> Tree:
    t = Tree()
    t.file(f"/vmlinuz-{KERNEL}", b"placeholder kernel: this sample image does not boot\n", 0o755)
    t.file(f"/initramfs-{KERNEL}.img", initramfs(), 0o600)
    t.file(f"/config-{KERNEL}", "CONFIG_EXT4_FS=m\nCONFIG_VIRTIO=m\nCONFIG_VIRTIO_PCI=m\nCONFIG_VIRTIO_BLK=m\n"
                                "CONFIG_VIRTIO_NET=m\nCONFIG_BLK_DEV_NVME=m\n")
    t.file(f"/System.map-{KERNEL}", "ffffffff81000000 T _text\n", 0o600)
    t.file("/grub2/grub.cfg", f"""set default=0
set timeout=5
menuentry 'CentOS Linux ({KERNEL}) 7 (Core)' {{
    search --no-floppy --fs-uuid --set=root {BOOT_UUID}
    linux16 /vmlinuz-{KERNEL} root=UUID={ROOT_UUID} ro crashkernel=auto console=ttyS0
    initrd16 /initramfs-{KERNEL}.img
}}
""", 0o644)
    t.file("/grub2/grubenv", "# GRUB Environment Block\nsaved_entry=0\n" + "#" * 970 + "\n")
    return t


def root_tree() -> Tree:
    t = Tree()
    for d in ("boot", "dev", "proc", "sys", "run", "tmp", "var/tmp", "var/log", "var/lib", "opt", "srv", "mnt",
              "media", "usr/bin", "usr/sbin", "usr/lib64", "usr/lib/systemd/system", "usr/share"):
        t.dir("/" + d, 0o1777 if d.endswith("tmp") else 0o755)
    t.dir("/root", 0o550)
    for name, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
        t.symlink("/" + name, target)
    # init, shells and the tools the parser and checks look for
    t.file("/usr/lib/systemd/systemd", ELF_X86_64, 0o755)
    t.symlink("/usr/sbin/init", "../lib/systemd/systemd")
    t.file("/usr/bin/bash", ELF_X86_64, 0o755)
    t.symlink("/usr/bin/sh", "bash")
    for tool in ("usr/bin/systemctl", "usr/sbin/sshd", "usr/bin/ssh-keygen", "usr/sbin/chpasswd",
                 "usr/sbin/xinetd", "usr/sbin/in.telnetd", "usr/sbin/restorecon"):
        t.file("/" + tool, ELF_X86_64, 0o755)

    t.file("/etc/centos-release", "CentOS Linux release 7.9.2009 (Core)\n")
    t.symlink("/etc/redhat-release", "centos-release")
    t.symlink("/etc/system-release", "centos-release")
    t.file("/etc/os-release", """NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
""")
    t.file("/etc/fstab", f"""#
# /etc/fstab
# Created by anaconda
#
UUID={ROOT_UUID} /                       ext4    defaults        1 1
UUID={BOOT_UUID} /boot                   ext4    defaults        1 2
""")
    t.file("/etc/hostname", "localhost.localdomain\n")
    t.file("/etc/hosts", "127.0.0.1   localhost localhost.localdomain\n::1         localhost localhost.localdomain\n")
    t.file("/etc/resolv.conf", "# Generated by NetworkManager\nnameserver 192.168.122.1\n")
    t.file("/etc/sysconfig/network", "# Created by anaconda\nNETWORKING=yes\nHOSTNAME=localhost.localdomain\n")
    t.file("/etc/sysconfig/network-scripts/ifcfg-eth0", """TYPE=Ethernet
BOOTPROTO=dhcp
DEFROUTE=yes
NAME=eth0
DEVICE=eth0
ONBOOT=yes
""")
    t.file("/etc/sysconfig/network-scripts/ifcfg-lo", "DEVICE=lo\nIPADDR=127.0.0.1\nNETMASK=255.0.0.0\nONBOOT=yes\n")
    t.file("/etc/sysconfig/selinux", "SELINUX=permissive\nSELINUXTYPE=targeted\n")
    t.dir("/etc/selinux/targeted")
    t.file("/etc/selinux/config", "SELINUX=permissive\nSELINUXTYPE=targeted\n")
    t.file("/etc/shells", "/bin/sh\n/bin/bash\n/usr/bin/sh\n/usr/bin/bash\n")

    # accounts: root with a default password that is never forced to change,
    # admin with an md5-crypt hash of "admin", a locked service account
    root_hash = crypt.sha512_crypt("123456", "wbSampleRootSal")
    admin_hash = crypt.md5_crypt("admin", "wbsample")
    t.file("/etc/passwd", """root:x:0:0:root:/root:/bin/bash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
sshd:x:74:74:Privilege-separated SSH:/var/empty/sshd:/sbin/nologin
nobody:x:99:99:Nobody:/:/sbin/nologin
admin:x:1000:1000:Admin:/home/admin:/bin/bash
""")
    t.file("/etc/shadow", f"""root:{root_hash}:19000:0:99999:7:::
bin:*:18353:0:99999:7:::
daemon:*:18353:0:99999:7:::
sshd:!!:18353::::::
nobody:*:18353:0:99999:7:::
admin:{admin_hash}:19000:0:99999:7:::
""", 0o000)
    t.file("/etc/group", "root:x:0:\nbin:x:1:\ndaemon:x:2:\nwheel:x:10:admin\nsshd:x:74:\nadmin:x:1000:\n")
    t.file("/etc/gshadow", "root:::\nbin:::\ndaemon:::\nwheel:::admin\nsshd:!::\nadmin:!::\n", 0o000)
    t.file("/etc/login.defs", "PASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\nENCRYPT_METHOD SHA512\n")

    # SSH: baked-in host keys, root login with passwords, authorized_keys, a user's private key
    t.file("/etc/ssh/sshd_config", """# sample sshd_config
Port 22
HostKey /etc/ssh/ssh_host_rsa_key
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin yes
PasswordAuthentication yes
PermitEmptyPasswords yes
ChallengeResponseAuthentication no
UsePAM yes
X11Forwarding yes
Subsystem sftp /usr/libexec/openssh/sftp-server
""", 0o600)
    for kind in ("rsa", "ed25519"):
        priv, pub = _ssh_keypair(kind, "root@localhost.localdomain")
        t.file(f"/etc/ssh/ssh_host_{kind}_key", priv, 0o640, gid=997)
        t.file(f"/etc/ssh/ssh_host_{kind}_key.pub", pub, 0o644)
    _, deploy_pub = _ssh_keypair("ed25519", "deploy@build-server")
    t.dir("/root/.ssh", 0o700)
    t.file("/root/.ssh/authorized_keys", deploy_pub, 0o600)
    admin_priv, admin_pub = _ssh_keypair("ed25519", "admin@workstation")
    t.dir("/home/admin", 0o700, uid=1000, gid=1000)
    t.dir("/home/admin/.ssh", 0o700, uid=1000, gid=1000)
    t.file("/home/admin/.ssh/id_ed25519", admin_priv, 0o600, uid=1000, gid=1000)
    t.file("/home/admin/.ssh/id_ed25519.pub", admin_pub, 0o644, uid=1000, gid=1000)
    t.file("/home/admin/.bash_history", "ssh root@10.0.0.5\n", 0o600, uid=1000, gid=1000)

    # systemd: the units CentOS 7 enables, plus xinetd (which runs telnet)
    units = {
        "sshd.service": "[Unit]\nDescription=OpenSSH server daemon\n[Service]\nExecStart=/usr/sbin/sshd -D\n"
                        "[Install]\nWantedBy=multi-user.target\n",
        "crond.service": "[Unit]\nDescription=Command Scheduler\n[Service]\nExecStart=/usr/sbin/crond -n\n"
                         "[Install]\nWantedBy=multi-user.target\n",
        "xinetd.service": "[Unit]\nDescription=Xinetd A Powerful Replacement For Inetd\n[Service]\n"
                          "ExecStart=/usr/sbin/xinetd -stayalive -pidfile /var/run/xinetd.pid\n"
                          "[Install]\nWantedBy=multi-user.target\n",
        "network.service": "[Unit]\nDescription=LSB: Bring up/down networking\n",
        "multi-user.target": "[Unit]\nDescription=Multi-User System\n",
        "getty@.service": "[Unit]\nDescription=Getty on %I\n[Install]\nWantedBy=getty.target\n",
        "qemu-guest-agent.service": "[Unit]\nDescription=QEMU Guest Agent\n[Service]\nExecStart=/usr/bin/qemu-ga\n"
                                    "[Install]\nWantedBy=multi-user.target\n",
    }
    for name, text in units.items():
        t.file(f"/usr/lib/systemd/system/{name}", text)
    t.symlink("/etc/systemd/system/default.target", "/usr/lib/systemd/system/multi-user.target")
    # the kernel's module lists (its modules have virtio; the initramfs in /boot does not)
    t.file(f"/usr/lib/modules/{KERNEL}/modules.dep", "".join(f"{p}: {d}".rstrip() + "\n"
                                                             for p, d in KERNEL_MODULES.items()))
    t.file(f"/usr/lib/modules/{KERNEL}/modules.builtin", "kernel/drivers/char/mem.ko\nkernel/fs/proc.ko\n")
    for name in ("sshd.service", "crond.service", "xinetd.service", "qemu-guest-agent.service"):
        t.symlink(f"/etc/systemd/system/multi-user.target.wants/{name}", f"/usr/lib/systemd/system/{name}")
    t.file("/etc/xinetd.d/telnet", """# default: on
service telnet
{
        flags           = REUSE
        socket_type     = stream
        wait            = no
        user            = root
        server          = /usr/sbin/in.telnetd
        log_on_failure  += USERID
        disable         = no
}
""")
    rhel_rc_layout(t)
    t.file("/etc/rc.d/init.d/functions", "# functions for init scripts\n")
    t.file("/etc/inittab", "# inittab is no longer used when using systemd.\n")
    t.file("/etc/machine-id", "")
    t.file("/etc/yum.repos.d/CentOS-Base.repo", "[base]\nname=CentOS-$releasever - Base\n"
                                                "mirrorlist=http://mirrorlist.centos.org/?release=$releasever\n")
    t.file("/var/log/messages", "", 0o600)
    # the rpm database (Berkeley DB, as CentOS 7 keeps it), with a bash that Shellshock still reaches
    try:
        for name, data in rpm_database(SAMPLE_PACKAGES, "bdb").items():
            t.file(f"/var/lib/rpm/{name}", data, 0o644)
    except BuildError as e:  # rpmbuild or db5.3_load missing: the sample has no package database
        t.file("/var/lib/rpm/.workbench-note", f"no rpm database: {e}\n")
    return t


def rhel_rc_layout(t: Tree) -> None:
    """The sysvinit layout as RHEL keeps it: /etc/rc.d/rcN.d behind /etc/rcN.d and /etc/init.d links."""
    t.file("/etc/rc.d/init.d/network", "#!/bin/bash\n# chkconfig: 2345 10 90\n# description: network\n", 0o755)
    t.symlink("/etc/init.d", "rc.d/init.d")
    for n in range(7):
        t.dir(f"/etc/rc.d/rc{n}.d")
        t.symlink(f"/etc/rc{n}.d", f"rc.d/rc{n}.d")
    for n in (2, 3, 4, 5):
        t.symlink(f"/etc/rc.d/rc{n}.d/S10network", "../init.d/network")


def sample_disk() -> Disk:
    return Disk(
        size=SAMPLE_SIZE, table="mbr", disk_id="0x000b1e55", boot_code=GRUB_STAGE1,
        parts=[
            Part(1 * GiB, "ext4", label="boot", uuid=BOOT_UUID, tree=boot_tree(), bootable=True),
            Part(SAMPLE_SIZE - 1 * GiB - (1 << 20), "ext4", uuid=ROOT_UUID, tree=root_tree()),
        ],
    )


def build_sample(path: str | Path, fmt: str = "qcow2") -> Path:
    return build(sample_disk(), path, fmt)


__all__ = ["build_sample", "sample_disk", "new_uuid"]
