"""qemu's monitor (QMP) on its Unix socket: commands to a running guest (the ACPI power button, SysRq keys) and its
run state. Nothing read from the socket is trusted further than a status word."""

from __future__ import annotations

import json
import socket
import time


def qmp(sock_path: str, *commands: dict) -> None:
    """Send the commands, each after the one before was answered and half a second has passed (a SysRq key
    sequence is handled in order)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(sock_path)
        s.recv(65536)
        for cmd in ({"execute": "qmp_capabilities"}, *commands):
            s.sendall(json.dumps(cmd).encode() + b"\n")
            s.recv(65536)
            time.sleep(0.5)


def vm_status(sock_path: str) -> str | None:
    """qemu's run state ("running", "io-error", "paused", ...) from its monitor, or None when it does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sock_path)
            f = s.makefile("rwb")
            f.readline()  # the greeting
            for cmd in ({"execute": "qmp_capabilities"}, {"execute": "query-status"}):
                f.write(json.dumps(cmd).encode() + b"\n")
                f.flush()
                while True:  # events may come before the answer
                    reply = json.loads(f.readline(65536) or b"{}")
                    if "return" in reply or "error" in reply or not reply:
                        break
            status = reply.get("return", {}).get("status") if isinstance(reply.get("return"), dict) else None
            return status if isinstance(status, str) else None
    except (OSError, ValueError):
        return None


def sysrq(key: str) -> dict:
    return {"execute": "send-key", "arguments": {"keys": [{"type": "qcode", "data": k} for k in ("alt", "sysrq", key)]}}


SYSRQ = ("s", "u", "o")  # sync, remount read-only, power off: no write is lost


def sysrq_power_off(sock_path: str) -> None:
    """The SysRq sync, remount read-only and power-off keys, in order (for a guest that ignores the ACPI button or
    has nothing that acts on it); a monitor that is gone is no error (the guest is then stopped anyway)."""
    try:
        qmp(sock_path, *(sysrq(k) for k in SYSRQ))
    except OSError:
        pass
