#!/bin/sh
# Idempotent set-up for `make run` and `make test` on Debian or Ubuntu:
# system packages, a readable kernel for the libguestfs appliance, and the venv.
# Each step checks first, so a second run is a fast no-op.
set -eu
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        say "not root and no sudo: install the packages listed in scripts/bootstrap.sh by hand"; fi
fi

# --- system packages -------------------------------------------------------
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    say "this set-up supports Debian and Ubuntu (apt); on other systems install libguestfs," \
        "its Python bindings, qemu-img, bubblewrap, e2fsprogs, dosfstools, mtools, xfsprogs," \
        "gdisk and fdisk, then run: python3 -m venv --system-site-packages .venv && .venv/bin/pip install -e '.[test]'"
    exit 1
fi

distro=$(. /etc/os-release 2>/dev/null && echo "${ID:-debian}")
arch=$(dpkg --print-architecture)
case "$distro" in
    ubuntu) kernel_pkg=linux-image-virtual ;;
    *) kernel_pkg=linux-image-$arch ;;
esac

PACKAGES="libguestfs-tools libguestfs-xfs python3-guestfs $kernel_pkg qemu-utils qemu-system-x86 \
bubblewrap e2fsprogs fdisk gdisk dosfstools mtools xfsprogs python3-venv \
openssh-client busybox rpm db5.3-util shellcheck chromium debootstrap extlinux tmux ovmf \
openssh-server systemd util-linux dpkg"
# The real consumers the differential tests compare our readers with: sshd -T and ssh-keygen (openssh),
# systemctl --root (systemd), findmnt --tab-file (util-linux), dpkg-query --admindir (dpkg); glibc is in libc6.

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
if [ -n "$missing" ]; then
    say "installing system packages:$missing"
    case " $missing " in *" openssh-server "*)
        # openssh-server is here for `sshd -T` only: it must never run as a daemon on a test machine. The file
        # sshd_not_to_be_run stops Debian's unit and init script from starting it, now and after a reboot;
        # a policy-rc.d (only if the machine has none) keeps the package's scripts from starting it now.
        say "openssh-server is installed for the tests' sshd -T only: /etc/ssh/sshd_not_to_be_run keeps it from running"
        $SUDO mkdir -p /etc/ssh && $SUDO touch /etc/ssh/sshd_not_to_be_run
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
            $SUDO chmod 755 /usr/sbin/policy-rc.d
            policy_added=yes
        fi ;;
    esac
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    if [ "${policy_added:-}" = yes ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

# --- a kernel the appliance can read ------------------------------------------
# supermin builds the appliance from the host kernel; Ubuntu installs
# /boot/vmlinuz-* with mode 0600, which an unprivileged libguestfs cannot read.
readable=""
for k in /boot/vmlinuz-*; do
    [ -e "$k" ] || continue
    if [ -r "$k" ] && [ "$(stat -c %a "$k")" != "600" ]; then readable=yes; fi
done
if [ -z "$readable" ]; then
    if ls /boot/vmlinuz-* >/dev/null 2>&1; then
        say "the kernel in /boot is readable by root only (Ubuntu does this); libguestfs needs to read it."
        say "making it world-readable: $SUDO chmod 0644 /boot/vmlinuz-*"
        say "(to keep it so across kernel updates: sudo dpkg-statoverride --update --add root root 0644 /boot/vmlinuz-\$(uname -r))"
        $SUDO chmod 0644 /boot/vmlinuz-*
    else
        say "no kernel in /boot: install $kernel_pkg (the libguestfs appliance boots it)"
        exit 1
    fi
fi

# --- the venv -------------------------------------------------------------------
# guestfs bindings are not on PyPI: build the venv from the system python3
# so that it sees python3-guestfs.
if [ ! -x .venv/bin/python ]; then
    say "creating .venv from /usr/bin/python3 (with system site packages, for guestfs)"
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.workbench-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing workbench into .venv (pip install -e '.[test]')"
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
    echo "$want" > "$stamp"
fi
.venv/bin/python -c 'import guestfs' 2>/dev/null || {
    say ".venv cannot import guestfs: is python3-guestfs installed for /usr/bin/python3?"; exit 1; }

# --- the published SARIF 2.1.0 schema, for the tests (fetched once, never at test time) -------------------
if [ ! -f .cache/schemas/sarif-2.1.0.json ]; then
    say "fetching the SARIF 2.1.0 schema into .cache/schemas (for the tests)"
    .venv/bin/python scripts/fetch_sarif_schema.py || say "the SARIF schema could not be fetched; its test will say so"
fi
