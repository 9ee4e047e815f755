#!/usr/bin/env bash
# Runs every test of every module: services up, generated code fresh, then per module
# `go vet` and `go test -race -count=1`, then a GOWORK=off build of each module that keeps
# `replace` lines, then the consumer check (scripts/consumer-check.sh: every published module
# installed by version from a module proxy, outside the tree).
# Usage: scripts/test.sh [module ...]   (default: every module)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/services.sh
pocket_services

# The scaled-out Redis deployments (scripts/redis-scale.sh), started once for every module's
# tests and stopped on exit: POCKET_TEST_REDIS_CLUSTER (a 3-master cluster's masters) and
# POCKET_TEST_REDIS_SENTINELS (3 sentinels watching primary "pocket" and its replica).
# Set either beforehand to use a deployment of your own instead.
scale_dir=$(mktemp -d)
trap 'scripts/redis-scale.sh stop "$scale_dir/cluster" 2>/dev/null; scripts/redis-scale.sh stop "$scale_dir/sentinel" 2>/dev/null; rm -rf "$scale_dir"' EXIT
if [ -z "${POCKET_TEST_REDIS_CLUSTER:-}" ]; then
  mkdir "$scale_dir/cluster"
  POCKET_TEST_REDIS_CLUSTER=$(scripts/redis-scale.sh cluster "$scale_dir/cluster" | sed -n 's/^addrs=//p')
  export POCKET_TEST_REDIS_CLUSTER
fi
if [ -z "${POCKET_TEST_REDIS_SENTINELS:-}" ]; then
  mkdir "$scale_dir/sentinel"
  POCKET_TEST_REDIS_SENTINELS=$(scripts/redis-scale.sh sentinel "$scale_dir/sentinel" | sed -n 's/^sentinels=//p')
  export POCKET_TEST_REDIS_SENTINELS
fi
echo "services: POCKET_TEST_REDIS_CLUSTER=$POCKET_TEST_REDIS_CLUSTER"
echo "services: POCKET_TEST_REDIS_SENTINELS=$POCKET_TEST_REDIS_SENTINELS"

modules=("$@")
[ ${#modules[@]} -gt 0 ] || mapfile -t modules < <(scripts/modules.sh)

start=$SECONDS
echo "== generated code is up to date"
scripts/proto.sh --check

failed=()
for m in "${modules[@]}"; do
  echo "== $m: vet + test -race"
  t0=$SECONDS
  if ! (cd "$m" && go vet ./... && go test -race -count=1 -timeout 15m ./...); then
    failed+=("$m")
  fi
  echo "== $m: $((SECONDS - t0))s"
done
# The side-by-side suites are too heavy for CI: build them and run each benchmark once.
for m in "${modules[@]}"; do
  if [ "$m" = benchmarks ]; then
    echo "== benchmarks: every benchmark once (-benchtime=1x)"
    (cd benchmarks && go test -run '^$' -bench . -benchtime=1x ./...) || failed+=("benchmarks (-benchtime=1x)")
  fi
done
for m in "${modules[@]}"; do
  if ! grep -q '=> \.\./' "$m/go.mod" && grep -q 'github.com/seed857a6cbd/pocket/[^ ]* v' "$m/go.mod"; then
    echo "== $m: no replace lines; built by the consumer check instead"
    continue
  fi
  echo "== $m: GOWORK=off build"
  (cd "$m" && GOWORK=off go build ./... && GOWORK=off go vet ./... >/dev/null) || failed+=("$m (GOWORK=off)")
done
if [ $# -eq 0 ]; then
  echo "== consumer check: every published module from a module proxy, outside the tree"
  t0=$SECONDS
  # consumer-check.sh checks its 3-minute bound between modules; timeout ends a hung go command.
  timeout 300 scripts/consumer-check.sh || failed+=("consumer check")
  echo "== consumer check: $((SECONDS - t0))s"
fi
echo "== all modules: $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "ok: every module passed"
