#!/bin/sh
# notify_up/notify_down/quorum_up/quorum_down of the scenario: one line per call.
echo "$*" >> /tmp/lvsd-test-notify.log
