"""Real boots: a debootstrapped Debian 12 (systemd, udev, ifupdown, openssh-server) rehearsed with a classic
os.conf on an NVMe disk (no bootloader: direct kernel boot with no net.ifnames=0, so udev calls the NICs ens5 and
ens6), a VPC one from the TUI the same way on virtio, and a classic one booting by its own extlinux (kernel names);
the real changes must match the simulation and the live network the os.conf. A parser that configures eth0 by name only, and an initramfs without
virtio, must make the rehearsal fail, saying why."""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

from tests.conftest import sha256
from tests.unit.sim_helpers import CLASSIC, VPC
from workbench.image import session
from workbench.rehearse import RehearsalHooks, RehearsalRequest, rehearse
from workbench.state import ReviewOptions

pytestmark = [pytest.mark.appliance, pytest.mark.boot]


def test_classic_rehearsal_on_nvme_by_the_cli(bootable, tmp_path):
    """Classic (two NICs) on an NVMe disk, direct kernel boot with no net.ifnames=0: udev names the NICs ens5 and
    ens6 and the parser finds each by its MAC."""
    before = sha256(bootable)
    conf = tmp_path / "os.conf"
    conf.write_text(CLASSIC)
    proc = subprocess.run([sys.executable, "-m", "workbench", "rehearse", str(bootable), "--os-conf", str(conf),
                           "--disk", "nvme", "--format", "json"], capture_output=True, text=True, timeout=1200)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, (doc["mismatches"], doc["network_mismatches"], doc["console_tail"])
    assert doc["schema"] == "workbench.rehearse/1" and doc["matches_simulation"] and doc["mismatches"] == []
    assert doc["os_conf_removed"] and doc["parser_finished"] and doc["disk"] == "nvme"
    assert doc["hostname_seen"] == "iZ23r29djmjZ"  # the guest came up with the configured host name
    real = {c["path"]: c for c in doc["real"]["changes"]}
    assert real["/etc/hostname"]["after"] == "iZ23r29djmjZ\n"
    assert "iface eth1 inet static" in real["/etc/network/interfaces.d/os-conf"]["after"]
    assert 'ATTR{address}=="00:8c:fa:5e:14:24", ATTR{type}=="1", NAME="eth1"' in \
        real["/etc/udev/rules.d/70-os-conf-net.rules"]["after"]
    assert set(real) >= {c["path"] for c in doc["simulation"]["changes"] if c["after"] is not None
                         and not c["path"].startswith(("/var/lib/os-conf",)) and "ssh_host" not in c["path"]}
    assert "done; os.conf removed" in doc["parser_log"]
    # booted as ECS would: the image's own command line (made up here: it has no bootloader), no net.ifnames=0, so
    # udev named the NICs by slot and the parser found them by their MACs
    assert "net.ifnames" not in doc["cmdline"] and "panic=" not in doc["cmdline"]
    # under TCG the kernel started at its PVH entry, decompressed on the host (image/pvh.py): it booted
    assert doc["accel"] != "tcg" or any("started at its PVH entry" in n for n in doc["notes"]), doc["notes"]
    assert "eth0: the NIC with MAC 00:8c:fa:5e:14:23 is ens5" in doc["parser_log"]
    assert "ens6 renamed to eth1 (MAC 00:8c:fa:5e:14:24)" in doc["parser_log"]
    # the live network, as the probe in the overlay saw it
    assert doc["network_matches"] and doc["network_mismatches"] == [], doc["network_mismatches"]
    live = doc["live"]
    assert {"name": "eth1", "mac": "00:8c:fa:5e:14:24", "state": "up", "addresses": ["42.120.74.105/24"]} \
        in live["interfaces"]
    assert any(r.startswith("default via 42.120.74.1 dev eth1") for r in live["routes"])
    assert any(r.startswith("172.16.0.0/12 via 10.171.254.1 dev eth0") for r in live["routes"])
    assert live["nameservers"] == ["7.7.7.7", "8.8.8.8"] and live["hostname"] == "iZ23r29djmjZ"
    assert live["sshd_listening"] is True and doc["failure"] is None
    # the later boots from the same overlay: a reboot without os.conf changes nothing but the parser's bookkeeping,
    # and an os.conf with only a password and a host name changes only those; the network stays as it was
    assert [b["kind"] for b in doc["boots"]] == ["first", "reboot", "change"], doc["notes"]
    assert all(b["ok"] and b["parser_finished"] for b in doc["boots"]), doc["boots"]
    first, reboot, change = doc["boots"]
    assert reboot["live"] == first["live"] and change["live"]["hostname"] != first["live"]["hostname"]
    assert sha256(bootable) == before  # the image itself is never written (nor is the probe: only the overlay)


def test_a_parser_that_names_eth0_only_configures_nothing_and_the_rehearsal_says_so(bootable, tmp_path):
    """The previous behaviour (configure the interface called eth0, whatever the MAC) on an image whose NIC is
    ens5: the files match the simulation, the live network does not."""
    from workbench.parsers import build_script

    script = build_script("ifupdown")
    assert 'resolve_nic "$n" "$mac"' in script
    old = tmp_path / "eth0-only.sh"
    old.write_text(script.replace('resolve_nic "$n" "$mac"', 'resolve_nic "$n" ""'))
    conf = tmp_path / "os.conf"
    conf.write_text(VPC)
    proc = subprocess.run([sys.executable, "-m", "workbench", "rehearse", str(bootable), "--os-conf", str(conf),
                           "--script", str(old), "--first-boot-only", "--format", "json"], capture_output=True,
                          text=True, timeout=1200)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1, doc["console_tail"]
    assert doc["matches_simulation"] and doc["parser_finished"]  # it did what it was written to do
    assert doc["network_matches"] is False
    assert doc["network_mismatches"][0].startswith("eth0 (MAC 00:8c:fa:5e:14:23), called ens5 in the guest: it is ")
    assert "it does not have 10.171.254.123/24" in doc["network_mismatches"][0]
    assert any(m.startswith("the default route does not go via 10.171.254.1 on ens5") for m in doc["network_mismatches"])


def test_an_initramfs_without_virtio_fails_with_the_sentence_that_names_the_driver(with_bootloader, tmp_path):
    from tests.fixtures import debian_variants
    from tests.fixtures.images import CACHE

    broken = debian_variants.variant(CACHE, "no-virtio")
    conf = tmp_path / "os.conf"
    conf.write_text(VPC)
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "workbench", "rehearse", str(broken), "--os-conf", str(conf)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 1, proc.stderr
    why = next(line for line in proc.stdout.splitlines() if line.startswith("why: "))
    assert why.startswith("why: the root device never appeared (") and why.endswith(
        "the initramfs lacks virtio_blk, virtio_pci (see boot.initramfs-drivers).")
    assert "live network does NOT match the os.conf" in proc.stdout
    assert "the live network was not observed: the root device never appeared" in proc.stdout
    assert time.monotonic() - t < 300  # stopped once the initramfs gave up, not at the 600 s timeout


def test_classic_rehearsal_by_the_images_own_bootloader(with_bootloader, monkeypatch):
    launches = []
    real_launch = session.launch
    monkeypatch.setattr(session, "launch", lambda *a, **k: launches.append(1) or real_launch(*a, **k))
    lines: list[str] = []
    result = rehearse(str(with_bootloader), RehearsalRequest(CLASSIC, later=()), RehearsalHooks(console=lines.append))
    # one appliance installs the parser and, after the boot on the same NBD-served disk, reads the result back
    assert len(launches) == 1
    assert result.boot == "bootloader" and any("/boot/extlinux.conf" in n for n in result.notes)
    # the kernel got the command line of the image's extlinux.conf, not the workbench's direct-boot one
    cmdline = next(line for line in lines if "Command line:" in line)
    assert "console=tty0 console=ttyS0,115200 net.ifnames=0" in cmdline and "panic=-1" not in cmdline
    assert result.matches_simulation, result.mismatches
    assert result.network_matches, result.network_mismatches  # eth0 and eth1 by the kernel's names here
    assert "renamed" not in result.parser_log
    assert result.exit_code == 0 and result.hostname_seen == "iZ23r29djmjZ"
    interfaces = next(c for c in result.real.changes if c.path == "/etc/network/interfaces.d/os-conf").after
    assert "iface eth1 inet static" in interfaces and "up ip route replace 10.0.0.0/8 via 10.171.254.1 dev eth0" \
        in interfaces


async def test_rehearsal_from_the_simulation_screen(bootable):
    """ctrl+b on the simulation screen: the console pane follows the boot, then the comparison and v."""
    from screens.simulation import SimulationScreen
    from tests.tui.helpers import static_text, table_rows, until
    from screens.app import make_app
    from workbench.image.preflight import preflight

    app = make_app(str(bootable), preflight(str(bootable)), options=ReviewOptions(later=()))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state.changeset is not None, "the simulation")
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, SimulationScreen)
        assert not screen.check_action("toggle_view", ())  # nothing booted yet: v is hidden
        simulated = {row[1] for row in table_rows(screen, "#sim-changes")}
        await pilot.press("ctrl+b")
        for _ in range(3000):  # not settle(): that would wait for the whole boot
            await pilot.pause(0.2)
            if app.ui.console_lines or app.state.rehearsal is not None:
                break
        assert "rehearsal:" in static_text(screen, "#sim-status")
        assert screen.query_one("#sim-log").border_title == "Console (rehearsal boot)"
        await until(pilot, lambda: app.state.rehearsal is not None or app.state.rehearsal_error is not None, "the rehearsal",
                    rounds=6000)
        assert app.state.rehearsal_error is None
        status = static_text(screen, "#sim-status")
        assert "rehearsal: matches the simulation · network as the os.conf says" in status
        reh = app.state.rehearsal  # VPC on a virtio disk: the NIC was ens5, found by its MAC, renamed, and up
        assert "eth0: the NIC with MAC 00:8c:fa:5e:14:23 is ens5" in reh.parser_log and reh.disk == "virtio"
        assert reh.live.by_mac("00:8c:fa:5e:14:23").addresses == ["10.171.254.123/24"]
        assert "host name iZ23r29djmjZ" in status
        assert screen.query_one("#sim-log").border_title == "Rehearsal compared with the simulation"
        pane = static_text(screen, "#sim-log")
        assert "✔ every file changed as simulated" in pane and "live network matches the os.conf" in pane
        row = next(ln for ln in pane.splitlines() if ln.startswith("✔ eth0 (MAC 00:8c:fa:5e:14:23)"))
        assert "up with 10.171.254.123/24" in row and "eth0: up, 10.171.254.123/24" in row  # intent beside live
        assert screen.check_action("toggle_view", ())
        assert screen.show_rehearsal and "showing the booted changes" in status  # the comparison comes first
        booted = {row[1] for row in table_rows(screen, "#sim-changes")}
        assert "/etc/hostname" in booted and "/etc/hostname" in simulated
        assert booted == {c.path + ("/" if c.kind == "dir" else "") for c in app.state.rehearsal.real.changes}
        await pilot.press("v")
        await pilot.pause()
        assert {row[1] for row in table_rows(screen, "#sim-changes")} == simulated
        assert screen.query_one("#sim-log").border_title == "Parser log"
        assert "v shows the booted changes" in static_text(screen, "#sim-status")


def _ours(directory) -> list[str]:
    """The programs whose command line names DIRECTORY (the rehearsal's qemu, qemu-nbd, and the appliance)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if str(directory).encode() in cmd:
            found.append(os.path.basename(cmd.split(b"\0")[0].decode()))
    return found


async def _while_booting(pilot, test, what: str, seconds: float = 600) -> None:
    """Pause until test() holds; not settle(), which would wait for the rehearsal's worker to end."""
    for _ in range(int(seconds / 0.2)):
        await pilot.pause(0.2)
        if test():
            return
    raise AssertionError(f"timed out waiting for {what}")


async def test_stopping_or_quitting_during_a_rehearsal_kills_the_guest(bootable, tmp_path, monkeypatch):
    """ctrl+x during the boot, and quitting the app during the next one: the guest, the NBD server and the appliance
    are gone soon after, and so is the throwaway overlay."""
    from screens.simulation import SimulationScreen
    from tests.tui.helpers import static_text, until
    from screens.app import make_app
    from screens.messages import ConsoleLine, RehearsalProgress
    from workbench.image.preflight import preflight

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the rehearsal's directory, to find its processes
    app = make_app(str(bootable), preflight(str(bootable)), options=ReviewOptions(later=()))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state.changeset is not None, "the simulation")
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, SimulationScreen) and not app.check_action("stop_rehearsal", ())
        await pilot.press("ctrl+b")
        await _while_booting(pilot, lambda: app.ui.console_lines, "the guest's console")
        assert {"qemu-system-x86_64", "qemu-nbd"} <= set(_ours(tmp_path)) and app.check_action("stop_rehearsal", ())
        await pilot.press("ctrl+x")
        await _while_booting(pilot, lambda: not _ours(tmp_path) and not list(tmp_path.glob("wb-rehearse-*")),
                             "the rehearsal's processes and files to go", seconds=20)
        await pilot.pause()
        assert "rehearsal: stopped" in static_text(screen, "#sim-status") and app.state.rehearsal is None
        assert app.screen is screen  # a notice, not an error modal

        await pilot.press("ctrl+b")
        await _while_booting(pilot, lambda: app.ui.console_lines, "the second boot's console")
        assert "qemu-system-x86_64" in _ours(tmp_path)
    deadline = time.monotonic() + 20  # the app has quit; its worker sees the cancel within a second
    while (_ours(tmp_path) or list(tmp_path.glob("wb-rehearse-*"))) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert _ours(tmp_path) == [] and list(tmp_path.glob("wb-rehearse-*")) == []
    # a console line or progress the worker posted just before the cancel may arrive after the screens are gone
    app.on_console_line(ConsoleLine("late"))
    app.on_rehearsal_progress(RehearsalProgress("late"))


def test_a_boot_that_fails_still_reports_what_it_saw(bootable, tmp_path):
    """A kernel qemu cannot start: the rehearsal prints its JSON (booted false, the stage, the console tail), exit 1."""
    import shutil

    from workbench.image.preflight import preflight
    from workbench.image.session import GuestSession

    image = tmp_path / "broken.qcow2"
    shutil.copyfile(bootable, image)
    with GuestSession(preflight(str(image)), writable_path=str(image)) as s:
        s.open(pull="none")
        for kernel in s.glob("/boot/vmlinuz-*"):
            s.write_file(kernel, b"not a kernel\n" * 100)
        s.unmount_all()
        s.sync()
    conf = tmp_path / "os.conf"
    conf.write_text(VPC)
    proc = subprocess.run([sys.executable, "-m", "workbench", "rehearse", str(image), "--os-conf", str(conf),
                           "--boot", "kernel", "--first-boot-only", "--format", "json"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["booted"] is False and doc["stage"] == "firmware" and doc["console_tail"]
    assert any("could not boot" in n for n in doc["notes"])
    assert doc["failure"].startswith("qemu could not start the image at all") and doc["network_matches"] is False
    assert not doc["parser_finished"]
