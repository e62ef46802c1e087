#!/bin/busybox sh
# A healthy MTA: banner, 250 to HELO, 221 to QUIT.
printf '220 guest ESMTP\r\n'
read -r l || exit 0
printf '250 guest\r\n'
read -r l || exit 0
printf '221 bye\r\n'
