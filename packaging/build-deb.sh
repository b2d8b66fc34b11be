#!/usr/bin/env bash
# Builds the imwatch Debian source and binary packages.
#
#   packaging/build-deb.sh [OUTPUT_DIR]      (default: build-deb/ at the top)
#
# Copies the files git tracks (as they are in the work tree; untracked files
# are left out) to a temporary directory, puts packaging/debian there as
# ./debian, runs dpkg-buildpackage and copies the .deb, .dsc, .tar.xz,
# .changes and .buildinfo files and the build log to OUTPUT_DIR.
# Install the build dependencies first with: apt-get build-dep ./packaging
set -euo pipefail

die() { printf 'build-deb.sh: %s\n' "$*" >&2; exit 1; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$top/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in git dpkg-buildpackage dpkg-parsechangelog; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install git dpkg-dev)"
done
git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
  die "$top is not a git work tree: the file list comes from git"

# The package version must be the one CMake builds.
deb_version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
cmake_version=$(sed -nE 's/^[[:space:]]*project\([[:space:]]*imwatch[[:space:]]+VERSION[[:space:]]+([0-9][0-9.]*).*/\1/p' \
  "$top/CMakeLists.txt" | head -n 1)
[ -n "$cmake_version" ] || die "no 'project(imwatch VERSION x.y.z' line found in CMakeLists.txt"
if [ "$deb_version" != "$cmake_version" ]; then
  die "version mismatch: packaging/debian/changelog says $deb_version, CMakeLists.txt says $cmake_version.
  Add a changelog entry with 'dch -c packaging/debian/changelog -v $cmake_version' (package devscripts),
  or fix project(... VERSION ...)."
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/imwatch-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/imwatch-$deb_version
mkdir "$src"

# Tracked files only; a tracked file deleted in the work tree is skipped.
(cd "$top" && git ls-files -z --cached | while IFS= read -r -d '' f; do
  if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
done) | tar -C "$top" --null --files-from=- -cf - | tar -C "$src" -xf -
rm -rf "$src/debian"
cp -a "$top/packaging/debian" "$src/debian"

log=$out/imwatch_${deb_version}_$(dpkg-architecture -qDEB_HOST_ARCH).build
echo "build-deb.sh: building imwatch $deb_version in $src (log: $log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -Jauto) >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  if grep -q 'Unmet build dependencies' "$log"; then
    die "missing build dependencies; install them with: apt-get build-dep $top/packaging"
  fi
  die "dpkg-buildpackage failed; full log: $log"
fi

shopt -s nullglob
artefacts=("$work"/*.deb "$work"/*.ddeb "$work"/*.dsc "$work"/*.tar.xz "$work"/*.changes "$work"/*.buildinfo)
[ ${#artefacts[@]} -gt 0 ] || die "dpkg-buildpackage produced nothing"
cp -f "${artefacts[@]}" "$out/"
echo "build-deb.sh: results in $out:"
for f in "${artefacts[@]}" "$log"; do printf '  %s\n' "$(basename "$f")"; done
