#!/bin/busybox sh
# Out of service: a 554 banner.
printf '554 no service\r\n'
read -r l
