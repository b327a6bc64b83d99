"""The host's ends of a rehearsal's guest: the probe's channel (a Unix socket qemu connects to) and the console, both
bounded however much the guest writes; and the sentence for a boot whose parser never said it was done."""

import json
import os
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from workbench.rehearse import vm
from workbench.rehearse.explain import failure_sentence
from workbench.rehearse.live import MAX_BYTES, parse_probe

TOKEN = "0123456789abcdef0123456789abcdef"


def _pump(channel: vm.Channel, until) -> None:
    for _ in range(200):
        ready, _, _ = select.select(channel.fds(), [], [], 0.2)
        channel.read(ready)
        if until():
            return


def test_the_channel_keeps_one_byte_past_a_report_and_then_hangs_up(tmp_path):
    channel = vm.Channel(str(tmp_path), TOKEN)
    assert "name=org.workbench.probe" in channel.args()[-1] and channel.path in channel.args()[3]
    qemu = socket.socket(socket.AF_UNIX)
    qemu.connect(channel.path)
    _pump(channel, lambda: channel.conn is not None)
    report = f"WB-PROBE {TOKEN} begin\nWB-PROBE {TOKEN} sshd yes\n".encode()
    qemu.sendall(report)
    _pump(channel, lambda: len(channel.data) == len(report))
    assert not channel.reported()  # no end line yet
    qemu.sendall(f"WB-PROBE {'f' * 32} end\n".encode())  # another token's end is not this report's
    _pump(channel, lambda: channel.data.endswith(b"end\n"))
    assert not channel.reported()
    qemu.sendall(f"WB-PROBE {TOKEN} end\n".encode())
    _pump(channel, channel.reported)
    assert channel.reported() and parse_probe(channel.data, TOKEN).complete
    try:  # a flood: kept up to one byte past the bound, then the socket is closed
        qemu.sendall(b"x" * (MAX_BYTES * 2))
    except OSError:
        pass
    _pump(channel, lambda: len(channel.data) > MAX_BYTES)
    assert len(channel.data) == MAX_BYTES + 1 and channel.fds() == []
    assert parse_probe(channel.data, TOKEN).refused
    channel.close()
    qemu.close()


def test_the_console_is_bounded_and_keeps_its_beginning():
    seen = []
    console = vm.Console(seen.append)
    assert console.feed(b"\x1b[1mLinux version 6.1\x1b[0m\r\nsecond") == ["Linux version 6.1"]
    assert console.prompt() == "second"
    console.feed(b"x" * (vm.MAX_LINE * 3))  # a line with no end: cut, never held whole
    assert len(console.partial) <= vm.MAX_LINE and all(len(line) <= vm.MAX_LINE for line in console.lines)
    console.feed(b"y\n" * (vm.MAX_CONSOLE_LINES * 2))
    assert len(console.lines) == vm.MAX_CONSOLE_LINES
    assert console.lines[0] == "Linux version 6.1" and console.lines[-1] == "y"
    assert len(seen) > vm.MAX_CONSOLE_LINES  # the live view saw every line


def test_a_parser_that_never_ran_is_named():
    stopped = ["INIT: Entering runlevel: 2", "(workbench: the system is up (a login prompt, or the probe's report, "
               "which runs after the parser) and the parser did not say it was done; the VM is shut down)"]
    assert failure_sentence(stopped, "init", True, False, False).startswith("nothing started the parser")
    started = ["os-conf: applying /boot/aliyun_custom_image/os.conf"] + stopped
    assert failure_sentence(started, "parser", True, False, False) == (
        "the parser started but never said it was done (its last line: os-conf: applying "
        "/boot/aliyun_custom_image/os.conf).")


@pytest.mark.boot  # starts qemu (no guest: -machine none), which the fast tier does not
def test_a_guest_stopped_on_an_io_error_is_seen_and_named(tmp_path):
    """A full disk under the overlay stops qemu's guest (werror=enospc) silently: the console just goes quiet. qemu's
    own monitor says so, and the boot is stopped with one sentence instead of waiting for the timeout."""
    sock = str(tmp_path / "qmp.sock")
    qemu = subprocess.Popen(["qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none", "-S",
                             "-qmp", f"unix:{sock},server=on,wait=off"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            status = vm.vm_status(sock)
            if status:
                break
            time.sleep(0.1)
        assert status == "prelaunch"  # the real monitor's answer (-S: not started)
    finally:
        qemu.kill()
        qemu.wait()
    assert vm.vm_status(str(tmp_path / "none.sock")) is None

    def server(status: str) -> str:
        answer = b'{"event": "BLOCK_IO_ERROR", "data": {}}\n{"return": {"status": "%s", "running": false}}\n' % (
            status.encode())
        return _monitor(tmp_path, status, lambda cmd: answer if cmd["execute"] == "query-status" else None)[0]

    state = {"heard": 0.0, "timed_out": False, "fatal_at": None, "powerdown": None, "sysrq": None}
    lines: list[str] = []
    stop = vm._stop_or_escalate(state, 100.0, 0.0, 600, server("io-error"), lines)
    assert stop.startswith("(workbench: the virtual machine stopped on an I/O error")
    assert failure_sentence([stop], "init", True, False, False).startswith(
        "the rehearsal could not go on: the virtual machine stopped on an I/O error writing its throwaway overlay")
    state = {"heard": 0.0, "timed_out": False, "fatal_at": None, "powerdown": None, "sysrq": None}
    assert vm._stop_or_escalate(state, 100.0, 0.0, 600, server("running"), lines) is None


def test_the_guest_s_vcpus_come_from_the_environment_or_the_host(monkeypatch):
    from workbench.errors import UsageError
    from workbench.rehearse import vm

    monkeypatch.delenv(vm.VCPUS_ENV, raising=False)
    assert vm.guest_vcpus() == vm.VCPUS == max(1, min(len(os.sched_getaffinity(0)), 4))
    monkeypatch.setenv(vm.VCPUS_ENV, "1")
    assert vm.guest_vcpus() == 1
    for bad in ("0", "9", "two", "-1", "1.5"):
        monkeypatch.setenv(vm.VCPUS_ENV, bad)
        with pytest.raises(UsageError, match="from 1 to 8"):
            vm.guest_vcpus()


def test_sigterm_the_moment_the_guest_starts_stops_it(tmp_path, monkeypatch):
    """SIGTERM exactly while qemu is being started (a stand-in process here: this test boots nothing): the signal
    waits until the process is known to the boot loop, whose cleanup then stops it; it is never left running."""
    from workbench.interrupt import Terminated, raise_terminated

    started = []
    real = subprocess.Popen

    def start_then_sigterm(cmd, *args, **kwargs):
        proc = real(["sleep", "60"], *args, **kwargs)  # in qemu's place
        started.append(proc)
        os.kill(os.getpid(), signal.SIGTERM)  # delivered at once: before the caller sees proc
        return proc

    monkeypatch.setattr(vm.subprocess, "Popen", start_then_sigterm)
    old = signal.signal(signal.SIGTERM, raise_terminated)  # as the CLI does
    try:
        with pytest.raises(Terminated):
            vm.boot(str(tmp_path), "file=/nonexistent.qcow2", "tcg", [], {}, 60, lambda line: None)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert len(started) == 1 and started[0].poll() is not None


def _monitor(tmp_path, name: str, answer=lambda cmd: None) -> tuple[str, list]:
    """A stand-in QMP socket that records every command before it answers it (answer(cmd): the bytes to answer with,
    None for an empty return), and the list it records them in."""
    got: list = []
    path = str(tmp_path / f"{name}.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        f = conn.makefile("rwb")
        f.write(b'{"QMP": {}}\n')
        f.flush()
        for line in f:
            got.append(json.loads(line))
            f.write(answer(got[-1]) or b'{"return": {}}\n')
            f.flush()
        conn.close()
        srv.close()
    threading.Thread(target=serve, daemon=True).start()
    return path, got


def test_a_guest_with_nothing_on_the_power_button_is_powered_off_by_sysrq_at_once(tmp_path):
    """Once the parser is done and the probe has reported (and the login prompt came): the ACPI button, or, where the
    probe found nothing that acts on it, SysRq sync, remount and power off at once (not QUIET seconds later)."""
    ready = {"done_at": 10.0, "settled_at": None, "powerdown": None, "probed": 11.0, "hostname": "h", "sysrq": None}
    sock, got = _monitor(tmp_path, "none")
    state, lines = {**ready, "no_acpi": True}, []
    vm._shut_down_when_ready(state, 12.0, True, sock, lines)
    keys = [[k["data"] for k in c["arguments"]["keys"]] for c in got if c["execute"] == "send-key"]
    assert keys == [["alt", "sysrq", "s"], ["alt", "sysrq", "u"], ["alt", "sysrq", "o"]]
    assert not any(c["execute"] == "system_powerdown" for c in got)
    assert lines == [vm.NO_HANDLER] and state["sysrq"] == state["powerdown"] == 12.0
    sock, got = _monitor(tmp_path, "logind")
    state, lines = {**ready, "no_acpi": False}, []
    vm._shut_down_when_ready(state, 12.0, True, sock, lines)
    assert [c["execute"] for c in got] == ["qmp_capabilities", "system_powerdown"]
    assert lines == [] and state["powerdown"] == 12.0 and state["sysrq"] is None
    # not yet: the probe reported but neither the login prompt nor 10 s came; nothing is sent
    state, lines = {**ready, "hostname": None, "no_acpi": True}, []
    vm._shut_down_when_ready(state, 12.0, True, str(tmp_path / "absent.sock"), lines)
    assert state["powerdown"] is None and lines == []
