#!/usr/bin/env bash
# Installs HikShare Gateway on a Debian box (run as root from a clone of the repository):
#   the daemon             -> $PREFIX (default /opt/hikshare-gateway), one native (NativeAOT) binary for linux-x64,
#                             else a self-contained, trimmed, ReadyToRun single file
#   `hikshare-gateway`     -> $BINDIR/hikshare-gateway (symlink, for `hikshare-gateway status`)
#   configuration          -> $SYSCONFDIR/gateway.json (from config/gateway.example.json, never overwritten)
#   secrets (passwords)    -> $SYSCONFDIR/secrets.json, mode 0600 root:root (handed to the service by LoadCredential=)
#   systemd unit           -> $UNITDIR/hikshare-gateway.service, enabled (started once the configuration is filled in)
#
# usage: sudo scripts/install.sh [--from DIR] [--framework-dependent] [--no-systemctl]
#   --from DIR              install the already-published files in DIR instead of running dotnet publish
#   --framework-dependent   publish for the installed .NET runtime instead of self-contained
#   --no-systemctl          do not call systemctl (also skipped automatically when systemd is not running)
# Environment: DESTDIR (staging root, e.g. for packaging or tests), PREFIX, SYSCONFDIR, UNITDIR, BINDIR.
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/opt/hikshare-gateway}"
SYSCONFDIR="${SYSCONFDIR:-/etc/hikshare-gateway}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
BINDIR="${BINDIR:-/usr/local/bin}"
from=""
self_contained=1
use_systemctl=1

while [ $# -gt 0 ]; do
  case "$1" in
    --from) from="${2:?--from needs a directory}"; shift 2 ;;
    --framework-dependent) self_contained=0; shift ;;
    --no-systemctl) use_systemctl=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "install: $*"; }
as_root=0; [ "$(id -u)" -eq 0 ] && as_root=1
if [ -z "$DESTDIR" ] && [ $as_root -eq 0 ]; then
  echo "install.sh: run as root (sudo scripts/install.sh), or set DESTDIR to stage the files." >&2
  exit 1
fi

# :: Step 1: the binaries.
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
if [ -n "$from" ]; then
  [ -x "$from/hikshare-gateway" ] || { echo "install.sh: $from/hikshare-gateway is missing or not executable." >&2; exit 1; }
  publish="$from"
else
  command -v dotnet >/dev/null || { echo "install.sh: dotnet (the .NET 10 SDK) is needed to build; or use --from DIR." >&2; exit 1; }
  publish="$workdir/publish"
  if [ $self_contained -eq 1 ]; then
    # NativeAOT (issue 16): a third of the memory, start in milliseconds; needs clang (scripts/prereqs.sh).
    say "publishing one native binary for linux-x64 (NativeAOT, takes a few minutes)"
    if ! command -v clang >/dev/null || ! dotnet publish src/HikShareGateway -c Release -r linux-x64 \
         -p:PublishAot=true -p:DebugType=none -p:StripSymbols=true -o "$publish" --nologo -v q; then
      rm -rf "$publish"
      say "NativeAOT publish failed or clang is missing; publishing a self-contained ReadyToRun single file"
      if ! dotnet publish src/HikShareGateway -c Release -r linux-x64 --self-contained true \
           -p:PublishSingleFile=true -p:PublishTrimmed=true -p:PublishReadyToRun=true -p:DebugType=none -o "$publish" --nologo -v q; then
        say "self-contained publish failed; falling back to framework-dependent (needs the .NET 10 runtime)"
        self_contained=0
        rm -rf "$publish"
      fi
    fi
  fi
  if [ $self_contained -eq 0 ]; then
    dotnet publish src/HikShareGateway -c Release -p:DebugType=none -o "$publish" --nologo -v q
  fi
fi

root="$DESTDIR"
install -d -m 0755 "$root$PREFIX" "$root$PREFIX/docs" "$root$BINDIR" "$root$UNITDIR"
# Replace the program directory's content (an upgrade leaves no stale assemblies behind).
find "$root$PREFIX" -mindepth 1 -maxdepth 1 ! -name docs -exec rm -rf {} +
cp -R "$publish"/. "$root$PREFIX/"
find "$root$PREFIX" -name '*.pdb' -delete
chmod -R u=rwX,go=rX "$root$PREFIX"
chmod 0755 "$root$PREFIX/hikshare-gateway"
install -m 0644 docs/installer-guide.md "$root$PREFIX/docs/installer-guide.md"
ln -sfn "$PREFIX/hikshare-gateway" "$root$BINDIR/hikshare-gateway"
say "installed the daemon in $root$PREFIX"

# :: Step 1b: FFmpeg 5.1's runtime libraries (snapshots, transcoding). The daemon runs without them, with a warning
# that snapshots and transcoding are off, so a failure here is reported and the install goes on.
# intel-ipsec-mb (x86-64 only) seals RTSPS records and SRTP packets with AES-GCM about four times faster than OpenSSL 3.0;
# without it the daemon uses OpenSSL (its start-up log names the engine).
ffmpeg_libs="libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4"
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] && ffmpeg_libs="$ffmpeg_libs libipsec-mb1"
if [ -n "$DESTDIR" ]; then
  say "not installing Debian packages into a DESTDIR; the target needs: $ffmpeg_libs"
elif command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $ffmpeg_libs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    say "installing runtime libraries (FFmpeg 5.1, intel-ipsec-mb):$missing"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
      say "could not install$missing: the gateway will run without them (snapshots and transcoding off without FFmpeg; AES-GCM through OpenSSL without intel-ipsec-mb)"
    fi
  fi
else
  say "no apt-get: install FFmpeg 5.1's libraries ($ffmpeg_libs) for snapshots and transcoding"
fi

# :: Step 2: configuration (never overwritten) and secrets (root only).
install -d -m 0755 "$root$SYSCONFDIR"
install -m 0644 config/gateway.example.json "$root$SYSCONFDIR/gateway.example.json"
if [ -e "$root$SYSCONFDIR/gateway.json" ]; then
  say "kept the existing $SYSCONFDIR/gateway.json"
else
  install -m 0644 config/gateway.example.json "$root$SYSCONFDIR/gateway.json"
  say "wrote $SYSCONFDIR/gateway.json from the example: fill in Gateway:Id, Cloud:TrustedKeys and Devices"
fi
if [ -e "$root$SYSCONFDIR/secrets.json" ]; then
  say "kept the existing $SYSCONFDIR/secrets.json"
else
  install -m 0600 config/secrets.example.json "$root$SYSCONFDIR/secrets.json"
  say "wrote $SYSCONFDIR/secrets.json (mode 0600): put the device passwords there"
fi
# Passwords are readable by root only, whatever the umask or an earlier hand edit did.
chmod 0600 "$root$SYSCONFDIR/secrets.json"
if [ $as_root -eq 1 ]; then
  chown root:root "$root$SYSCONFDIR/secrets.json"
fi

# :: Step 3: the systemd unit (paths follow PREFIX and SYSCONFDIR).
sed -e "s#/opt/hikshare-gateway#$PREFIX#g" -e "s#/etc/hikshare-gateway#$SYSCONFDIR#g" \
  systemd/hikshare-gateway.service > "$workdir/hikshare-gateway.service"
install -m 0644 "$workdir/hikshare-gateway.service" "$root$UNITDIR/hikshare-gateway.service"
say "installed $UNITDIR/hikshare-gateway.service"

# :: Step 4: enable (and start when configured) - only on a live systemd, never into a DESTDIR.
if [ -n "$DESTDIR" ] || [ $use_systemctl -eq 0 ]; then
  say "not calling systemctl (DESTDIR or --no-systemctl)"
elif [ ! -d /run/systemd/system ]; then
  say "systemd is not running here (container or chroot?): skipped systemctl; start the daemon by hand:"
  say "  $PREFIX/hikshare-gateway --config $SYSCONFDIR/gateway.json"
else
  systemctl daemon-reload
  systemctl enable hikshare-gateway.service
  if grep -Eq '"Id"[[:space:]]*:[[:space:]]*""' "$SYSCONFDIR/gateway.json"; then
    say "enabled; not started yet: fill in $SYSCONFDIR/gateway.json, then: systemctl start hikshare-gateway"
  else
    systemctl restart hikshare-gateway.service
    say "started: systemctl status hikshare-gateway; journalctl -u hikshare-gateway"
  fi
fi
say "done. Guide: $PREFIX/docs/installer-guide.md"
