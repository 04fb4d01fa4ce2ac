#!/usr/bin/env bash
# A three-node Redis Cluster on loopback (no replicas, no persistence) for the
# cluster tests of the Redis adapter.
#
#   deploy/local/redis-cluster.sh up     start (idempotent); prints the export line
#   deploy/local/redis-cluster.sh down   stop and forget the cluster
#   deploy/local/redis-cluster.sh status
#
# Ports: CHAT_REDIS_CLUSTER_PORTS (default "7101 7102 7103"); state under
# $CHAT_LOCAL_DIR/redis-cluster, logs in $CHAT_LOCAL_DIR/logs.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PORTS="${CHAT_REDIS_CLUSTER_PORTS:-7101 7102 7103}"
read -r -a PORT_LIST <<<"$PORTS"
HOME_DIR="$CHAT_LOCAL_DIR/redis-cluster"

urls() {
  local p out=()
  for p in "${PORT_LIST[@]}"; do out+=("redis://127.0.0.1:$p"); done
  local IFS=,
  echo "${out[*]}"
}

node_up() { redis-cli -p "$1" ping >/dev/null 2>&1; }

cluster_ok() { redis-cli -p "${PORT_LIST[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

up() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    log "installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p "$HOME_DIR" "$LOCAL_LOGS"
  local p
  for p in "${PORT_LIST[@]}"; do
    if node_up "$p"; then continue; fi
    mkdir -p "$HOME_DIR/$p"
    # A node that restarts empty must not rejoin with a stale identity.
    rm -f "$HOME_DIR/$p/nodes.conf"
    redis-server --port "$p" --bind 127.0.0.1 --protected-mode no \
      --cluster-enabled yes --cluster-config-file "$HOME_DIR/$p/nodes.conf" \
      --cluster-node-timeout 5000 --save '' --appendonly no \
      --dir "$HOME_DIR/$p" --daemonize yes --pidfile "$HOME_DIR/$p/redis.pid" \
      --logfile "$LOCAL_LOGS/redis-cluster-$p.log"
  done
  local deadline=$((SECONDS + CHAT_LOCAL_WAIT_SECS))
  for p in "${PORT_LIST[@]}"; do
    until node_up "$p"; do
      ((SECONDS < deadline)) || die_with_log "$LOCAL_LOGS/redis-cluster-$p.log" "redis cluster node $p did not start"
      sleep 0.2
    done
  done
  if ! cluster_ok; then
    local nodes=()
    for p in "${PORT_LIST[@]}"; do nodes+=("127.0.0.1:$p"); done
    log "creating the cluster on ${nodes[*]}"
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$LOCAL_LOGS/redis-cluster-create.log" 2>&1 ||
      die_with_log "$LOCAL_LOGS/redis-cluster-create.log" "cluster create failed"
    until cluster_ok; do
      ((SECONDS < deadline)) || die "the cluster did not reach state ok"
      sleep 0.2
    done
  fi
  log "redis cluster: ready on ${PORT_LIST[*]}"
  echo "export CHAT_REDIS_CLUSTER_URL=$(urls)"
}

down() {
  local p
  for p in "${PORT_LIST[@]}"; do
    if node_up "$p"; then
      redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$HOME_DIR"
  log "redis cluster: stopped"
}

status() {
  local p
  for p in "${PORT_LIST[@]}"; do
    if node_up "$p"; then echo "redis-cluster-$p running 127.0.0.1:$p"; else echo "redis-cluster-$p stopped"; fi
  done
  cluster_ok
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
