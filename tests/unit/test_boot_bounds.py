"""The bootloader configurations as bombs: variables that double, lines and nesting without end, numbers that
are not ASCII. Every evaluation stays small and quick, says what it cut, and the boot check then warns
(incomplete) instead of deciding."""

import time

import pytest

from tests.unit.test_boot_checks import context, run
from workbench.image import bootloader as bl

# 24 `set` lines in a few hundred bytes: unbounded, the value would be 2^24 times the first (the 626-byte
# grub.cfg reached 3 GB and a MemoryError)
DOUBLING = "set a=xxxxxxxxxxxxxxxx\n" + "set a=$a$a\n" * 40 + \
           "menuentry 'Debian' {\n  linux /vmlinuz-6.1 root=/dev/vda1 $a $a $a\n  initrd /initrd.img-6.1\n}\n"


def test_a_doubling_variable_is_cut_and_said():
    assert len(DOUBLING) < 700
    t = time.monotonic()
    cfg = bl.parse_grub2(DOUBLING, "/boot/grub/grub.cfg", {}, {})
    assert time.monotonic() - t < 1
    e = cfg.default_entry
    assert e.kernel == "/vmlinuz-6.1" and e.cmdline.startswith("root=/dev/vda1 xxxx")
    assert len(e.cmdline) <= bl.MAX_VALUE
    assert any("expansion grew past" in p for p in cfg.problems), cfg.problems


def test_many_variables_a_long_line_and_deep_nesting_are_cut(monkeypatch):
    many = "".join(f"set v{i}=" + "y" * 900 + "\n" for i in range(2000)) + "menuentry a {\n linux /v\n}\n"
    cfg = bl.parse_grub2(many, "/boot/grub/grub.cfg", {}, {})
    assert cfg.default_entry.kernel == "/v" and any("variables grew past" in p for p in cfg.problems)
    cfg = bl.parse_grub2("set a=" + "z" * (bl.MAX_LINE + 10) + "\nmenuentry a {\n linux /v\n}\n", "/g", {}, {})
    assert any("line over" in p for p in cfg.problems)
    deep = "if true; then {\n" * (bl.MAX_DEPTH + 5) + "menuentry a {\n linux /v\n}\n"
    cfg = bl.parse_grub2(deep, "/g", {}, {})
    assert any("nested deeper" in p for p in cfg.problems)
    monkeypatch.setattr(bl, "MAX_SECONDS", -1.0)
    cfg = bl.parse_grub2(DOUBLING, "/g", {}, {})
    assert any("ran out of its" in p for p in cfg.problems)


def test_a_plain_configuration_has_no_problems():
    from tests.unit.test_boot_checks import GRUB_CFG

    assert bl.parse_grub2(GRUB_CFG, "/boot/grub/grub.cfg", {}, {}).problems == []


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "1" * 5000, "-1", "+1"])
def test_numbers_are_ascii_digits_only(value):
    """menu.lst's default ² (isdigit() is true, int() fails) killed the review; GRUB reads ASCII digits only
    (١ is a digit to Python's int() and \\d, not to GRUB), and 5000 digits are past int()'s limit."""
    leg = bl.parse_grub_legacy(f"default {value}\ntitle A\n kernel /va\ntitle B\n kernel /vb\n", "/boot/grub/menu.lst")
    assert leg.default_entry.title == "A"
    cfg = bl.parse_grub2(f"set default={value}\nmenuentry A {{\n linux /va\n}}\nmenuentry B {{\n linux /vb\n}}\n",
                         "/boot/grub/grub.cfg", {}, {})
    assert cfg.default_entry.title == "A"


def test_the_kernel_check_warns_incomplete_when_the_boot_data_was_cut():
    ctx = context()
    assert run("boot.kernel", ctx).status == "pass"
    ctx.guest.boot.problems.append("/boot/grub/grub.cfg: an expansion grew past 16 KiB and was cut")
    r = run("boot.kernel", ctx)
    assert r.status == "warn" and r.incomplete and "expansion grew past" in " ".join(r.evidence)


def test_an_initramfs_that_was_cut_never_passes():
    """A zero-padding bomb after the modules: the drivers were read, the rest was not; the check says so."""
    from tests.unit.test_boot_checks import kernel

    k = kernel()
    ctx = context(k=k)
    assert run("boot.initramfs-drivers", ctx).status == "pass"
    k.initramfs.problems.append("a run of more than 64 MiB of zero padding; the rest was not read")
    r = run("boot.initramfs-drivers", ctx)
    assert r.status == "warn" and r.incomplete and "what was read has virtio_blk" in r.detail
    k.initramfs.files = [f for f in k.initramfs.files if "nvme" not in f]
    r = run("boot.nvme", ctx)
    assert r.status == "warn" and r.incomplete


def test_slow_lines_meet_the_time_budget_line_by_line(monkeypatch):
    """69 lines of 60 KB take shlex seconds each way: the budget is looked at before every line."""
    monkeypatch.setattr(bl, "MAX_SECONDS", 0.5)
    t = time.monotonic()
    cfg = bl.parse_grub2(('"' + "a " * 30000 + '"\n') * 69, "/boot/grub/grub.cfg", {}, {})
    assert time.monotonic() - t < 2 and any("ran out of its" in p for p in cfg.problems)
