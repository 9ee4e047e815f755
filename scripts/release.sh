#!/usr/bin/env bash
# Prepares a release: scripts/release.sh vX.Y.Z [module-dir ...]   (make release VERSION=… MODULES=…)
#
# 1. sets the modules' lines in versions.yaml to the version (every published module when none
#    is named) and every go.mod's require of those modules to it (scripts/modtool bump);
# 2. runs `go mod tidy` in every module, bottom-up (scripts/tidy.sh);
# 3. verifies: one version per dependency, and the consumer check on the working tree
#    (every published module fetched by version from a module proxy, outside the tree);
# 4. prints the commit and `git tag <dir>/vX.Y.Z` commands, dependencies first.
# It never commits, tags or pushes: a maintainer reviews the diff and runs those commands.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=${1:-}
shift || true
if [ -z "$version" ]; then
  echo "usage: scripts/release.sh vX.Y.Z [module-dir ...]" >&2
  exit 2
fi
modules=$(IFS=,; echo "$*")

modtool() { (cd scripts/modtool && GOWORK=off go run . "$@" -root "$root"); }

echo "== bump $version ${modules:-(every published module)}"
modtool bump -version "$version" -modules "$modules"
echo "== tidy, bottom-up"
scripts/tidy.sh
echo "== verify"
modtool deps
scripts/consumer-check.sh --worktree

echo
echo "Ready. Review 'git diff', then:"
echo "  git commit -am 'release: ${modules:-all modules} $version'"
while read -r dir _ v; do
  if [ "$v" = "$version" ] && { [ -z "$modules" ] || [[ ",$modules," == *",$dir,"* ]]; }; then
    if git rev-parse -q --verify "refs/tags/$dir/$v" >/dev/null; then
      echo "  # $dir/$v is already tagged"
    else
      echo "  git tag $dir/$v"
    fi
  fi
done < <(modtool list)
echo "and push the commit and the tags together."
