# Ubuntu netplan: /etc/netplan/90-os-conf.yaml, read after the image's own files so that its
# settings for eth0/eth1 win; dhcp4 is turned off explicitly.
NET_FILE=/etc/netplan/90-os-conf.yaml
# matched by MAC, and named by set-name: the NIC is renamed now too, so that this boot matches as the next will
NET_BIND=name
NET_PERSIST=netplan

net_begin() {
    mkdir -p /etc/netplan
    printf '# written by os-conf from the cloud'"'"'s os.conf\nnetwork:\n  version: 2\n  ethernets:\n' >"$NET_FILE.os-conf"
}

net_configure() {
    # IFACE IP PREFIX MASK MAC GATEWAY ROUTES DNS
    {
        printf '    %s:\n' "$1"
        if [ -n "$5" ]; then
            printf '      match:\n        macaddress: "%s"\n      set-name: %s\n' "$5" "$1"
        fi
        printf '      dhcp4: false\n      dhcp6: false\n      addresses: [%s/%s]\n' "$2" "$3"
        if [ -n "$6" ] || [ -n "$7" ]; then
            printf '      routes:\n'
            [ -n "$6" ] && printf '        - to: default\n          via: %s\n' "$6"
            printf '%s' "$7" | while read -r dst via; do
                [ -n "$dst" ] && printf '        - to: %s\n          via: %s\n' "$dst" "$via"
            done
        fi
        if [ -n "$8" ]; then
            printf '      nameservers:\n        addresses: [%s]\n' "$(printf '%s' "$8" | sed 's/[[:space:]][[:space:]]*/, /g')"
        fi
    } >>"$NET_FILE.os-conf"
}

net_commit() {
    chmod 600 "$NET_FILE.os-conf" && mv "$NET_FILE.os-conf" "$NET_FILE" || return 1
    # netplan's generator ran before this script: regenerate, so that this boot's networkd or
    # NetworkManager reads the new file
    if command -v netplan >/dev/null 2>&1; then netplan generate || log "netplan generate failed"; fi
    return 0
}

net_restart() {
    netplan apply
}
