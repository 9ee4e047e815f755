#!/usr/bin/env bash
# The failover tests of etserver's scaled-out deployments (make test-scale; bounded, under
# 5 minutes): each starts its own Redis Cluster or Sentinel set with scripts/redis-scale.sh
# (and etserver processes), SIGKILLs a master or an instance under load, and checks that
# only the calls it was serving fail and that service is back within the failover time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/services.sh
pocket_services
cd entrytask-server
POCKET_TEST_SCALE=1 exec timeout 330 go test -race -count=1 -timeout 5m -run 'Failover|ManyInstances' -v \
  ./infra/redis ./cmd/etserver
