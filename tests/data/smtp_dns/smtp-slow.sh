#!/bin/busybox sh
# A healthy MTA whose banner comes 4 s late.
sleep 4
exec /etc/lvsd-sd/smtp-good.sh
