#!/usr/bin/env bash
# Refreshes the JavaScript libraries vendored under static/vendor/ from the npm registry.
# The pinned versions below are the one place they are recorded; each package's licence
# is copied beside its files. Nothing is loaded from a CDN at run time.
#   bash scripts/vendor_static.sh        (needs npm; commit what it changes)
set -euo pipefail
cd "$(dirname "$0")/.."

# name@version  file-in-the-package...   (copied to static/vendor/<name>/)
PACKAGES=(
  "htmx.org@2.0.11 dist/htmx.min.js LICENSE"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "${PACKAGES[@]}"; do
  read -r spec files <<<"$entry"
  name=${spec%@*}
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  tarball=$(ls "$work"/*.tgz)
  mkdir -p "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked"
  target="static/vendor/$name"
  rm -rf "$target"
  mkdir -p "$target"
  for file in $files; do
    cp "$work/unpacked/package/$file" "$target/"
  done
  echo "$spec" >"$target/VERSION"
  rm -rf "$work/unpacked" "$tarball"
  echo "vendored $spec into $target"
done
