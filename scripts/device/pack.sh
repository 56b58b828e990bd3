#!/usr/bin/env bash
# Packs what a GPU machine needs (for the device tool: see scripts/device/README.md) to run this project (Node itself, node_modules trimmed to
# linux-x64, the build output, Vulkan loader libraries) into .device/ at the project root.
# Run from the project root after `npm ci` and your build. Then, with the device tool:
#   run  carry: [".device"]  command: "source .device/setup.sh && <your command>"
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
mkdir -p .git/info
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
rm -rf .device && mkdir -p .device/gl
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cp "$here/setup.sh" .device/setup.sh
# Node: the same binary as here, stripped and compressed (~22 MiB).
cp "$(readlink -f "$(command -v node)")" /tmp/device-node && strip /tmp/device-node 2>/dev/null || true
xz -T2 -9e -c /tmp/device-node > .device/node.xz && rm -f /tmp/device-node
# Production dependencies (--tests: all but the compiler, to run vitest's GPU tests there; --all:
# every dependency), and dist/ if present, minus prebuilt binaries for other platforms.
deps() { npm ls "$@" --all --parseable 2>/dev/null | sed "s#^$root/##" | grep '^node_modules/' | sort -u; }
case ${1:-} in
  --all) items=(node_modules) ;;
  --tests) mapfile -t items < <(ls -d node_modules/* node_modules/@*/* | grep -vE '^node_modules/(@[^/]*|\.bin|typescript)$') ;;
  *) mapfile -t items < <(deps --omit=dev) ;;
esac
[[ -d dist ]] && items+=(dist)
tar --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
    --exclude='node_modules/webgpu/dist/linux-arm64*' --exclude='node_modules/webgpu/dist/*.dll' --exclude='node_modules/.cache' \
    -czf .device/app.tgz "${items[@]}"
# Vulkan/EGL loader libraries for the GPU machine (its image lacks libvulkan.so.1).
lists=/tmp/device-apt-lists; mkdir -p "$lists/partial"
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
if ! ls "$lists"/*Packages* >/dev/null 2>&1; then apt-get $o update -qq >/dev/null; fi
(cd .device/gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1)
size=$(du -sm .device | cut -f1)
echo "packed .device: ${size} MiB (the device tool carries at most 64 MiB with the working tree)"
(( size < 60 )) || { echo "too large: trim node_modules (e.g. npm prune --omit=dev before packing)"; exit 1; }
