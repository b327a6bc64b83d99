"""The workbench in a real terminal (tmux): 16-colour and true-colour terminals get the escape codes they support."""

import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.appliance  # the real CLI in tmux starts the appliance (the first two leave before it is up)
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _colour_codes(screen: str) -> tuple[set[int], bool]:
    """(the plain colour codes used, whether any 256-colour or 24-bit colour appears)."""
    plain: set[int] = set()
    extended = False
    for params in SGR.findall(screen):
        codes = [int(c) for c in params.split(";") if c]
        i = 0
        while i < len(codes):
            if codes[i] in (38, 48, 58):
                extended = True
                i += 5 if i + 1 < len(codes) and codes[i + 1] == 2 else 3
                continue
            if 30 <= codes[i] <= 49 or 90 <= codes[i] <= 107:
                plain.add(codes[i])
            i += 1
    return plain, extended


def _run_in_tmux(image: str, env: dict[str, str]) -> str:
    session = f"wb-{uuid.uuid4().hex[:8]}"
    settings = " ".join(f"{k}={v}" for k, v in env.items())
    cmd = f"env -u COLORTERM {settings} {sys.executable} -m workbench {image}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", cmd], check=True)
    try:
        screen = ""
        for _ in range(100):  # the overview is drawn before the appliance is up
            time.sleep(0.2)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-e", "-t", session], capture_output=True,
                                    text=True).stdout
            if "1 Limits" in screen and "limit.virtual-size" in screen:
                break
        return screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@pytest.fixture(scope="module")
def image(built):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (the bootstrap installs it)")
    return str(built("sample"))


def test_sixteen_colour_terminal(image):
    screen = _run_in_tmux(image, {"TERM": "xterm"})
    assert "1 Limits" in screen and "limit.virtual-size" in screen, screen[-2000:]
    plain, extended = _colour_codes(screen)
    assert not extended, "a 16-colour terminal got 256-colour or true-colour codes"
    assert len(plain) >= 4  # still in colour: status colours and the bar survive the downgrade


def test_true_colour_terminal(image):
    screen = _run_in_tmux(image, {"TERM": "xterm-256color", "COLORTERM": "truecolor"})
    assert "1 Limits" in screen and "limit.virtual-size" in screen, screen[-2000:]
    assert "38;2;" in screen or "48;2;" in screen  # 24-bit colours used when offered


def test_checkboxes_show_their_state_in_characters_with_no_color(image):
    """NO_COLOR: chosen and not chosen still differ, in characters (✔ and ·), not only in colour."""
    session = f"wb-{uuid.uuid4().hex[:8]}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    f"env NO_COLOR=1 TERM=xterm-256color {sys.executable} -m workbench {image}"], check=True)
    try:
        def screen(escapes: bool = False) -> str:
            args = ["tmux", "capture-pane", "-p", "-t", session] + (["-e"] if escapes else [])
            return subprocess.run(args, capture_output=True, text=True).stdout

        for _ in range(300):  # the fixes are listed once the appliance has read the guest
            time.sleep(0.2)
            subprocess.run(["tmux", "send-keys", "-t", session, "2"], capture_output=True)
            if "fix.lock-account" in screen():
                break
        for key in ("f", "Space"):  # as a person types: the focus moves before the toggle
            time.sleep(1)
            subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
        shown = ""
        for _ in range(50):
            time.sleep(0.2)
            shown = screen()
            if "✔ Lock accounts" in shown.replace("▐", "").replace("▌", " "):
                break
        fixes = [line for line in shown.splitlines() if "fix." in line and ("✔" in line or "·" in line)]
        assert any("✔" in line for line in fixes) and any("·" in line for line in fixes), shown
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
