#!/bin/busybox sh
# An MTA that takes any mail: every line it reads is appended, as received
# (CRs shown as \r), to a file of its own under /run/smtp-alert/ (one per
# connection: busybox nc -ll runs this script for each).
log=/run/smtp-alert/mail.$$.log
say() { printf '%s\r\n' "$1"; echo "S: $1" >> $log; }
echo "CONNECT" >> $log
say "220 sink ESMTP"
data=0
while IFS= read -r line; do
    echo "C: $(printf '%s' "$line" | sed 's/\r$/\\r/')" >> $log
    if [ $data = 1 ]; then
        case "$line" in
            .|.$'\r') data=0; say "250 queued" ;;
        esac
        continue
    fi
    case "$line" in
        [Hh][Ee][Ll][Oo]*|[Ee][Hh][Ll][Oo]*) say "250 sink" ;;
        [Mm][Aa][Ii][Ll]*) say "250 ok" ;;
        [Rr][Cc][Pp][Tt]*) say "250 ok" ;;
        [Dd][Aa][Tt][Aa]*) data=1; say "354 go ahead" ;;
        [Qq][Uu][Ii][Tt]*) say "221 bye"; echo "CLOSE" >> $log; exit 0 ;;
        *) say "500 what" ;;
    esac
done
echo "EOF" >> $log
