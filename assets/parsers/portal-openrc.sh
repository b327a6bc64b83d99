# openrc-run calls these; RESTART_NETWORK stays 0 at boot (the network is not up yet)
RESTART_NETWORK=0
# shellcheck disable=SC2034  # read by openrc-run
description="Apply the cloud's os.conf from the first partition"
# shellcheck disable=SC2034
extra_commands="reload"

depend() {
@@DEPEND@@
}

start() {
    ebegin "Applying os.conf"
    apply
    eend $?
}

stop() {
    return 0
}

reload() {
    RESTART_NETWORK=1
    apply
}
