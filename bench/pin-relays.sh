#!/usr/bin/env bash
# Diagnostic for bench/README.md (issue 16, session 9), not part of a measurement: run beside a fanout command.
# Diagnostic only: while a fanout run goes, keep the relays (gateway, gst-relay.py) on CPU 0 and every ffmpeg reader on CPU 1.
while true; do
  for p in $(pgrep -x hikshare-gatewa) $(pgrep -f gst-relay.py); do taskset -a -p -c 0 $p > /dev/null 2>&1; done
  for p in $(pgrep -x ffmpeg); do taskset -a -p -c 1 $p > /dev/null 2>&1; done
  sleep 0.2
done
