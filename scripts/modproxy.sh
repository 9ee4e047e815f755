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
#       proxy; GONOSUMDB for pocket's own modules (they are not public yet); GOMODCACHE a cache
#       of its own, from which pocket's modules are purged first: an unreleased version changes
#       with the tree, and the user's cache must never hold such a copy

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
  export GOMODCACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pocket/proxied-modcache"
  local d
  for d in "$GOMODCACHE/github.com/seed857a6cbd" "$GOMODCACHE/cache/download/github.com/seed857a6cbd"; do
    if [ -d "$d" ]; then chmod -R u+w "$d" && rm -rf "$d"; fi
  done
}
