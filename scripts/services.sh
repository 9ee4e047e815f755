#!/usr/bin/env bash
# Makes sure the services the tests use are installed and running on loopback, then exports
#   POCKET_TEST_MYSQL_DSN   go-sql-driver DSN of the pocket_test database (MariaDB, 127.0.0.1:3306)
#   POCKET_TEST_REDIS_ADDR  host:port of Redis (127.0.0.1:6379)
# Missing Debian packages (mariadb-server, redis-server, protobuf-compiler) are installed with
# apt-get when running as root (or through passwordless sudo). Source it to get the variables:
#   . scripts/services.sh
# Variables already set in the environment are kept as they are. A Redis this script starts
# keeps its data in an append-only file (see POCKET_REDIS_PERSISTENCE); one already running on
# 6379 is left as it is.

_svc_log() { echo "services: $*" >&2; }

_svc_sudo() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else _svc_log "need root to run: $*"; return 1
  fi
}

# _svc_port_open HOST PORT: true when something accepts TCP connections there.
_svc_port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# _svc_wait_port HOST PORT SECONDS
_svc_wait_port() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    _svc_port_open "$1" "$2" && return 0
    sleep 0.1
  done
  return 1
}

_svc_install() {
  local missing=()
  command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
  [ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    _svc_log "installing ${missing[*]}"
    _svc_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    _svc_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 || return 1
  fi
}

# POCKET_REDIS_PERSISTENCE are the persistence flags of every Redis this repository starts
# (here, and the tests that start their own, which read them with pocket_redis_persistence):
# the append-only file, written before each reply and fsynced once a second. An acknowledged
# write survives a crash of the Redis process (kill -9: it is in the kernel's page cache); a
# crash of the machine loses at most the last second or two. RDB snapshots are off: the AOF
# alone is loaded on start. The one exception to "written before each reply": when an fsync
# takes longer than the event loop (a stalled disk), Redis postpones writing for up to 2 s.
POCKET_REDIS_PERSISTENCE=(--appendonly yes --appendfsync everysec --save "")

# pocket_redis_persistence prints POCKET_REDIS_PERSISTENCE, one flag per line.
pocket_redis_persistence() { printf '%s\n' "${POCKET_REDIS_PERSISTENCE[@]}"; }

# _svc_start_redis starts Redis on 127.0.0.1:6379 with POCKET_REDIS_PERSISTENCE, unless
# something already listens there: a Redis started otherwise (the machine's own service) is
# used as it is, whatever its persistence.
_svc_start_redis() {
  _svc_port_open 127.0.0.1 6379 && return 0
  _svc_log "starting redis-server on 127.0.0.1:6379 (append-only file, fsync every second, in /var/lib/redis)"
  _svc_sudo mkdir -p /var/lib/redis /var/log/redis
  _svc_sudo redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
    "${POCKET_REDIS_PERSISTENCE[@]}" --dir /var/lib/redis --logfile /var/log/redis/pocket.log >&2 || return 1
  _svc_wait_port 127.0.0.1 6379 30 || { _svc_log "redis did not come up within 30s"; return 1; }
}

_svc_start_mariadb() {
  _svc_port_open 127.0.0.1 3306 && return 0
  _svc_log "starting mariadbd on 127.0.0.1:3306"
  _svc_sudo mkdir -p /run/mysqld
  _svc_sudo chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then
    _svc_sudo mariadb-install-db --user=mysql --datadir=/var/lib/mysql >&2 || return 1
  fi
  _svc_sudo start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
    --user=mysql --bind-address=127.0.0.1 >&2 || return 1
  _svc_wait_port 127.0.0.1 3306 60 || { _svc_log "mariadb did not come up within 60s"; return 1; }
}

# _svc_mysql_dsn prints a DSN that reaches the pocket_test database over TCP, creating the
# database (and, when root cannot log in over TCP without a password, a 'pocket' user).
_svc_mysql_dsn() {
  local q="CREATE DATABASE IF NOT EXISTS pocket_test CHARACTER SET utf8mb4"
  if mariadb -h127.0.0.1 -P3306 -uroot -e "$q" >/dev/null 2>&1; then
    echo "root@tcp(127.0.0.1:3306)/pocket_test?parseTime=true&multiStatements=true"
    return 0
  fi
  # Fresh Debian installs let root in through the unix socket only.
  _svc_sudo mariadb -uroot -e "$q;
    CREATE USER IF NOT EXISTS 'pocket'@'127.0.0.1' IDENTIFIED BY 'pocket';
    CREATE USER IF NOT EXISTS 'pocket'@'localhost' IDENTIFIED BY 'pocket';
    GRANT ALL ON \`pocket\\_%\`.* TO 'pocket'@'127.0.0.1';
    GRANT ALL ON \`pocket\\_%\`.* TO 'pocket'@'localhost';" >&2 || return 1
  echo "pocket:pocket@tcp(127.0.0.1:3306)/pocket_test?parseTime=true&multiStatements=true"
}

pocket_services() {
  _svc_install || return 1
  if [ -z "${POCKET_TEST_REDIS_ADDR:-}" ]; then
    _svc_start_redis || return 1
    export POCKET_TEST_REDIS_ADDR=127.0.0.1:6379
  fi
  if [ -z "${POCKET_TEST_MYSQL_DSN:-}" ]; then
    _svc_start_mariadb || return 1
    POCKET_TEST_MYSQL_DSN=$(_svc_mysql_dsn) || return 1
    export POCKET_TEST_MYSQL_DSN
  fi
  _svc_log "POCKET_TEST_MYSQL_DSN=$POCKET_TEST_MYSQL_DSN"
  _svc_log "POCKET_TEST_REDIS_ADDR=$POCKET_TEST_REDIS_ADDR"
}

# Run directly: set everything up and print the variables as shell assignments.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  pocket_services
  printf 'export POCKET_TEST_MYSQL_DSN=%q\nexport POCKET_TEST_REDIS_ADDR=%q\n' \
    "$POCKET_TEST_MYSQL_DSN" "$POCKET_TEST_REDIS_ADDR"
fi
