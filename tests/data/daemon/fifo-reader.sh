#!/bin/sh
# lvs_notify_fifo_script of the scenario: what arrives on the FIFO ($1), kept.
exec cat "$1" >> /tmp/lvsd-test-fifo.log
