#!/usr/bin/env bash
# Refreshes the JavaScript libraries vendored under static/vendor/ from the npm registry.
# The pinned versions below are the one place they are recorded; each package's licence
# is copied beside its files. Nothing is loaded from a CDN at run time.
#   bash scripts/vendor_static.sh        (needs npm; commit what it changes)
set -euo pipefail
cd "$(dirname "$0")/.."

# name@version  file-or-folder-in-the-package...   (copied to static/vendor/<name>/)
PACKAGES=(
  "htmx.org@2.0.11 dist/htmx.min.js LICENSE"
  "leaflet@1.9.4 dist/leaflet.js dist/leaflet.css dist/images LICENSE"
  "@geoman-io/leaflet-geoman-free@2.20.2 dist/leaflet-geoman.min.js dist/leaflet-geoman.css LICENSE"
  "chart.js@4.6.1 dist/chart.umd.js LICENSE.md"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "${PACKAGES[@]}"; do
  read -r spec files <<<"$entry"
  name=${spec%@*}
  name=${name##*/}  # a scoped package goes under its own name
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  tarball=$(ls "$work"/*.tgz)
  mkdir -p "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked"
  target="static/vendor/$name"
  rm -rf "$target"
  mkdir -p "$target"
  for file in $files; do
    cp -r "$work/unpacked/package/$file" "$target/"
  done
  # Source maps are not shipped: drop the comments that point at them, or the static
  # files manifest would look for them. Files only: a folder may be named chart.js.
  find "$target" -type f \( -name '*.js' -o -name '*.css' \) -exec sed -i '/^\/[\/*]# sourceMappingURL=/d' {} +
  # Icons inlined as data: URLs may hold `url(%23id)` (an SVG mask); the static files
  # manifest would rewrite that as a file reference and break the icon. Percent-encoded
  # brackets mean the same to the browser and nothing to the manifest.
  find "$target" -type f -name '*.css' -exec sed -i 's/url(%23\([A-Za-z0-9_-]*\))/url%28%23\1%29/g' {} +
  echo "$spec" >"$target/VERSION"
  rm -rf "$work/unpacked" "$tarball"
  echo "vendored $spec into $target"
done
