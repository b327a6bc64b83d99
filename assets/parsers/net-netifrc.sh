# OpenRC netifrc (Gentoo, Alpine with netifrc): a managed block in /etc/conf.d/net and a
# net.ethN service linked to net.lo in the default runlevel.
NET_FILE=/etc/conf.d/net
# netifrc knows interfaces by name only: the NIC is given its os.conf name (and keeps its own MAC)
NET_BIND=name
NET_PERSIST=udev

net_begin() {
    mkdir -p /etc/conf.d
    [ -f "$NET_FILE" ] || : >"$NET_FILE"
    sed '/^# os-conf begin$/,/^# os-conf end$/d' "$NET_FILE" >"$NET_FILE.os-conf" || return 1
    printf '# os-conf begin\n' >>"$NET_FILE.os-conf"
    NET_IFACES=''
}

net_configure() {
    # IFACE IP PREFIX MASK MAC GATEWAY ROUTES DNS
    NET_IFACES="$NET_IFACES $1"
    {
        printf 'config_%s="%s/%s"\n' "$1" "$2" "$3"
        printf 'routes_%s="' "$1"
        sep=''
        if [ -n "$6" ]; then
            printf 'default via %s' "$6"
            sep='
'
        fi
        printf '%s' "$7" | while read -r dst via; do
            [ -n "$dst" ] && printf '%s%s via %s' "$sep" "$dst" "$via" && sep='
'
        done
        printf '"\n'
        if [ -n "$8" ]; then printf 'dns_servers_%s="%s"\n' "$1" "$8"; fi
    } >>"$NET_FILE.os-conf"
}

net_commit() {
    printf '# os-conf end\n' >>"$NET_FILE.os-conf"
    mv "$NET_FILE.os-conf" "$NET_FILE" || return 1
    for i in $NET_IFACES; do
        [ -e "/etc/init.d/net.$i" ] || ln -s net.lo "/etc/init.d/net.$i"
        mkdir -p /etc/runlevels/default
        [ -e "/etc/runlevels/default/net.$i" ] || ln -s "/etc/init.d/net.$i" "/etc/runlevels/default/net.$i"
    done
}

net_restart() {
    for i in $NET_IFACES; do rc-service "net.$i" restart; done
}
