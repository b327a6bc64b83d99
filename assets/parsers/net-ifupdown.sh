# Debian/Ubuntu ifupdown (and Alpine's ifupdown-ng): one stanza per interface in
# /etc/network/interfaces.d/os-conf; the interfaces' own stanzas in /etc/network/interfaces
# are commented out so that only ours configures them.
NET_FILE=/etc/network/interfaces.d/os-conf
# ifupdown knows interfaces by name only: the NIC is given its os.conf name (and keeps its own MAC)
NET_BIND=name
NET_PERSIST=udev

net_begin() {
    mkdir -p /etc/network/interfaces.d
    printf '# written by os-conf from the cloud'"'"'s os.conf\n' >"$NET_FILE.os-conf"
    NET_IFACES=''
    NET_OLD=''
}

net_configure() {
    # IFACE IP PREFIX MASK MAC GATEWAY ROUTES DNS DEVICE (the name the NIC had: its stanzas go too)
    NET_IFACES="$NET_IFACES $1"
    [ -n "$9" ] && [ "$9" != "$1" ] && NET_OLD="$NET_OLD $9"
    {
        # address and netmask apart: busybox's ifup takes no prefix length on address (ifupdown takes both)
        printf '\nauto %s\niface %s inet static\n    address %s\n    netmask %s\n' "$1" "$1" "$2" "$4"
        [ -n "$6" ] && printf '    gateway %s\n' "$6"
        [ -n "$8" ] && printf '    dns-nameservers %s\n' "$8"
        printf '%s' "$7" | while read -r dst via; do
            [ -n "$dst" ] && printf '    up ip route replace %s via %s dev %s\n' "$dst" "$via" "$1"
        done
    } >>"$NET_FILE.os-conf"
}

# comment_out FILE IFACE: the image's own "auto IFACE", "allow-hotplug IFACE" and "iface IFACE"
# stanza (e.g. dhcp) would fight ours, so they become comments.
comment_out() {
    target=$2
    skip=0
    while IFS= read -r line || [ -n "$line" ]; do
        set -f
        # shellcheck disable=SC2086
        set -- $line
        set +f
        case "$1" in
            iface) if [ "$2" = "$target" ]; then skip=1; else skip=0; fi ;;
            auto | allow-* | mapping | source | source-directory) skip=0 ;;
        esac
        if [ "$skip" = 1 ] || { [ $# -eq 2 ] && [ "$2" = "$target" ] && case "$1" in auto | allow-hotplug) true ;; *) false ;; esac; }; then
            printf '# os-conf: %s\n' "$line"
        else
            printf '%s\n' "$line"
        fi
    done
}

net_commit() {
    mv "$NET_FILE.os-conf" "$NET_FILE" || return 1
    main=/etc/network/interfaces
    [ -f "$main" ] || printf 'auto lo\niface lo inet loopback\n' >"$main"
    for i in $NET_IFACES $NET_OLD; do
        comment_out "$main" "$i" <"$main" >"$main.os-conf" && mv "$main.os-conf" "$main" || return 1
    done
    # sourced by its name: busybox's ifup expands no glob in source (a line that already reads the directory,
    # or the file, is enough for ifupdown: naming it again would define its stanzas twice)
    grep -q '^[[:space:]]*source[a-z-]*[[:space:]][[:space:]]*/etc/network/interfaces.d' "$main" ||
        printf '\nsource %s\n' "$NET_FILE" >>"$main"
}

net_restart() {
    for i in $NET_IFACES; do
        ifdown "$i" 2>/dev/null
        ifup "$i"
    done
}
