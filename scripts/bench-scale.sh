#!/usr/bin/env bash
# Side-by-side benchmark of etserver scaled out (issue #21): 1 vs 3 etserver instances, on a
# single Redis (127.0.0.1:6379, a fresh key prefix) vs a Redis Cluster of 3 masters (+3
# replicas, scripts/redis-scale.sh), one MariaDB database; reads and writes at 100 callers
# with etclient (`--server a,b,c` when 3). Besides QPS it prints calls per CPU-second: the
# successful calls divided by the CPU time (user + system, /proc/PID/stat) that the etserver
# processes and the Redis data nodes spent during the run. Everything shares the machine's
# cores with etclient and MariaDB, so on a small box the figure is about overhead, not
# speedup. Usage: scripts/bench-scale.sh [SECONDS per run, default 5]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-5}
. scripts/services.sh
pocket_services >/dev/null 2>&1

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -d "$work/cluster" ] && scripts/redis-scale.sh stop "$work/cluster" 2>/dev/null
  mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$prefix*" | xargs -r redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "rate:$prefix*" | xargs -r redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1 || true
  rm -rf "$work"
}
db=pocket_bench_$RANDOM$RANDOM
prefix="bench$RANDOM:"
trap cleanup EXIT

echo "building etserver and etclient" >&2
(cd entrytask-server && go build -o "$work/etserver" ./cmd/etserver)
(cd entrytask-client && go build -o "$work/etclient" ./cmd/etclient)
mariadb -h127.0.0.1 -uroot -e "CREATE DATABASE $db"
dsn="root@tcp(127.0.0.1:3306)/$db"
mkdir "$work/cluster"
cluster=$(scripts/redis-scale.sh cluster "$work/cluster" | sed -n 's/^addrs=//p')

ticks=$(getconf CLK_TCK)
# cpu PID...: the CPU ticks (user + system) the processes have used so far.
cpu() {
  local p t=0 f
  for p in "$@"; do
    read -r -a f <"/proc/$p/stat"
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}

# start_etservers N ENV...: starts N etservers with ENV, fills servers (comma-separated
# addresses) and epids.
start_etservers() {
  local n=$1 i addr log end
  shift
  epids=()
  servers=""
  for ((i = 0; i < n; i++)); do
    log="$work/etserver-$i.log"
    env "$@" "$work/etserver" serve --listen 127.0.0.1:0 --admin-listen '' --log-level warn 2>"$log" &
    epids+=($!)
    pids+=($!)
    end=$((SECONDS + 30))
    until addr=$(sed -n 's/^etserver: listening on //p' "$log") && [ -n "$addr" ]; do
      [ $SECONDS -lt $end ] || { echo "etserver did not listen within 30s:" >&2; cat "$log" >&2; exit 1; }
      sleep 0.05
    done
    servers+="${servers:+,}$addr"
  done
}

stop_etservers() {
  local p
  for p in "${epids[@]}"; do kill "$p"; done
  for p in "${epids[@]}"; do wait "$p" || true; done
}

value=$(head -c 2000 /dev/zero | tr '\0' v)
single_redis_pid=$(redis-cli -h 127.0.0.1 -p 6379 info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
mapfile -t cluster_pids < <(cat "$work"/cluster/*.pid)

echo "| Redis | etservers | op | callers | QPS | p99 | failed | calls per CPU-second (etserver + Redis) | etserver / Redis CPU per call |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---|"
for redis in single cluster; do
  if [ "$redis" = single ]; then
    renv=(ETSERVER_REDIS_ADDR=127.0.0.1:6379 "ETSERVER_REDIS_PREFIX=$prefix")
    rpids=("$single_redis_pid")
  else
    renv=("ETSERVER_REDIS_ADDRS=$cluster" "ETSERVER_REDIS_PREFIX=$prefix")
    rpids=("${cluster_pids[@]}")
  fi
  common=("ETSERVER_MYSQL_DSN=$dsn" ETSERVER_QUOTA_SHARED=true "${renv[@]}")
  env "${common[@]}" "$work/etserver" seed --insecure-fast-hashes --users 4 >/dev/null 2>&1
  for u in 1 2 3 4; do
    env "${common[@]}" "$work/etserver" user quota "$u" --read 100000 --write 100000 >/dev/null 2>&1
  done
  for n in 1 3; do
    start_etservers "$n" "${common[@]}"
    for u in 1 2 3 4; do
      "$work/etclient" login,write -u "$u" -p "$u" -k a -v "$value" --server "$servers" >/dev/null
    done
    for op in read write; do
      args=(benchmark "$op" -u 1 -p 1 --users 4 -k a -c 100 -d "${secs}s" --output csv --server "$servers")
      [ "$op" = write ] && args+=(-v "$value")
      e0=$(cpu "${epids[@]}") r0=$(cpu "${rpids[@]}")
      row=$("$work/etclient" "${args[@]}" | tail -1)
      e1=$(cpu "${epids[@]}") r1=$(cpu "${rpids[@]}")
      IFS=, read -r -a f <<<"$row"
      ok=${f[7]} failed=${f[8]} qps=${f[10]} p99=${f[18]}
      awk -v redis="$redis" -v n="$n" -v op="$op" -v ok="$ok" -v failed="$failed" -v qps="$qps" -v p99="$p99" \
        -v e=$((e1 - e0)) -v r=$((r1 - r0)) -v hz="$ticks" 'BEGIN {
          cpu = (e + r) / hz
          printf "| %s | %d | %s | 100 | %.0f | %.2f ms | %d | %.0f | %.1f / %.1f µs |\n", redis, n, op, qps, p99, failed,
            (cpu > 0 ? ok / cpu : 0), e / hz / ok * 1e6, r / hz / ok * 1e6 }'
    done
    stop_etservers
  done
done
