#!/usr/bin/env bash
# A build of its own for A/B runs on the GPU machine, so that two versions are timed in one call,
# alternated: .ab/NAME holds bin, dist, wgsl, package.json, scripts/bench and a link to fixtures
# (~1.1 MB; node_modules come from the project root there). .ab/ is git-ignored here (.git/info/exclude);
# name it in the run's carry and call `node .ab/NAME/bin/csattn.js ...` or
# `node .ab/NAME/scripts/bench/X.mjs ...`.
#   bash scripts/device/ab-build.sh NAME            the working tree as it is
#   bash scripts/device/ab-build.sh NAME COMMIT     a commit (built in a temporary worktree)
#   bash scripts/device/ab-build.sh NAME FILE.patch HEAD with the patch applied
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: ab-build.sh NAME [COMMIT | FILE.patch]}
from=${2:-}
grep -qx '/.ab/' .git/info/exclude 2>/dev/null || echo '/.ab/' >> .git/info/exclude
src=.
if [[ -n $from ]]; then
  src=$(mktemp -d)/tree
  trap 'git worktree remove --force "$src" >/dev/null 2>&1 || true' EXIT
  if [[ $from == *.patch ]]; then
    patch=$(realpath "$from")
    git worktree add -q --detach "$src" HEAD
    git -C "$src" apply "$patch"
  else
    git worktree add -q --detach "$src" "$from"
  fi
  ln -s "$PWD/node_modules" "$src/node_modules"
fi
(cd "$src" && npx tsc -p tsconfig.json)
out=.ab/$name
rm -rf "$out" && mkdir -p "$out/scripts"
cp -r "$src/bin" "$src/dist" "$src/wgsl" "$src/package.json" "$out/"
cp -r "$src/scripts/bench" "$out/scripts/"
find "$out/dist" \( -name '*.map' -o -name '*.d.ts' \) -delete
ln -s ../../fixtures "$out/fixtures"
echo "built $out ($(du -sh "$out" | cut -f1)) from ${from:-the working tree}"
