#!/usr/bin/env bash
# Prints every module directory of the workspace, bottom of the dependency graph first
# (nested modules such as dora/cmd/protoc-gen-dora and entrytask-server/kvpb are named in
# the list).
# The order matters for nothing but readable output: each module builds on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
order="nap lbclient dora dora/cmd/protoc-gen-dora dora/cmd/doractl dora/otel iip httpadapter entrytask-server/kvpb entrytask-server entrytask-client examples benchmarks"
seen=""
for m in $order; do
  [ -f "$m/go.mod" ] && { echo "$m"; seen="$seen $m "; }
done
# Any module not in the list above still gets visited.
for f in */go.mod; do
  m=${f%/go.mod}
  case "$seen" in *" $m "*) ;; *) echo "$m" ;; esac
done
