#!/usr/bin/env bash
# Installs what the gateway, its demo and its tests need on Debian 12: the .NET 10 SDK check,
# Debian packages for the real peers the tests use (mosquitto, gst-rtsp-server's ONVIF server,
# ffmpeg/ffprobe, GStreamer, Chromium for the browser tests, PostgreSQL and an SMTP sink for the sharing service,
# RabbitMQ for the broker cluster test),
# FFmpeg 5.1's shared libraries for snapshots and transcoding (src/HikShareGateway.Ffmpeg loads them by soname; the
# ffmpeg package pulls them in, they are named so that they stay if it goes), intel-ipsec-mb on x86-64 (AES-GCM for
# RTSPS records and SRTP packets, ~4x OpenSSL 3.0's speed on CPUs with VAES; src/HikShareGateway.Core/Crypto/AeadCipher
# falls back to OpenSSL without it), and the NuGet packages (dotnet restore).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in ${HIKSHARE_APT_PACKAGES:-mosquitto mosquitto-clients ffmpeg \
         libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 gstreamer1.0-tools gstreamer1.0-rtsp \
         gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
         gstreamer1.0-plugins-ugly gstreamer1.0-libav onvif-tools iproute2 systemd chromium postgresql \
         python3-aiosmtpd iptables iputils-ping coturn afl++ python3-prometheus-client rabbitmq-server openssl}; do
  have "$p" || need_apt+=("$p")
done
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  have libipsec-mb1 || need_apt+=(libipsec-mb1)
fi
# Node.js and npm (werift, the second WebRTC viewer of the tests): whichever Node the machine has (the .NET image ships
# NodeSource's, whose nodejs package conflicts with Debian's npm), else Debian's.
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "prereqs: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "prereqs: the .NET 10 SDK is required (dotnet on PATH); install it from Microsoft's Debian packages." >&2
  exit 1
fi
case "$(dotnet --version)" in
  10.*) ;;
  *) echo "prereqs: .NET SDK 10 required, found $(dotnet --version)" >&2; exit 1 ;;
esac

# The systemd broker started by the mosquitto package would hold port 1883; tests start their own
# brokers on free ports, so the packaged service is left as it is.
dotnet restore HikShareGateway.sln --nologo -v q

# werift, the second WebRTC implementation the tests use as a WHEP viewer: the version pinned in its package-lock.json.
[ -d tests/HikShareGateway.Tests/WebRtc/Werift/node_modules/werift ] ||
  (cd tests/HikShareGateway.Tests/WebRtc/Werift && npm ci --no-audit --no-fund --loglevel=error)
