#!/usr/bin/env bash
# A RabbitMQ cluster with its MQTT plugin on loopback, to try Cloud:Brokers failover (contract §3.1, issue 17).
#
#   scripts/rabbitmq-cluster.sh start [DIR] [NODES]   start NODES (default 3) nodes, join them, print Cloud:Brokers
#   scripts/rabbitmq-cluster.sh stop-node N [DIR]     stop node N (1-based) — the gateway on it moves to the next
#   scripts/rabbitmq-cluster.sh start-node N [DIR]    start node N again (it rejoins)
#   scripts/rabbitmq-cluster.sh status [DIR]          cluster status
#   scripts/rabbitmq-cluster.sh stop [DIR]            stop every node and remove DIR
#
# Node N is rabbitN@localhost with AMQP on 25670+N, Erlang distribution on 25680+N and MQTT on 18830+N; every
# node keeps its data and logs under DIR (default /tmp/hikshare-rabbitmq). Needs Debian's rabbitmq-server
# (scripts/prereqs.sh installs it). Start times are printed: on this 2-core machine under load 50-80, three nodes
# took 15-28 s each, 84 s with the joins. The suite starts its own cluster (tests/HikShareGateway.Tests/
# Infrastructure/RabbitMqCluster.cs, RabbitMqClusterFailoverTests: nodes in parallel on free ports, ~20 s); this
# script is for trying the gateway against a cluster by hand.
set -euo pipefail

cmd=${1:-}
case "$cmd" in
  start) dir=${2:-/tmp/hikshare-rabbitmq}; nodes=${3:-3} ;;
  stop-node|start-node) n=${2:?node number}; dir=${3:-/tmp/hikshare-rabbitmq} ;;
  status|stop) dir=${2:-/tmp/hikshare-rabbitmq} ;;
  *) sed -n '2,15p' "$0"; exit 64 ;;
esac

export HOME="$dir/home" # the Erlang cookie every node and rabbitmqctl share
# Debian's wrappers in /usr/sbin switch to the rabbitmq user and its fixed directories: call the real scripts.
bin=/usr/lib/rabbitmq/bin
node_env() {
  local i=$1 d="$dir/node$i"
  export RABBITMQ_NODENAME="rabbit$i@localhost"
  export RABBITMQ_NODE_PORT=$((25670 + i))
  export RABBITMQ_DIST_PORT=$((25680 + i))
  export RABBITMQ_MNESIA_BASE="$d/mnesia"
  export RABBITMQ_LOG_BASE="$d/log"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$d/rabbitmq"
  export RABBITMQ_PID_FILE="$d/rabbit.pid"
}
ctl() { local i=$1; shift; "$bin/rabbitmqctl" -q -n "rabbit$i@localhost" "$@"; }

start_node() {
  local i=$1 d="$dir/node$i" t0
  mkdir -p "$d/mnesia" "$d/log"
  echo '[rabbitmq_mqtt].' > "$d/enabled_plugins"
  cat > "$d/rabbitmq.conf" <<EOF
listeners.tcp.default = $((25670 + i))
mqtt.listeners.tcp.default = $((18830 + i))
mqtt.allow_anonymous = true
mqtt.default_user = guest
mqtt.default_pass = guest
loopback_users = none
EOF
  t0=$(date +%s%N)
  ( node_env "$i"; "$bin/rabbitmq-server" -detached >/dev/null 2>&1 )
  ( node_env "$i"; timeout 120 "$bin/rabbitmqctl" -q -n "rabbit$i@localhost" wait "$d/rabbit.pid" --timeout 120 )
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf 'node %d (rabbit%d@localhost, MQTT 127.0.0.1:%d) up in %d.%03d s\n' "$i" "$i" $((18830 + i)) $((ms / 1000)) $((ms % 1000))
}

case "$cmd" in
  start)
    mkdir -p "$HOME"
    [ -f "$HOME/.erlang.cookie" ] || { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$HOME/.erlang.cookie"; chmod 400 "$HOME/.erlang.cookie"; }
    for i in $(seq 1 "$nodes"); do start_node "$i"; done
    for i in $(seq 2 "$nodes"); do
      ctl "$i" stop_app && ctl "$i" join_cluster rabbit1@localhost && ctl "$i" start_app
    done
    brokers=$(for i in $(seq 1 "$nodes"); do printf '"mqtt://127.0.0.1:%d",' $((18830 + i)); done)
    echo "cluster of $nodes nodes; gateway config: \"Cloud\": { \"Brokers\": [${brokers%,}] }"
    echo "$nodes" > "$dir/nodes"
    ;;
  stop-node) ctl "$n" stop_app && echo "node $n stopped (rabbit$n@localhost; MQTT port $((18830 + n)) closed)" ;;
  start-node) ctl "$n" start_app && echo "node $n started again" ;;
  status) ctl 1 cluster_status ;;
  stop)
    for i in $(seq 1 "$(cat "$dir/nodes" 2>/dev/null || echo 3)"); do ctl "$i" stop 2>/dev/null || true; done
    rm -rf "$dir"
    ;;
esac
