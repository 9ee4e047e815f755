# Sourced by consumer-check.sh, release.sh, lint.sh and `make tidy`: builds a file-based Go
# module proxy holding every published module of this repository at its versions.yaml version,
# and sets the environment that makes the go command use it.
#
#   pocket_modproxy DIR [--worktree]
#       DIR/src    an export of the tree: `git archive HEAD` (the committed tree), or with
#                  --worktree the working tree's tracked and untracked-but-not-ignored files
#       DIR/proxy  the proxy (modules already tagged <dir>/vX.Y.Z come from their tag)
#   pocket_modproxy_env DIR
#       GOWORK=off, GOPROXY=DIR/proxy, then the local module cache's downloads, then the usual
#       proxy; GONOSUMDB for pocket's own modules (they are not public yet); GOMODCACHE a new,
#       empty cache in DIR/modcache: an unreleased version changes with the tree, and the go
#       command trusts a module cache never to change (it even indexes a module's packages by
#       its directory), so neither the user's cache nor a reused one may hold such a copy;
#       -trimpath keeps the build cache independent of where that cache is
#   pocket_modproxy_clean DIR
#       removes DIR (the module cache in it is read-only by design)

pocket_modproxy() {
  local dir=$1 mode=${2:-} root
  root=$(git rev-parse --show-toplevel)
  rm -rf "$dir/src" "$dir/proxy"
  mkdir -p "$dir/src" "$dir/proxy"
  if [ "$mode" = --worktree ]; then
    (cd "$root" && git ls-files -z --cached --others --exclude-standard |
      tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$dir/src"
  else
    git -C "$root" archive --format=tar HEAD | tar -xf - -C "$dir/src"
  fi
  (cd "$root/scripts/modtool" && GOWORK=off go run . proxy -root "$dir/src" -git "$root" -out "$dir/proxy")
}

pocket_modproxy_env() {
  local dir=$1 cache upstream
  cache=$(GOWORK=off go env GOMODCACHE)
  upstream=$(GOWORK=off go env GOPROXY)
  export GOWORK=off
  export GOPROXY="file://$dir/proxy,file://$cache/cache/download,$upstream"
  export GONOSUMDB="github.com/seed857a6cbd/pocket${GONOSUMDB:+,$GONOSUMDB}"
  export GOMODCACHE="$dir/modcache"
  export GOFLAGS="${GOFLAGS:-} -trimpath"
}

pocket_modproxy_clean() {
  chmod -R u+w "$1" 2>/dev/null || true
  rm -rf "$1"
}
