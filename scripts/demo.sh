#!/usr/bin/env bash
# The main job with no hardware and no cloud: the gateway with a built-in demo recorder (an H.264
# clip looped as an RTSP camera), an embedded MQTT broker, a demo cloud key and a demo share.
# It prints a viewer URL with a fresh token; open it with ffplay or VLC. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
HIKSHARE_APT_PACKAGES="ffmpeg libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4" bash scripts/prereqs.sh
dotnet build src/HikShareGateway/HikShareGateway.csproj -c Release --nologo -v q --no-restore
exec dotnet src/HikShareGateway/bin/Release/net10.0/hikshare-gateway.dll demo "$@"
