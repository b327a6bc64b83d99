# RHEL/CentOS network-scripts: ifcfg-ethN, route-ethN and GATEWAY in /etc/sysconfig/network.
# NetworkManager on RHEL 8 reads the same ifcfg files (ifcfg-rh plugin).
NET_DIR=/etc/sysconfig/network-scripts
# ifcfg files are per device name, with HWADDR= to match: the NIC is given its os.conf name now and by a
# udev rule (as the distribution's own rename does from HWADDR)
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
        echo "DEVICE=$1"
        echo "NAME=$1"
        echo "TYPE=Ethernet"
        echo "BOOTPROTO=none"
        echo "ONBOOT=yes"
        echo "IPADDR=$2"
        echo "PREFIX=$3"
        echo "NETMASK=$4"
        [ -n "$5" ] && echo "HWADDR=$5"
        if [ -n "$6" ]; then
            echo "GATEWAY=$6"
            echo "DEFROUTE=yes"
        else
            echo "DEFROUTE=no"
        fi
        n=1
        for d in $8; do
            echo "DNS$n=$d"
            n=$((n + 1))
        done
    } >"$f.os-conf" && mv "$f.os-conf" "$f" || return 1
    r=$NET_DIR/route-$1
    if [ -n "$7" ]; then
        printf '%s' "$7" | while read -r dst via; do
            [ -n "$dst" ] && printf '%s via %s dev %s\n' "$dst" "$via" "$1"
        done >"$r.os-conf" && mv "$r.os-conf" "$r" || return 1
    else
        rm -f "$r"
    fi
    if [ -n "$6" ]; then
        [ -f /etc/sysconfig/network ] || echo "NETWORKING=yes" >/etc/sysconfig/network
        set_kv /etc/sysconfig/network GATEWAY "$6"
        set_kv /etc/sysconfig/network GATEWAYDEV "$1"
    fi
}

net_commit() {
    return 0
}

net_restart() {
    if command -v nmcli >/dev/null 2>&1 && nmcli -t general status >/dev/null 2>&1; then
        nmcli connection reload && nmcli networking off && nmcli networking on
    elif [ -x /etc/init.d/network ]; then
        /etc/init.d/network restart
    else
        systemctl restart network
    fi
}
