"""The debootstrapped Debian 12 images the appliance tests boot and check (built once per machine: see
tests/fixtures/cache.py)."""

import pytest

from tests.fixtures import debian_boot


@pytest.fixture(scope="session")
def bootable():
    """Debian 12 with a kernel and initramfs, no bootloader (rehearsed by a direct kernel boot)."""
    why = debian_boot.unavailable()
    if why:
        pytest.skip(f"the bootable Debian image cannot be built here: {why}")
    return debian_boot.image()


@pytest.fixture(scope="session")
def with_bootloader(bootable):
    """The same with extlinux in its MBR and /boot (rehearsed by its own bootloader)."""
    why = debian_boot.bootloader_unavailable()
    if why:
        pytest.skip(f"the Debian image with a bootloader cannot be built here: {why}")
    return debian_boot.with_bootloader()
