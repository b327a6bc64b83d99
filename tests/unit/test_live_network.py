"""The rehearsal's live-network probe read from its own channel (untrusted, with this run's token), compared with
the os.conf's intent, and the one sentence that says why a boot failed."""

import re
import shutil
import subprocess

import pytest

from tests.unit.sim_helpers import CLASSIC, VPC
from workbench.image.bootinfo import BootFacts, KernelFacts
from workbench.image.initramfs import Initramfs
from workbench.osconf import parse_text
from workbench.paths import assets_dir
from workbench.rehearse.explain import failure_sentence
from workbench.rehearse import live as live_mod
from workbench.rehearse.live import compare_network, network_rows
from workbench.rehearse.probe import depend_last, probe_files

TOKEN = "0123456789abcdef0123456789abcdef"
GOOD_VPC = ["WB-PROBE begin",
            "WB-PROBE if eth0 00:8c:fa:5e:14:23 up 10.171.254.123/24",
            "WB-PROBE route default via 10.171.254.1 dev eth0 onlink",
            "WB-PROBE route 10.171.254.0/24 dev eth0 proto kernel scope link src 10.171.254.123",
            "WB-PROBE dns 7.7.7.7 8.8.8.8", "WB-PROBE hostname iZ23r29djmjZ", "WB-PROBE sshd yes",
            "WB-PROBE took 20.51 20.63 0", "WB-PROBE end"]


def values(conf):
    return parse_text(conf)[0]


def channel(lines: list[str], token: str = TOKEN) -> bytes:
    """What the probe writes on its channel: each WB-PROBE line with the run's token."""
    return "".join(ln.replace("WB-PROBE ", f"WB-PROBE {token} ", 1) + "\n" for ln in lines).encode()


def parse_probe(lines: list[str]):
    return live_mod.parse_probe(channel(lines), TOKEN)


def test_a_matching_vpc_guest():
    live = parse_probe(GOOD_VPC)
    assert live.complete and live.interfaces[0].addresses == ["10.171.254.123/24"] and live.sshd_listening
    assert round(live.took, 2) == 0.12 and live.waited == 0  # what the probe cost the boot
    assert compare_network(values(VPC), live) == []
    rows = network_rows(values(VPC), live)
    assert [r.item for r in rows] == ["eth0 (MAC 00:8c:fa:5e:14:23)", "default route", "nameservers", "host name",
                                      "sshd"]
    assert rows[0].seen == "eth0: up, 10.171.254.123/24" and all(r.problem is None for r in rows)


def test_the_nic_is_found_by_its_mac_whatever_its_name():
    lines = [ln.replace("eth0", "ens5") for ln in GOOD_VPC]
    assert compare_network(values(VPC), parse_probe(lines)) == []


def test_an_unconfigured_nic_is_named():
    """What a parser that writes "iface eth0" leaves on an image whose NIC is ens5: nothing configured."""
    lines = ["WB-PROBE begin", "WB-PROBE if ens5 00:8c:fa:5e:14:23 down", "WB-PROBE dns 192.168.122.1",
             "WB-PROBE hostname iZ23r29djmjZ", "WB-PROBE sshd yes", "WB-PROBE end"]
    got = compare_network(values(VPC), parse_probe(lines))
    assert got[0] == ("eth0 (MAC 00:8c:fa:5e:14:23), called ens5 in the guest: it is down, not up; it does not "
                      "have 10.171.254.123/24 (it has no IPv4 address)")
    assert got[1].startswith("the default route does not go via 10.171.254.1 on ens5 (eth0); the table has: no routes")
    assert got[2] == "the nameservers are 192.168.122.1, not 7.7.7.7, 8.8.8.8"
    missing = ["WB-PROBE begin", "WB-PROBE if ens5 52:54:00:12:34:56 up", "WB-PROBE sshd no", "WB-PROBE end"]
    got = compare_network(values(VPC), parse_probe(missing))
    assert got[0] == "eth0 (MAC 00:8c:fa:5e:14:23): no interface has that MAC (the guest has: ens5 52:54:00:12:34:56)"
    assert got[-1].startswith("nothing listens on port 22")


def test_classic_needs_the_default_route_on_eth1_and_every_route():
    lines = ["WB-PROBE begin", "WB-PROBE if ens5 00:8c:fa:5e:14:23 up 10.171.254.123/24",
             "WB-PROBE if ens6 00:8c:fa:5e:14:24 up 42.120.74.105/24",
             "WB-PROBE route default via 10.171.254.1 dev ens5",  # the wrong NIC carries the default route
             "WB-PROBE route 10.0.0.0/8 via 10.171.254.1 dev ens5", "WB-PROBE dns 7.7.7.7 8.8.8.8",
             "WB-PROBE hostname iZ23r29djmjZ", "WB-PROBE sshd yes", "WB-PROBE end"]
    got = compare_network(values(CLASSIC), parse_probe(lines))
    assert got == ["eth0_route 172.16.0.0/12 via 10.171.254.1 is not in the routing table on ens5",
                   "the default route does not go via 42.120.74.1 on ens6 (eth1); the table has: default via "
                   "10.171.254.1 dev ens5; 10.0.0.0/8 via 10.171.254.1 dev ens5"]


def test_the_probe_is_untrusted_and_must_finish():
    assert compare_network(values(VPC), None, "the kernel panicked") == [
        "the live network was not observed: the kernel panicked"]
    cut = parse_probe(GOOD_VPC[:4])
    assert not cut.complete and compare_network(values(VPC), cut) == [
        "the live network was not observed: the probe's report was cut off"]
    hostile = parse_probe(["WB-PROBE begin", "WB-PROBE if \x1b]52;c;aGk=\x07eth0 00:8c:fa:5e:14:23 up 999.1.1.1/24 "
                           "10.0.0.1/8", "WB-PROBE hostname \x1b[2Jevil", "WB-PROBE end"] + ["WB-PROBE route x"] * 50)
    assert "\x1b" not in hostile.interfaces[0].name and hostile.interfaces[0].addresses == ["10.0.0.1/8"]
    assert "\x1b" not in hostile.hostname and len(hostile.routes) == 0  # after the end: ignored
    flood = parse_probe(["WB-PROBE begin"] + ["WB-PROBE route default via 1.1.1.1 dev x"] * 5000)
    assert flood.routes == [] and not flood.complete and flood.refused  # bounded: refused, not half-read


def test_what_acts_on_the_power_button_is_read_from_the_probe_and_only_known_names():
    """The probe names what would act on the ACPI power button (the rehearsal shuts a guest with none down by SysRq
    at once instead of waiting for an answer): a known name, "none", or nothing read."""
    for said, got in (("none", "none"), ("systemd-logind", "systemd-logind"), ("acpid", "acpid"),
                      ("\x1b[2Jacpid", None), ("none extra", None), ("", None)):
        live = parse_probe(GOOD_VPC[:-1] + [f"WB-PROBE power {said}", "WB-PROBE end"])
        assert live.complete and live.power == got, said
    assert parse_probe(GOOD_VPC).power is None  # an older probe's report: not known, so ACPI is asked


def _power_handler(bwrap_cmd: list[str], before: str = "") -> str:
    """The probe's own power_handler() (its text from the probe), run in a PID namespace of its own with a fresh
    /proc, after the shell commands BEFORE."""
    script = (assets_dir() / "probe" / "wb-rehearsal-probe.sh").read_text()
    func = re.search(r"^power_handler\(\) \{\n.*?^\}\n", script, re.S | re.M).group(0)
    command = f"{before}\n{func}power_handler\nkill $! 2>/dev/null; true"
    proc = subprocess.run([*bwrap_cmd, "sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return proc.stdout.strip()


def test_the_probe_names_a_running_power_button_handler_and_none_otherwise(tmp_path):
    bwrap = shutil.which("bwrap")
    if not bwrap:
        pytest.skip("bubblewrap is not installed (the bootstrap installs it)")
    ns = [bwrap, "--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--"]
    assert _power_handler(ns) == "none"  # only the shell and its children: nothing acts on the button
    for name in ("acpid", "systemd-logind", "elogind-daemon"):
        stand_in = tmp_path / name
        shutil.copy("/bin/sleep", stand_in)  # a process whose name (/proc/PID/comm) is the handler's
        assert _power_handler(ns, f"{stand_in} 20 >/dev/null 2>&1 & sleep 0.3") == name
    shutil.copy("/bin/sleep", tmp_path / "acpidx")  # a name is matched whole
    assert _power_handler(ns, f"{tmp_path / 'acpidx'} 20 >/dev/null 2>&1 & sleep 0.3") == "none"


def test_only_the_probes_own_lines_count_and_a_report_past_a_limit_is_refused():
    """Lines without this run's token (an image printing a forged report, or an old probe's) are not read; a
    report past a bound, or begun twice, is refused as a whole: the live network is then not observed."""
    forged = ["WB-PROBE begin", "WB-PROBE if eth0 00:8c:fa:5e:14:23 up 10.171.254.123/24",
              "WB-PROBE hostname iZ23r29djmjZ", "WB-PROBE sshd yes", "WB-PROBE end"]
    down = ["WB-PROBE begin", "WB-PROBE if ens5 00:8c:fa:5e:14:23 down", "WB-PROBE sshd no", "WB-PROBE end"]
    other = channel(forged, "f" * 32)
    data = b"\n".join(ln.encode() for ln in forged) + b"\n" + other + channel(down)
    live = live_mod.parse_probe(data, TOKEN)
    assert live.complete and live.interfaces[0].state == "down" and live.sshd_listening is False
    assert live_mod.parse_probe(b"\n".join(ln.encode() for ln in forged) + other, TOKEN) is None
    # a token line that does not start the line (the console's form "[ 5.1] WB-PROBE ...") is not the probe's
    assert live_mod.parse_probe(b"x " + channel(forged), TOKEN) is None
    assert live_mod.parse_probe(channel(GOOD_VPC), "not-a-token") is None
    for past, why in ((channel(GOOD_VPC) + b"x" * live_mod.MAX_BYTES, "more than 64 KiB"),
                      (channel(["WB-PROBE begin"] + ["WB-PROBE route x"] * 500), "more than 400 lines"),
                      (channel(GOOD_VPC + GOOD_VPC), "began twice")):
        refused = live_mod.parse_probe(past, TOKEN)
        assert not refused.complete and why in refused.refused and refused.interfaces == []
        assert compare_network(values(VPC), refused) == [f"the live network was not observed: {refused.refused}"]
    nan = live_mod.parse_probe(channel(["WB-PROBE begin", "WB-PROBE took nan 1e9 \u0663", "WB-PROBE end"]), TOKEN)
    assert nan.took is None and nan.waited is None  # ASCII digits only


def test_the_probe_joins_each_init_system_and_no_other():
    systemd = {p: (c, m, t) for p, c, m, t in probe_files("systemd", TOKEN)}
    unit = systemd["/etc/systemd/system/wb-rehearsal-probe.service"][0]
    assert "After=network.target os-conf.service" in unit and "/var/lib/workbench-rehearsal/probe.sh" in unit
    assert systemd["/etc/systemd/system/multi-user.target.wants/wb-rehearsal-probe.service"][2] == \
        "/etc/systemd/system/wb-rehearsal-probe.service"
    script = systemd["/var/lib/workbench-rehearsal/probe.sh"][0]
    assert "@@" not in script and f"TOKEN={TOKEN}\n" in script and "org.workbench.probe" in script
    sysv = [p for p, *_ in probe_files("sysvinit", TOKEN)]
    assert "/etc/rc3.d/S99wb-rehearsal-probe" in sysv and "/etc/init.d/.depend.start" not in sysv
    openrc = {p: c for p, c, *_ in probe_files("openrc", TOKEN)}
    assert "/etc/runlevels/default/wb-rehearsal-probe" in openrc
    assert "need " not in openrc["/etc/init.d/wb-rehearsal-probe"]  # Debian's OpenRC has no net: ordering only
    runit = {p: (c, t) for p, c, _, t in probe_files("runit:/etc/runit/runsvdir/default", TOKEN)}
    assert runit["/etc/runit/runsvdir/default/wb-rehearsal-probe"][1] == "/etc/sv/wb-rehearsal-probe"
    assert "printf o >supervise/control" in runit["/etc/sv/wb-rehearsal-probe/run"][0]  # once: not restarted
    inittab = "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100"
    busybox = dict((p, c) for p, c, *_ in probe_files("busybox", TOKEN, inittab))
    assert busybox["/etc/inittab"] == inittab + "\n::once:/bin/sh /var/lib/workbench-rehearsal/probe.sh\n"
    assert probe_files("busybox", TOKEN) == []  # no inittab: busybox's built-in one is not replaced
    assert probe_files("upstart", TOKEN) == [] and probe_files("", TOKEN) == []
    with pytest.raises(ValueError):
        probe_files("systemd", "x; reboot")


def test_the_probe_is_added_last_to_startpars_order():
    """Debian's sysvinit runs, under startpar, only what insserv's .depend.start lists: the probe goes in last."""
    depend = ("TARGETS = killprocs bootlogs rmnologin ssh single rc.local\nINTERACTIVE =\nsingle: killprocs\n"
              "rc.local: bootlogs rmnologin ssh\n")
    files = {p: c for p, c, *_ in probe_files("sysvinit", TOKEN, depend)}
    got = files["/etc/init.d/.depend.start"]
    assert got.splitlines()[0] == "TARGETS = killprocs bootlogs rmnologin ssh single rc.local wb-rehearsal-probe"
    assert got.splitlines()[-1] == "wb-rehearsal-probe: killprocs bootlogs rmnologin ssh single rc.local"
    assert depend_last(got) == got  # added once
    with pytest.raises(ValueError):
        depend_last("INTERACTIVE =\n")


def _boot(initramfs_modules, builtin=()):
    k = KernelFacts("/boot/vmlinuz-6.1.0-10-amd64", "6.1.0-10-amd64", "x86_64", "/boot/initrd.img-6.1.0-10-amd64",
                    builtin=set(builtin), modules={"virtio_blk", "virtio_pci", "nvme", "virtio_net"})
    k.initramfs = Initramfs(files=[f"usr/lib/modules/6.1.0-10-amd64/kernel/{m}.ko" for m in initramfs_modules])
    return BootFacts(kernel=k)


def test_why_a_boot_failed_in_one_sentence():
    no_root = ["Begin: Waiting for root file system ... done.", "Gave up waiting for root file system device.",
               "ALERT!  UUID=0f0e does not exist.  Dropping to a shell!"]
    got = failure_sentence(no_root, "kernel", True, False, True, _boot(["ext4", "nvme"]))
    assert got == ("the root device never appeared (ALERT!  UUID=0f0e does not exist.  Dropping to a shell!): the "
                   "initramfs lacks virtio_blk, virtio_pci (see boot.initramfs-drivers).")
    # root= by a kernel device name: no driver would help, and the sentence says so
    got = failure_sentence(no_root, "kernel", True, False, True, _boot(["virtio_blk", "virtio_pci"]),
                           cmdline="root=/dev/sda2 ro quiet")
    assert got.endswith("root=/dev/sda2 names a device that does not exist on ECS's virtio disk (see boot.kernel).")
    panic = ["VFS: Unable to mount root fs on unknown-block(0,0)", "Kernel panic - not syncing: VFS: Unable to mount"]
    got = failure_sentence(panic, "kernel", True, False, True, _boot(["virtio_blk", "virtio_pci"]), disk="nvme")
    assert "could not mount the root file system" in got and "the initramfs lacks nvme" in got
    got = failure_sentence(["Kernel panic - not syncing: Attempted to kill init!"], "init", True, False, True)
    assert got == "the kernel panicked: Kernel panic - not syncing: Attempted to kill init!."
    emergency = ["[FAILED] Failed to mount /data.", "You are in emergency mode. After logging in, type ..."]
    assert failure_sentence(emergency, "init", True, False, True).endswith("after: [FAILED] Failed to mount /data.")
    parser = ["os-conf: error: eth0: no network interface has the MAC address 00:8c:fa:5e:14:23",
              "os-conf: failed; os.conf kept so that the next boot tries again"]
    assert failure_sentence(parser, "parser finished", True, True, False).startswith(
        "the parser failed: os-conf: error: eth0: no network interface")
    assert failure_sentence(["SeaBIOS (version 1.16)", "Booting from Hard Disk..."], "bootloader", True, False,
                            True) == ("the boot did not get past the bootloader (no kernel started) in time; the "
                                      "console's last line: Booting from Hard Disk...")
    assert failure_sentence(GOOD_VPC, "login", True, True, False) is None
    assert failure_sentence([], "firmware", False, False, False).startswith("qemu could not start the image at all")
