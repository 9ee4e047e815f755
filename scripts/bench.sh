#!/usr/bin/env bash
# Runs each module's benchmarks briefly (BENCHTIME, default 200ms) so the whole set finishes
# in minutes. For figures worth recording run one module's suite with a longer -benchtime
# and -count, as its BENCHMARKS.md says.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/services.sh
pocket_services
for m in $(scripts/modules.sh); do
  echo "== $m"
  (cd "$m" && go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-200ms}" ./...)
done
