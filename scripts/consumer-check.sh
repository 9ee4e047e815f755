#!/usr/bin/env bash
# The consumer check: uses pocket the way someone outside this repository does.
#
# From an export of the committed tree (or, with --worktree, of the working tree) it zips every
# module of versions.yaml at its version into a file-based GOPROXY, then, in fresh modules
# outside the tree with GOWORK=off and a new module cache of its own:
#   - `go get <module>@<version>` for each published module, and builds a program importing
#     every public package of it (not internal, not main);
#   - `go install <command>@<version>` for every command of those modules (protoc-gen-dora, doractl,
#     etserver, etclient), and runs each with --version (which must name the version) and --help;
#   - the installed doractl against the installed etserver (embedded store, reflection on, on
#     127.0.0.1): `doractl list`, `describe`, `call kv.Store/Login` and `health` must work.
# Third-party modules come from the local module cache or the usual proxy. Bounded to 8 minutes
# (POCKET_CONSUMER_SECONDS); about a minute with warm caches on an idle box, 227 s once with
# tests running beside it on 2 cores (3 minutes was too tight). Run by `make test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/modproxy.sh

mode=
[ "${1:-}" = --worktree ] && mode=--worktree
work=$(mktemp -d "${TMPDIR:-/tmp}/pocket-consumer.XXXXXX")
trap 'pocket_modproxy_clean "$work"' EXIT
limit=${POCKET_CONSUMER_SECONDS:-480}

pocket_modproxy "$work" $mode >/dev/null
# A new module cache for this run; third-party modules come from the local module cache's
# downloads, and -trimpath lets the build cache serve them whatever the cache's path.
pocket_modproxy_env "$work"
export GOBIN="$work/bin" GOFLAGS="${GOFLAGS:-} -mod=mod"
mapfile -t modules < <(cd scripts/modtool && GOWORK=off GOMODCACHE=$(go env GOMODCACHE) go run . list -root "$root")

check() {
  local dir=$1 path=$2 version=$3 use="$work/use/$1"
  mkdir -p "$use"
  cd "$use"
  printf 'module example.com/consumer\n\ngo 1.26.0\n' >go.mod
  go get "$path@$version" >/dev/null 2>"$use/get.log" || { cat "$use/get.log"; echo "consumer: go get $path@$version failed"; return 1; }
  local pkgs mains listing
  listing=$(go list -f '{{.Name}} {{.ImportPath}}' "$path/..." 2>"$use/list.log") || { cat "$use/list.log"; echo "consumer: go list $path/... failed"; return 1; }
  pkgs=$(awk '$1 != "main" {print $2}' <<<"$listing" | grep -v -e '/internal/' -e '/internal$' || true)
  mains=$(awk '$1 == "main" {print $2}' <<<"$listing")
  local n=$(echo $pkgs | wc -w) cmd
  for cmd in $mains; do
    go install "$cmd@$version" 2>"$use/install.log" || { cat "$use/install.log"; echo "consumer: go install $cmd@$version failed"; return 1; }
    local bin="$GOBIN/${cmd##*/}" out
    out=$("$bin" --version) || { echo "consumer: ${cmd##*/} --version failed"; return 1; }
    case "$out" in *"$version"*) ;; *) echo "consumer: ${cmd##*/} --version says '$out', want $version"; return 1 ;; esac
    "$bin" --help >/dev/null || { echo "consumer: ${cmd##*/} --help failed"; return 1; }
    echo "consumer: go install ${cmd}@$version: $out"
  done
  if [ "$n" -gt 0 ]; then
    echo "consumer: go get $path@$version: a program importing its $n public packages builds"
  fi
}

start=$SECONDS
for line in "${modules[@]}"; do
  read -r dir path version <<<"$line"
  check "$dir" "$path" "$version"
  if [ $((SECONDS - start)) -gt "$limit" ]; then
    echo "consumer: over its ${limit}s bound after $dir"
    exit 1
  fi
done
echo "consumer: ${#modules[@]} modules installable from a module proxy ($((SECONDS - start))s)"

# The installed doractl against the installed etserver with reflection on (issue #20).
doractl_against_etserver() {
  local et="$work/etserver-data" log="$work/etserver.log" pid addr
  "$GOBIN/etserver" seed --insecure-fast-hashes --data-dir "$et" --users 2 >/dev/null 2>&1 ||
    { echo "consumer: etserver seed failed"; return 1; }
  "$GOBIN/etserver" serve --data-dir "$et" --listen 127.0.0.1:0 --admin-listen "" --reflection \
    --log-format json 2>"$log" &
  pid=$!
  # The "listening" record names the port; wait for it (bounded), not for a fixed time.
  addr=$(timeout 20 tail -n +1 -f "$log" | grep -m1 '"msg":"listening"' |
    sed -n 's/.*"addr":"\([^"]*\)".*/\1/p') || true
  local rc=0 out
  if [ -z "$addr" ]; then
    echo "consumer: etserver did not report listening within 20 s"; cat "$log"; rc=1
  else
    out=$("$GOBIN/doractl" list "$addr" --timeout 10s) && grep -qx kv.Store <<<"$out" ||
      { echo "consumer: doractl list $addr: $out"; rc=1; }
    out=$("$GOBIN/doractl" describe "$addr" kv.Store --timeout 10s) && grep -q 'rpc Login' <<<"$out" ||
      { echo "consumer: doractl describe: $out"; rc=1; }
    out=$("$GOBIN/doractl" call "$addr" kv.Store/Login '{"username":"1","password":"1"}' --timeout 10s) &&
      grep -q '"token"' <<<"$out" || { echo "consumer: doractl call: $out"; rc=1; }
    out=$("$GOBIN/doractl" health "$addr" --timeout 10s) && [ "$out" = SERVING ] ||
      { echo "consumer: doractl health: $out"; rc=1; }
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$rc" = 0 ] && echo "consumer: installed doractl list/describe/call/health work against the installed etserver ($addr)"
  return "$rc"
}
doractl_against_etserver
