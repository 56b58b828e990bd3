#!/usr/bin/env bash
# Gives Dawn a Vulkan adapter on a machine without a GPU driver: Mesa's software rasterizer
# (lavapipe) from Debian 12's bookworm-backports (bookworm's own Mesa 22.3 is too old for Dawn).
# Does nothing when a Vulkan driver is already installed. Needs root (or sudo) and apt.
set -euo pipefail
icds=$(shopt -s nullglob; echo /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json)
mesa=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
# Any driver other than an old (non-backports) Mesa will do.
if [[ -n $icds && ( -z $mesa || $mesa == *bpo* ) ]]; then
  echo "Vulkan driver present: $icds"
  exit 0
fi
sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
command -v apt-get >/dev/null || { echo "no apt-get: install a Vulkan driver (GPU driver or Mesa lavapipe >= 23) by hand" >&2; exit 1; }
src=/etc/apt/sources.list.d/debian.sources
if grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  : # backports already configured
elif [[ -f $src ]]; then
  # A backports entry modelled on the machine's first source stanza (same mirror and keys).
  awk 'BEGIN{RS="";ORS="\n\n"} NR==1{sub(/Suites:[^\n]*/,"Suites: bookworm-backports"); print}' "$src" \
    | $sudo tee /etc/apt/sources.list.d/csattn-backports.sources >/dev/null
else
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $sudo tee /etc/apt/sources.list.d/csattn-backports.list >/dev/null
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
echo "installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
