#!/usr/bin/env bash
# The main job with no hardware and no cloud: the gateway with a built-in demo recorder (an H.264 clip looped as an
# RTSP camera) and the sharing service (hikshare-cloud serve: SQLite, its own MQTT broker, the web portal) with two
# demo accounts. The gateway is bound to the demo owner with its one-time code; the grants it enforces then come
# from the service: sign in as the owner, share the camera with the second account, accept as that account in
# another browser profile (or a private window), watch. Ctrl-C stops both.
#   --gateway-only   the gateway alone with its own demo cloud and share (prints an RTSP URL with a token), as before
set -euo pipefail
cd "$(dirname "$0")/.."
HIKSHARE_APT_PACKAGES="ffmpeg libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4" bash scripts/prereqs.sh
dotnet build src/HikShareGateway/HikShareGateway.csproj -c Release --nologo -v q --no-restore
gateway="src/HikShareGateway/bin/Release/net10.0/hikshare-gateway.dll"
if [ "${1:-}" = "--gateway-only" ]; then
  shift
  exec dotnet "$gateway" demo "$@"
fi
dotnet build src/HikShareCloud/HikShareCloud.csproj -c Release --nologo -v q --no-restore
cloud="src/HikShareCloud/bin/Release/net10.0/hikshare-cloud.dll"

state="${HIKSHARE_DEMO_STATE:-${TMPDIR:-/tmp}/hikshare-demo-sharing}"
broker_port="${HIKSHARE_DEMO_BROKER_PORT:-18830}"
portal_port="${HIKSHARE_DEMO_PORTAL_PORT:-8090}"
http_port="${HIKSHARE_Http__Port:-8080}"; rtsp_port="${HIKSHARE_Rtsp__Port:-8554}"
owner="owner@example.com"; viewer="viewer@example.com"; password="demo-password"
mkdir -p "$state"
[ -f "$state/cloud-key.json" ] || dotnet "$cloud" keygen --kid demo-sharing --out "$state/cloud-key.json" 2>/dev/null > "$state/cloud-key.pub.json"
jwk() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$state/cloud-key.pub.json" "$1"; }
cat > "$state/sharing.json" <<JSON
{ "Sharing": {
    "StateDirectory": "$state/service", "SigningKeyFiles": [ "$state/cloud-key.json" ],
    "Listen": "http://127.0.0.1:$portal_port", "EmbeddedBrokerPort": $broker_port,
    "SmsWebhook": "http://127.0.0.1:9/demo-has-no-sms", "PasswordIterations": 600000, "MinimumPasswordLength": 10,
    "GatewayViewerUrls": { "gw-demo": "http://127.0.0.1:$http_port" },
    "DemoAccounts": [ { "Address": "$owner", "Password": "$password-1" }, { "Address": "$viewer", "Password": "$password-2" } ] } }
JSON

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
env "Logging__LogLevel__Microsoft.AspNetCore=Warning" dotnet "$cloud" serve --config "$state/sharing.json" &
pids+=($!)
for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$portal_port/healthz" >/dev/null 2>&1 && break; sleep 0.5; done

# The gateway's cloud is the service: its broker, its key trusted.
export HIKSHARE_Cloud__Broker="mqtt://127.0.0.1:$broker_port"
export HIKSHARE_Cloud__TrustedKeys__0__kid="$(jwk kid)" HIKSHARE_Cloud__TrustedKeys__0__kty=OKP \
       HIKSHARE_Cloud__TrustedKeys__0__crv=Ed25519 HIKSHARE_Cloud__TrustedKeys__0__x="$(jwk x)"
dotnet "$gateway" demo "$@" &
pids+=($!)

# Bind the gateway to the demo owner: the code it prints, entered through the service's API.
code=$(HIKSHARE_Gateway__Id=gw-demo dotnet "$gateway" bind-code | sed -n 's/^Binding code for gateway [^:]*: //p')
token=$(curl -fsS -H 'Content-Type: application/json' -d "{\"address\":\"$owner\",\"password\":\"$password-1\"}" \
  "http://127.0.0.1:$portal_port/api/v1/sessions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
for _ in $(seq 1 60); do
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"code\":\"$code\"}" "http://127.0.0.1:$portal_port/api/v1/gateways/gw-demo/bind")
  [ "$status" = 204 ] || [ "$status" = 409 ] && break
  sleep 0.5
done
cat <<TEXT

── HikShare demo with the sharing service ───────────────────────────────────────
  portal        http://127.0.0.1:$portal_port/
  owner         $owner / $password-1   (owns the gateway gw-demo and its camera demo-nvr-1)
  second        $viewer / $password-2  (sign in in another browser profile or a private window)
  share the camera as the owner (My shared devices → Share devices), accept as the second account,
  then Others' devices → Watch (the gateway's web viewer at http://127.0.0.1:$http_port/), or in ffplay with a token
  from POST /api/v1/viewer-tokens: rtsp://127.0.0.1:$rtsp_port/live/demo-nvr-1/1/main?token=…
  Ctrl-C stops the gateway and the service.
TEXT
wait -n "${pids[@]}"
