"""Real boots: a debootstrapped Debian 12 (systemd, udev, ifupdown, openssh-server) rehearsed with VPC and
classic os.conf; the real changes must match the simulation and the guest must come up with the host name."""

import json
import subprocess
import sys

import pytest

from tests.conftest import sha256
from tests.fixtures import debian_boot
from tests.fixtures.images import CACHE
from tests.unit.sim_helpers import CLASSIC, VPC
from workbench.rehearse import rehearse

pytestmark = pytest.mark.appliance


@pytest.fixture(scope="module")
def bootable():
    why = debian_boot.unavailable()
    if why:
        pytest.skip(f"the bootable Debian image cannot be built here: {why}")
    CACHE.mkdir(parents=True, exist_ok=True)
    return debian_boot.image(CACHE)


def test_vpc_rehearsal_by_the_cli(bootable, tmp_path):
    before = sha256(bootable)
    conf = tmp_path / "os.conf"
    conf.write_text(VPC)
    proc = subprocess.run([sys.executable, "-m", "workbench", "rehearse", str(bootable), "--os-conf", str(conf),
                           "--format", "json"], capture_output=True, text=True, timeout=1200)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, (doc["mismatches"], doc["console_tail"])
    assert doc["schema"] == "workbench.rehearse/1" and doc["matches_simulation"] and doc["mismatches"] == []
    assert doc["os_conf_removed"] and doc["parser_finished"]
    assert doc["hostname_seen"] == "iZ23r29djmjZ"  # the guest came up with the configured host name
    real = {c["path"]: c for c in doc["real"]["changes"]}
    assert real["/etc/hostname"]["after"] == "iZ23r29djmjZ\n"
    assert "gateway 10.171.254.1" in real["/etc/network/interfaces.d/os-conf"]["after"]
    assert set(real) >= {c["path"] for c in doc["simulation"]["changes"] if c["after"] is not None
                         and not c["path"].startswith(("/var/lib/os-conf",)) and "ssh_host" not in c["path"]}
    assert "done; os.conf removed" in doc["parser_log"]
    assert sha256(bootable) == before  # the image itself is never written


def test_classic_rehearsal(bootable):
    result = rehearse(str(bootable), CLASSIC)
    assert result.matches_simulation, result.mismatches
    assert result.exit_code == 0 and result.hostname_seen == "iZ23r29djmjZ"
    interfaces = next(c for c in result.real.changes if c.path == "/etc/network/interfaces.d/os-conf").after
    assert "iface eth1 inet static" in interfaces and "up ip route replace 10.0.0.0/8 via 10.171.254.1 dev eth0" \
        in interfaces
