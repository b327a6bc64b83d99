#!/bin/sh
### BEGIN INIT INFO
# Provides:          os-conf
# Required-Start:    $local_fs
# Required-Stop:     $local_fs
# X-Start-Before:    $network @@BEFORE@@
# Default-Start:     @@DEFAULT_START@@
# Default-Stop:
# Short-Description: Apply the cloud's os.conf (password, network, hostname, DNS) at boot
# Description:       Reads aliyun_custom_image/os.conf from the first partition,
#                    applies it before networking starts, and removes it once
#                    every step has succeeded.
### END INIT INFO
# chkconfig: 2345 05 95
# description: os-conf applies aliyun_custom_image/os.conf from the first partition.
#
