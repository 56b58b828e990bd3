#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs to run csattn (a Vulkan adapter, npm packages, the
# build) and, with --test, to run the tests (Chromium for the HTML report test). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-lavapipe.sh
if [[ ${1:-} == --test ]] && ! command -v chromium >/dev/null; then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  echo "installed $(chromium --version 2>/dev/null)"
fi
[[ -d node_modules/webgpu ]] || npm ci --no-audit --no-fund
npm run build
