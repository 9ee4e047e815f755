#!/usr/bin/env bash
# The README's demo: build etserver and etclient, start etserver on its embedded store on
# loopback, seed users, log in, write and read a key with etclient, run a short read
# benchmark, print its report and stop the server. Needs nothing but Go.
#
# With POCKET_DEMO_MYSQL_DSN and POCKET_DEMO_REDIS_ADDR set, the same demo runs on MariaDB
# and Redis instead (see the README's second demo section).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

work=$(mktemp -d "${TMPDIR:-/tmp}/pocket-demo.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building etserver and etclient"
go build -o "$work/etserver" ./entrytask-server/cmd/etserver
go build -o "$work/etclient" ./entrytask-client/cmd/etclient

store=(--data-dir "$work/data")
if [ -n "${POCKET_DEMO_MYSQL_DSN:-}" ] && [ -n "${POCKET_DEMO_REDIS_ADDR:-}" ]; then
  store=(--mysql-dsn "$POCKET_DEMO_MYSQL_DSN" --redis-addr "$POCKET_DEMO_REDIS_ADDR")
  echo "== store: MariaDB and Redis"
else
  echo "== store: embedded (SQLite in $work/data)"
fi

# User N has password N and a read quota of min(100000, 3N+3) per second: the benchmark
# uses user 40000, whose quota is the 100000/s cap.
# --insecure-fast-hashes: fixture-cost hashes (argon2id m=8 KiB, t=1), demo and benchmark
# users only; real accounts are made with `etserver user add` at the configured cost.
echo "== seeding 40000 users (user N has password N; insecure fixture hashes, demo only)"
"$work/etserver" seed --insecure-fast-hashes --users 40000 --progress=false "${store[@]}"

echo "== creating account 'demo' with a chosen password (read from stdin, never a flag)"
echo "\$ printf 'correct horse battery\\n' | etserver user add demo --password-stdin"
demo_pw='correct horse battery'
printf '%s\n' "$demo_pw" | "$work/etserver" user add demo --password-stdin --log-level warn "${store[@]}" ||
  printf '%s\n' "$demo_pw" | "$work/etserver" user passwd demo --password-stdin --log-level warn "${store[@]}" # a store kept from an earlier run

echo "== starting etserver on loopback"
"$work/etserver" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 "${store[@]}" \
  2>"$work/etserver.log" &
server_pid=$!
addr=""
for _ in $(seq 1 300); do
  addr=$(sed -n 's/.* msg=listening addr=\([^ ]*\).*/\1/p' "$work/etserver.log" | head -n 1)
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "etserver did not start:"; cat "$work/etserver.log"; exit 1
fi
echo "   etserver listens on $addr"

run() { echo "\$ etclient $*"; "$work/etclient" "$@"; }
run login,write,read --server "$addr" -u demo -p "$demo_pw" -k greeting -v "hello from pocket"
echo
run login,write,read --server "$addr" -u 100 -p 100 -k greeting -v "hello from pocket"
echo
echo "== a read without logging in is refused (expected to fail):"
run read --server "$addr" -u 100 -k greeting || true
echo
echo "== a short read benchmark: 8 workers x 2000 requests"
run login,write --server "$addr" -u 40000 -p 40000 -k greeting -v "hello from pocket" >/dev/null
run benchmark read --server "$addr" -u 40000 -p 40000 -k greeting -c 8 -r 2000

echo
echo "== stopping etserver"
kill -TERM "$server_pid"
wait "$server_pid" && echo "   etserver stopped cleanly"
server_pid=""
