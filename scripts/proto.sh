#!/usr/bin/env bash
# Regenerates every protobuf file of the workspace with `go generate` in each module that
# has //go:generate lines calling protoc. protoc-gen-go (at the version dora's go.mod pins)
# and protoc-gen-dora (built from this tree) are installed into ./bin first.
# With --check it fails when the committed generated code differs from a fresh generation.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check=false
[ "${1:-}" = "--check" ] && check=true

mods=()
for m in $(scripts/modules.sh); do
  grep -rqs --include='*.go' -E '^//go:generate .*protoc' "$m" && mods+=("$m")
done
if [ ${#mods[@]} -eq 0 ]; then
  echo "proto: no module generates protobuf code yet"
  exit 0
fi
command -v protoc >/dev/null || { echo "proto: protoc not found (apt-get install -y protobuf-compiler)"; exit 1; }

mkdir -p bin
export GOBIN="$root/bin" PATH="$root/bin:$PATH"
(cd dora && GOWORK=off go install google.golang.org/protobuf/cmd/protoc-gen-go)
# protoc-gen-dora is a module of its own; built from the checkout it writes "(devel)" as its
# version into generated headers, so committed code does not change with every commit.
(cd dora/cmd/protoc-gen-dora && GOWORK=off go install .)
for m in "${mods[@]}"; do
  echo "proto: go generate in $m"
  (cd "$m" && go generate ./...)
done
if $check; then
  if ! git diff --quiet -- '*.pb.go' || [ -n "$(git ls-files --others --exclude-standard -- '*.pb.go')" ]; then
    echo "proto: committed generated code is stale; run 'make proto' and commit:"
    git status --short -- '*.pb.go'
    exit 1
  fi
  echo "proto: generated code is up to date"
fi
