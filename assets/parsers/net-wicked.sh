# SUSE wicked: /etc/sysconfig/network/ifcfg-ethN and ifroute-ethN; DNS through netconfig.
NET_DIR=/etc/sysconfig/network
# wicked's ifcfg files are per interface name: the NIC is given its os.conf name (LLADDR would overwrite its MAC)
NET_BIND=name
NET_PERSIST=udev

net_begin() {
    mkdir -p "$NET_DIR"
}

net_configure() {
    # IFACE IP PREFIX MASK MAC GATEWAY ROUTES DNS
    f=$NET_DIR/ifcfg-$1
    {
        echo "# written by os-conf from the cloud's os.conf"
        echo "BOOTPROTO='static'"
        echo "STARTMODE='auto'"
        echo "IPADDR='$2/$3'"
    } >"$f.os-conf" && mv "$f.os-conf" "$f" || return 1
    r=$NET_DIR/ifroute-$1
    {
        [ -n "$6" ] && printf 'default %s - %s\n' "$6" "$1"
        printf '%s' "$7" | while read -r dst via; do
            [ -n "$dst" ] && printf '%s %s - %s\n' "$dst" "$via" "$1"
        done
    } >"$r.os-conf" && mv "$r.os-conf" "$r" || return 1
    if [ -n "$8" ]; then
        [ -f "$NET_DIR/config" ] || : >"$NET_DIR/config"
        set_kv "$NET_DIR/config" NETCONFIG_DNS_STATIC_SERVERS "\"$8\""
    fi
}

net_commit() {
    return 0
}

net_restart() {
    wicked ifreload all
}
