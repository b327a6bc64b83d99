RESTART_NETWORK=0
case "$1" in
    start)
        apply
        exit $?
        ;;
    reload | restart | force-reload)
        RESTART_NETWORK=1
        apply
        exit $?
        ;;
    stop)
        exit 0
        ;;
    status)
        if open_first_partition && [ -f "$FIRST_DIR/$CONF_DIR/os.conf" ]; then
            echo "os-conf: an os.conf is waiting to be applied"
        elif [ -f "$STATE_DIR/applied-at" ]; then
            echo "os-conf: last applied $(cat "$STATE_DIR/applied-at")"
        else
            echo "os-conf: no os.conf applied yet"
        fi
        close_first_partition
        exit 0
        ;;
    *)
        echo "Usage: $0 {start|stop|status|reload}" >&2
        exit 2
        ;;
esac
