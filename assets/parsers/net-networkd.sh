# systemd-networkd: /etc/systemd/network/10-os-conf-ethN.network, sorted before the image's
# own .network files so that it is the one that matches.
NET_DIR=/etc/systemd/network
# [Match] MACAddress= finds the NIC whatever udev called it
NET_BIND=mac
NET_PERSIST=none

net_begin() {
    mkdir -p "$NET_DIR"
}

net_configure() {
    # IFACE IP PREFIX MASK MAC GATEWAY ROUTES DNS
    f=$NET_DIR/10-os-conf-$1.network
    {
        echo "# written by os-conf from the cloud's os.conf"
        echo "[Match]"
        if [ -n "$5" ]; then echo "MACAddress=$5"; else echo "Name=$1"; fi
        echo
        echo "[Network]"
        echo "Address=$2/$3"
        [ -n "$6" ] && echo "Gateway=$6"
        for d in $8; do echo "DNS=$d"; done
        printf '%s' "$7" | while read -r dst via; do
            [ -n "$dst" ] && printf '\n[Route]\nDestination=%s\nGateway=%s\n' "$dst" "$via"
        done
    } >"$f.os-conf" && mv "$f.os-conf" "$f"
}

net_commit() {
    return 0
}

net_restart() {
    systemctl restart systemd-networkd
}
