#!/usr/bin/env bash
# Removes HikShare Gateway installed by scripts/install.sh. Keeps the configuration
# ($SYSCONFDIR) and the state (grants, admin token in /var/lib/hikshare-gateway) unless --purge.
#
# usage: sudo scripts/uninstall.sh [--purge] [--no-systemctl]
# Environment: DESTDIR, PREFIX, SYSCONFDIR, UNITDIR, BINDIR, STATEDIR (as for install.sh).
set -euo pipefail

DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/opt/hikshare-gateway}"
SYSCONFDIR="${SYSCONFDIR:-/etc/hikshare-gateway}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
BINDIR="${BINDIR:-/usr/local/bin}"
STATEDIR="${STATEDIR:-/var/lib/hikshare-gateway}"
purge=0
use_systemctl=1
while [ $# -gt 0 ]; do
  case "$1" in
    --purge) purge=1; shift ;;
    --no-systemctl) use_systemctl=0; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "uninstall: $*"; }
root="$DESTDIR"

if [ -z "$DESTDIR" ] && [ $use_systemctl -eq 1 ] && [ -d /run/systemd/system ]; then
  systemctl disable --now hikshare-gateway.service 2>/dev/null || true
fi
rm -f "$root$UNITDIR/hikshare-gateway.service"
if [ -z "$DESTDIR" ] && [ $use_systemctl -eq 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
if [ -L "$root$BINDIR/hikshare-gateway" ]; then
  rm -f "$root$BINDIR/hikshare-gateway"
fi
rm -rf "$root$PREFIX"
say "removed the daemon and its unit"

if [ $purge -eq 1 ]; then
  # DynamicUser= keeps the real directory under /var/lib/private and a symlink in /var/lib.
  rm -rf "$root$STATEDIR" "$root$(dirname "$STATEDIR")/private/$(basename "$STATEDIR")" "$root$SYSCONFDIR"
  say "purged $STATEDIR and $SYSCONFDIR"
else
  say "kept $SYSCONFDIR (configuration, secrets) and $STATEDIR (grants); --purge removes them"
fi
