#!/bin/busybox sh
# /init of an lvsd-vm guest (PID 1). Mounts the basics, loads the modules
# the harness listed, then serves the host's commands on a virtio-serial
# port. Console (ttyS0) gets the kernel's and this script's messages: the log.
#
# Protocol on the port:
#   host:  RUN <id> <nbytes> <timeout_s>\n  then <nbytes> of base64 bash script
#   guest: @@LVSD-VM OUT <id>\n <base64 stdout> @@LVSD-VM ERR <id>\n
#          <base64 stderr> @@LVSD-VM EXIT <id> <status>\n
#   host:  POWEROFF\n
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var /bin /sbin /usr/bin /usr/sbin
/bin/busybox mount -t proc proc /proc
# Applets go to /bin only, never over a file already there (/bin/bash, /bin/sh).
# This busybox prefers its own applets to PATH in its shell, so commands run
# under the host's bash (/bin/sh -> bash), where PATH decides: host programs
# copied to /usr/sbin etc. win over applets of the same name (ip).
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run/netns /run/lvsd-vm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
ln -s /run /var/run
hostname lvsd-vm

failed=""
for m in $(cat /etc/lvsd-vm/modules); do
    insmod "/lib/modules/lvsd-vm/$m.ko" || failed="$failed $m"
done
ip link set lo up

# The command channel: the virtio-serial port the host named lvsd-vm.cmd,
# held open from here on as fd 3.
chan=""
for i in $(seq 100); do
    for p in /sys/class/virtio-ports/*; do
        [ "$(cat "$p/name" 2>/dev/null)" = lvsd-vm.cmd ] && [ -e "/dev/${p##*/}" ] && chan=/dev/${p##*/}
    done
    [ -n "$chan" ] && break
    sleep 0.05
done
[ -n "$chan" ] || { echo "lvsd-vm: no virtio port lvsd-vm.cmd (modules failed:${failed:- none})"; ls /sys/class/virtio-ports /sys/bus/virtio/devices; cat /sys/bus/pci/devices/*/vendor; dmesg | tail -20; poweroff -f; }
exec 3<> "$chan"
echo "lvsd-vm: ready, modules failed:${failed:- none}"
echo "@@LVSD-VM READY${failed:+ FAILED$failed}" >&3

while read -r verb id n t <&3; do
    case "$verb" in
    RUN)
        d=/run/lvsd-vm/$id
        mkdir -p "$d"
        head -c "$n" <&3 | base64 -d > "$d/script"
        (cd / && timeout -s KILL "$t" /bin/bash "$d/script" < /dev/null > "$d/out" 2> "$d/err" 3>&-)
        rc=$?
        {
            echo "@@LVSD-VM OUT $id"
            base64 "$d/out"
            echo "@@LVSD-VM ERR $id"
            base64 "$d/err"
            echo "@@LVSD-VM EXIT $id $rc"
        } >&3
        rm -rf "$d"
        ;;
    POWEROFF)
        sync
        poweroff -f
        ;;
    esac
done
echo "lvsd-vm: command channel closed"
poweroff -f
