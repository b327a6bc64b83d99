#!/bin/sh
# workbench rehearsal probe. It exists only in the throwaway overlay of a boot rehearsal (never in an image
# that is injected or exported): after the network is up, it writes the live network state to a channel of
# its own (the virtio-serial port @@CHANNEL@@: no console, nothing of the image's own writes there), one
# "WB-PROBE" line per fact, each with this rehearsal's token, for the rehearsal to compare with the os.conf.
# The console is the image's: what is printed there is never read as the report.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
TOKEN=@@TOKEN@@
read -r started _ </proc/uptime

channel() {
    for p in /sys/class/virtio-ports/*; do
        [ "$(cat "$p/name" 2>/dev/null)" = @@CHANNEL@@ ] && [ -c "/dev/${p##*/}" ] && echo "/dev/${p##*/}" && return 0
    done
    return 1
}

listening() {
    # sshd (or anything) listening on TCP port 22: state 0A (LISTEN) in /proc/net/tcp or tcp6
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        while read -r _sl local _rem st _rest; do
            case "$local:$st" in *:0016:0A) return 0 ;; esac
        done <"$f"
    done
    return 1
}

power_handler() {
    # what would act on the ACPI power button the rehearsal presses to shut the guest down: logind, elogind or acpid
    # running (systemd alone does nothing with it); "none", and the rehearsal syncs and powers off by SysRq at once
    for c in /proc/[0-9]*/comm; do
        { read -r n <"$c"; } 2>/dev/null || continue
        case "$n" in systemd-logind|elogind|elogind-daemon|acpid) echo "$n"; return 0 ;; esac
    done
    echo none
}

# It runs once the network service has started (not after network-online: a NIC that never comes up would hold
# that back for minutes). sshd and DHCP or NetworkManager may still be coming up: wait up to WAIT seconds for sshd
# to listen, then up to 20 more for a default route.
WAIT=@@WAIT@@
i=0
heard=0
while [ "$i" -lt "$WAIT" ]; do
    if listening; then
        [ -n "$(ip -4 route show default 2>/dev/null)" ] && break
        heard=$((heard + 1))
        [ "$heard" -ge 20 ] && break
    fi
    sleep 1
    i=$((i + 1))
done

# the port's driver (virtio_console) is loaded by udev where there is one; load it where there is none
out=$(channel) || { modprobe virtio_console 2>/dev/null; sleep 1; out=$(channel); } || {
    echo "wb-rehearsal-probe: its channel (@@CHANNEL@@) was not found; nothing reported" >/dev/console 2>/dev/null
    exit 0
}
{
    echo "WB-PROBE $TOKEN begin"
    for d in /sys/class/net/*; do
        n=${d##*/}
        [ "$n" = lo ] && continue
        addrs=''
        # "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0 ..."
        for a in $(ip -o -4 addr show dev "$n" 2>/dev/null | while read -r _i _n fam cidr _rest; do
            [ "$fam" = inet ] && printf '%s\n' "$cidr"
        done); do
            addrs="$addrs $a"
        done
        echo "WB-PROBE $TOKEN if $n $(cat "$d/address" 2>/dev/null) $(cat "$d/operstate" 2>/dev/null)$addrs"
    done
    ip -4 route show 2>/dev/null | while IFS= read -r r; do echo "WB-PROBE $TOKEN route $r"; done
    ns=''
    if command -v resolvectl >/dev/null 2>&1 && grep -q '^nameserver 127\.0\.0\.53' /etc/resolv.conf 2>/dev/null; then
        ns=$(resolvectl dns 2>/dev/null | sed 's/^[^:]*://' | tr '\n' ' ')
    fi
    [ -n "$ns" ] || ns=$(sed -n 's/^[[:space:]]*nameserver[[:space:]][[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/resolv.conf 2>/dev/null | tr '\n' ' ')
    echo "WB-PROBE $TOKEN dns $ns"
    echo "WB-PROBE $TOKEN hostname $(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
    if listening; then echo "WB-PROBE $TOKEN sshd yes"; else echo "WB-PROBE $TOKEN sshd no"; fi
    echo "WB-PROBE $TOKEN power $(power_handler)"
    read -r now _ </proc/uptime
    echo "WB-PROBE $TOKEN took $started $now $i"
    echo "WB-PROBE $TOKEN end"
} >"$out" 2>/dev/null
echo "wb-rehearsal-probe: reported on its channel" >/dev/console 2>/dev/null
exit 0
