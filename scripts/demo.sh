#!/usr/bin/env bash
# The README's demo. Until the entry task (etserver + etclient) lands, it runs the runnable
# examples of the modules that exist: each Example* test dials a real server on loopback.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for m in $(scripts/modules.sh); do
  if grep -rqs --include='example_test.go' -E '^func Example' "$m"; then
    echo "== demo: $m examples"
    (cd "$m" && go test -count=1 -run '^Example' -v ./... | grep -vE '^(=== RUN|ok|PASS|\?)' || true)
  fi
done
