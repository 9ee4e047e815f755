#!/usr/bin/env bash
# gofmt, go vet and staticcheck (from the module proxy) over every module.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
STATICCHECK_VERSION=${STATICCHECK_VERSION:-2025.1.1}
mkdir -p bin
GOBIN="$root/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
bad=$(git ls-files '*.go' | xargs -r gofmt -l)
if [ -n "$bad" ]; then echo "not gofmt-formatted:"; echo "$bad"; exit 1; fi
for m in $(scripts/modules.sh); do
  echo "== $m"
  (cd "$m" && go vet ./... && "$root/bin/staticcheck" ./...)
done
