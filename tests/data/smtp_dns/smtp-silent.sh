#!/bin/busybox sh
# Accepts, never says a word.
exec sleep 30
