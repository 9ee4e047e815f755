#!/usr/bin/env bash
# `go mod tidy` in every module, bottom-up, each on its own (GOWORK=off).
#
# Modules that keep `replace` lines for their siblings tidy against the local tree. Modules that
# carry none (those with commands users `go install`: etserver, etclient, protoc-gen-dora, doractl)
# resolve their siblings through a file-based proxy built from the working tree
# (scripts/modproxy.sh). Their go.sum leaves out the lines of siblings whose version is not
# tagged yet: such a version's hash changes with every commit until it is tagged, and nothing
# reads those lines (`go install …@version` does not consult the installed module's go.sum, and
# daily work uses go.work). Lines of tagged siblings stay and are checked.
#
# With --diff nothing is written: it fails when a go.mod or go.sum is not tidy (make lint).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/modproxy.sh

diff=false
[ "${1:-}" = --diff ] && diff=true
work=$(mktemp -d "${TMPDIR:-/tmp}/pocket-tidy.XXXXXX")
trap 'pocket_modproxy_clean "$work"' EXIT

# Every directory with a go.mod: the published modules (versions.yaml) first, bottom-up, then
# the rest (examples, benchmarks, scripts/modtool).
manifest=$(cd scripts/modtool && GOWORK=off go run . list -root "$root")
mapfile -t published < <(awk '{print $1}' <<<"$manifest")
mapfile -t all < <(find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' | sed 's|^\./||; s|/go.mod$||' | sort)
dirs=("${published[@]}")
for d in "${all[@]}"; do
  case " ${published[*]} " in *" $d "*) ;; *) dirs+=("$d") ;; esac
done

# untagged: module paths of published modules whose manifest version has no tag yet.
untagged=()
while read -r d p v; do
  git rev-parse -q --verify "refs/tags/$d/$v" >/dev/null || untagged+=("$p")
done <<<"$manifest"

strip_untagged() { # go.sum file
  local p
  [ -f "$1" ] || return 0
  for p in "${untagged[@]}"; do
    sed -i "\\|^$p v|d" "$1"
  done
}

needs_proxy() { # module dir: requires a sibling and has no replace for it
  grep -q 'github.com/seed857a6cbd/pocket/[^ ]* v' "$1/go.mod" && ! grep -q '=> \.\./' "$1/go.mod"
}

proxied=false
failed=()
for d in "${dirs[@]}"; do
  if needs_proxy "$d"; then
    if ! $proxied; then
      pocket_modproxy "$work" --worktree >/dev/null
      proxied=true
    fi
    # shellcheck disable=SC2046
    env=(env $(pocket_modproxy_env "$work"; echo "GOPROXY=$GOPROXY GONOSUMDB=$GONOSUMDB GOMODCACHE=$GOMODCACHE"))
    # (GOFLAGS keeps the caller's: a space in it would not survive this word list.)
    target="$d"
    if $diff; then
      # Tidy a copy, then compare: -diff would count the left-out sibling lines as missing.
      target="$work/copy/$d"
      rm -rf "$target" && mkdir -p "$target"
      (cd "$d" && git ls-files -z --cached --others --exclude-standard . | tar --null -T - -cf -) | tar -xf - -C "$target"
    fi
    strip_untagged "$target/go.sum"
    if ! (cd "$target" && "${env[@]}" GOWORK=off go mod tidy 2>"$work/tidy.log"); then
      cat "$work/tidy.log"; failed+=("$d"); continue
    fi
    strip_untagged "$target/go.sum"
    if $diff; then
      if ! diff -u "$d/go.mod" "$target/go.mod" || ! diff -u "$d/go.sum" "$target/go.sum"; then
        echo "tidy: $d is not tidy (run 'make tidy')"
        failed+=("$d")
      fi
    fi
  elif $diff; then
    if ! out=$(cd "$d" && GOWORK=off go mod tidy -diff 2>&1); then
      echo "tidy: $d is not tidy (run 'make tidy'):"
      echo "$out" | head -40
      failed+=("$d")
    fi
  else
    (cd "$d" && GOWORK=off go mod tidy) || failed+=("$d")
  fi
  $diff || echo "tidy: $d"
done
[ ${#failed[@]} -eq 0 ] || { echo "tidy: FAILED: ${failed[*]}"; exit 1; }
$diff && echo "tidy: every go.mod and go.sum is tidy (${#dirs[@]} modules)"
exit 0
