#!/usr/bin/env bash
# gofmt; generated test kit copies fresh (scripts/testkit.sh --check); go vet and staticcheck
# (from the module proxy) over every module; one version of each
# dependency across all go.mod files (scripts/modtool deps); every go.mod and go.sum tidy
# (scripts/tidy.sh --diff). staticcheck is named by the module version of honnef.co/go/tools
# (v0.8.2 is staticcheck 2026.2.2); the proxy no longer answers for the 2025.1.1 release name.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
mkdir -p bin
GOBIN="$root/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
bad=$(git ls-files '*.go' | xargs -r gofmt -l)
if [ -n "$bad" ]; then echo "not gofmt-formatted:"; echo "$bad"; exit 1; fi
echo "== test kit copies fresh"
scripts/testkit.sh --check
for m in $(scripts/modules.sh); do
  echo "== $m"
  (cd "$m" && go vet ./... && "$root/bin/staticcheck" ./...)
done
echo "== one version per dependency"
(cd scripts/modtool && GOWORK=off go run . deps -root "$root")
echo "== go.mod and go.sum tidy"
scripts/tidy.sh --diff
