#!/usr/bin/env bash
# Starts a Redis Cluster or a Sentinel-managed primary/replica pair on loopback, in a
# directory of the caller's, for the tests of etserver's scaled-out modes (issue #21):
#
#   scripts/redis-scale.sh cluster DIR    3 masters + 3 replicas (redis-cli --cluster create)
#   scripts/redis-scale.sh sentinel DIR   a primary, a replica and 3 sentinels (master "pocket")
#   scripts/redis-scale.sh stop DIR       SIGKILLs the processes DIR/*.pid name (only those)
#
# Every process is Debian's redis-server (a sentinel is `redis-server FILE --sentinel`),
# bound to 127.0.0.1 on ports chosen free at run time, with its pid in DIR/<port>.pid, its
# log in DIR/<port>.log and its data in DIR/<port>/, with the persistence flags of
# scripts/services.sh (POCKET_REDIS_PERSISTENCE). Failure detection is fast so that tests
# can wait for a failover: cluster-node-timeout 1000 ms; sentinel down-after-milliseconds
# 1000, failover-timeout 5000, quorum 2.
#
# On success it prints, on stdout, one KEY=VALUE line per fact and nothing else:
#   cluster:  addrs=H:P,H:P,H:P (the masters)  replicas=H:P,H:P,H:P
#   sentinel: sentinels=H:P,H:P,H:P  master_name=pocket  primary=H:P  replica=H:P
# Every wait is bounded (REDIS_SCALE_WAIT seconds, default 30); on failure it stops what it
# started and exits non-zero with the reason on stderr.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
wait_s=${REDIS_SCALE_WAIT:-30}

log() { echo "redis-scale: $*" >&2; }
die() { log "$*"; stop_all "$dir" || true; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a port with nothing listening on it nor on it + 10000 (a cluster node's
# bus port), both below the kernel's ephemeral range (32768 and up by default), so that no
# outgoing connection holds it.
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 2700 * 4))
    [ -e "$dir/$p.pid" ] && continue
    port_open "$p" || port_open $((p + 10000)) || { echo "$p"; return 0; }
  done
  return 1
}

# until_true SECONDS CMD...: runs CMD every 50 ms until it succeeds or SECONDS pass.
until_true() {
  local end=$((SECONDS + $1)); shift
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.05
  done
}

persistence() { bash -c '. "$1/scripts/services.sh" >/dev/null 2>&1; pocket_redis_persistence' _ "$root"; }

alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# start_redis ARGS...: starts redis-server on a free port, detached from this script (its
# output in the log file, so a caller reading our stdout is not held open), waits for the
# port and prints it. A server that exits before listening (another process took the port
# in between) is retried on another port, 3 times at most. ARGS may hold the word PORT,
# replaced by the port.
start_redis() {
  local port pid try args a
  for try in 1 2 3; do
    port=$(free_port) || die "no free port"
    args=()
    for a in "$@"; do args+=("${a//PORT/$port}"); done
    mkdir -p "$dir/$port"
    setsid redis-server "${args[@]}" --port "$port" --bind 127.0.0.1 --dir "$dir/$port" \
      --logfile "$dir/$port.log" --daemonize no </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$dir/$port.pid"
    local end=$((SECONDS + wait_s))
    while ! port_open "$port"; do
      alive "$pid" || break
      [ $SECONDS -lt $end ] || die "redis-server on $port did not listen within ${wait_s}s (see $dir/$port.log)"
      sleep 0.05
    done
    if alive "$pid"; then echo "$port"; return 0; fi
    log "redis-server on $port exited before listening (see $dir/$port.log); trying another port"
    rm -f "$dir/$port.pid"
  done
  die "redis-server failed to start 3 times"
}

cli() { local p=$1; shift; redis-cli -h 127.0.0.1 -p "$p" "$@"; }

stop_all() {
  local f pid
  for f in "$1"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    # Only a process still running redis-server under that pid is ours.
    if [ -n "$pid" ] && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

cluster_ok() { cli "$1" cluster info | grep -q '^cluster_state:ok'; }
link_up() { cli "$1" info replication | grep -q '^master_link_status:up'; }

start_cluster() {
  local ports=() p i persist
  mapfile -t persist < <(persistence)
  for ((i = 0; i < 6; i++)); do
    p=$(start_redis "${persist[@]}" --cluster-enabled yes --cluster-config-file "$dir/nodes-PORT.conf" \
      --cluster-node-timeout 1000) || die "starting redis-server failed"
    ports+=("$p")
  done
  local seeds=()
  for p in "${ports[@]}"; do seeds+=("127.0.0.1:$p"); done
  timeout "$wait_s" redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
    die "redis-cli --cluster create failed (see $dir/create.log)"
  for p in "${ports[@]}"; do
    until_true "$wait_s" cluster_ok "$p" || die "node $p: cluster_state not ok within ${wait_s}s"
  done
  local masters=() replicas=()
  for p in "${ports[@]}"; do
    if cli "$p" info replication | grep -q '^role:master'; then
      masters+=("127.0.0.1:$p")
    else
      until_true "$wait_s" link_up "$p" || die "replica $p not in sync within ${wait_s}s"
      replicas+=("127.0.0.1:$p")
    fi
  done
  [ ${#masters[@]} -eq 3 ] || die "${#masters[@]} masters, want 3"
  (IFS=,; echo "addrs=${masters[*]}"; echo "replicas=${replicas[*]}")
}

sentinels_ready() {
  local s=$1 r
  r=$(cli "$s" sentinel master pocket) || return 1
  # num-other-sentinels 2 and the replica known: a failover can be authorised and has a
  # candidate.
  echo "$r" | grep -A1 '^num-other-sentinels$' | tail -1 | grep -qx 2 &&
    echo "$r" | grep -A1 '^num-slaves$' | tail -1 | grep -qx 1
}

start_sentinel() {
  local persist primary replica s sports=()
  mapfile -t persist < <(persistence)
  primary=$(start_redis "${persist[@]}") || die "starting redis-server failed"
  replica=$(start_redis "${persist[@]}" --replicaof 127.0.0.1 "$primary") || die "starting redis-server failed"
  until_true "$wait_s" link_up "$replica" || die "replica $replica not in sync within ${wait_s}s"
  for i in 1 2 3; do
    cat >"$dir/sentinel-$i.conf" <<EOF
sentinel monitor pocket 127.0.0.1 $primary 2
sentinel down-after-milliseconds pocket 1000
sentinel failover-timeout pocket 5000
sentinel parallel-syncs pocket 1
EOF
    s=$(start_redis "$dir/sentinel-$i.conf" --sentinel) || die "starting redis-server failed"
    sports+=("127.0.0.1:$s")
  done
  for s in "${sports[@]}"; do
    until_true "$wait_s" sentinels_ready "${s#127.0.0.1:}" || die "sentinel $s: peers or replica not known within ${wait_s}s"
  done
  (IFS=,; echo "sentinels=${sports[*]}")
  echo "master_name=pocket"
  echo "primary=127.0.0.1:$primary"
  echo "replica=127.0.0.1:$replica"
}

[ $# -eq 2 ] || { echo "usage: $0 cluster|sentinel|stop DIR" >&2; exit 2; }
dir=$(cd "$2" && pwd) || exit 2
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
  { log "redis-server and redis-cli are needed (apt-get install redis-server)"; exit 1; }
case $1 in
  cluster) start_cluster ;;
  sentinel) start_sentinel ;;
  stop) stop_all "$dir" ;;
  *) echo "usage: $0 cluster|sentinel|stop DIR" >&2; exit 2 ;;
esac
