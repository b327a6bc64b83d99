#!/sbin/openrc-run
# os-conf: apply the cloud's os.conf (password, network, hostname, DNS) at boot.
# Reads aliyun_custom_image/os.conf from the first partition, applies it before networking
# starts, and removes it once every step has succeeded.
