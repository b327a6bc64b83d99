# NetworkManager keyfiles (RHEL 9, Fedora, ...): one connection profile per interface in
# /etc/NetworkManager/system-connections, mode 0600 as NetworkManager requires.
NET_DIR=/etc/NetworkManager/system-connections
# mac-address= finds the NIC whatever udev called it (no interface-name then)
NET_BIND=mac
NET_PERSIST=none

net_begin() {
    mkdir -p "$NET_DIR"
}

net_configure() {
    # IFACE IP PREFIX MASK MAC GATEWAY ROUTES DNS
    f=$NET_DIR/os-conf-$1.nmconnection
    # a stable connection UUID from the interface name: "os-conf-eth0" in hex, padded
    hex=$(printf 'os-conf-%s' "$1" | od -An -tx1 | tr -d ' \n')000000000000000000000000000000
    uuid=$(printf '%s' "$hex" | cut -c1-8)-$(printf '%s' "$hex" | cut -c9-12)-$(printf '%s' "$hex" | cut -c13-16)
    uuid=$uuid-$(printf '%s' "$hex" | cut -c17-20)-$(printf '%s' "$hex" | cut -c21-32)
    {
        echo "# written by os-conf from the cloud's os.conf"
        echo "[connection]"
        echo "id=os-conf-$1"
        echo "uuid=$uuid"
        echo "type=ethernet"
        [ -z "$5" ] && echo "interface-name=$1"
        echo "autoconnect=true"
        echo "autoconnect-priority=100"
        echo
        echo "[ethernet]"
        [ -n "$5" ] && echo "mac-address=$5"
        echo
        echo "[ipv4]"
        echo "method=manual"
        if [ -n "$6" ]; then echo "address1=$2/$3,$6"; else echo "address1=$2/$3"; echo "never-default=true"; fi
        n=1
        printf '%s' "$7" | while read -r dst via; do
            [ -n "$dst" ] && echo "route$n=$dst,$via" && n=$((n + 1))
        done
        if [ -n "$8" ]; then
            printf 'dns=%s;\n' "$(printf '%s' "$8" | sed 's/[[:space:]][[:space:]]*/;/g')"
            echo "ignore-auto-dns=true"
        fi
        echo
        echo "[ipv6]"
        echo "method=ignore"
    } >"$f.os-conf" && chmod 600 "$f.os-conf" && mv "$f.os-conf" "$f"
}

net_commit() {
    return 0
}

net_restart() {
    nmcli connection reload && nmcli connection up "os-conf-eth0"
}
