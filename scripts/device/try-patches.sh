#!/usr/bin/env bash
# The tensor-core kernel patches waiting for a GPU (docs/patches/README.md), tried in one call: each
# is applied to this tree (WGSL only: kernels are read at run time, so no build), its sweep, A/B and
# GPU tests run, and it is taken out again.
#   run carry [".device"]: "bash scripts/device/try-patches.sh [footprint] [kv2]"   (default: both)
# (after `npm run build && bash scripts/device/pack.sh --tests`, fixtures/models/tinylm moved out of
# the tree for the carry limit). Without .device (a warm machine where setup.sh ran) it uses what is
# unpacked there.
#   footprint: matmul-short-footprint.patch. The products at 64 tokens with it (its short cut should
#              match the generated twins of the session-26 cut) and at 2048 (the long cut unchanged);
#              B = 32 / 64 decode at 32K with and without it, alternated; then matmul, dense and
#              reference tests with it.                                                 ~4 min
#   kv2:       prefill-attention-kv2.patch. The prefill attention with and without KV2 at 32K and
#              128K (each checked against a CPU reference); its tests only if it is to be kept. ~1 min
# $OUT gets try-patches.log.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
if [[ -f .device/setup.sh ]]; then source .device/setup.sh >/dev/null; else source scripts/device/env.sh; fi
parts=${*:-footprint kv2}
has() { [[ " $parts " == *" $1 "* ]]; }
LOG="$OUT/try-patches.log"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$LOG"
# patch(1), or git apply (which works outside a repository too), whichever the machine has.
patched() { if command -v patch >/dev/null; then patch -s -p1 "$@"; else git apply "$@" -; fi; }
apply() { patched < "docs/patches/$1.patch" && echo "applied $1" | tee -a "$LOG"; }
unapply() { patched -R < "docs/patches/$1.patch" && echo "took out $1" | tee -a "$LOG"; }
batch() {  # $1: a label
  timeout 90 node bin/csattn.js bench --log-level warn --json --random-context --contexts 32768 --batch 32,64 --decode-tokens 32 > /tmp/try-b.jsonl 2>>"$LOG"
  node -e 'for (const l of require("fs").readFileSync("/tmp/try-b.jsonl","utf8").split("\n").filter((l)=>l.startsWith("{"))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, (r.batches||[]).map((b)=>"B="+b.batch+" "+b.attention+" "+b.tokensPerSecond.toFixed(0)).join(", ")); }' "$1" | tee -a "$LOG"
}

if has footprint; then
  apply matmul-short-footprint || exit 1
  for T in 64 2048; do
    timeout 60 node scripts/bench/prefill-products.mjs --chunk $T --variants s2x2-i2j4-k32,s2x2-i2j2-k32 2>/dev/null | grep -v "^validation\|^ - \|^\[" | sed "s/^/T=$T /" | tee -a "$LOG"
  done
  for round in 1 2; do batch "with-$round"; unapply matmul-short-footprint; batch "main-$round"; apply matmul-short-footprint; done
  timeout 200 node node_modules/vitest/vitest.mjs run test/matmul.test.ts test/dense.test.ts test/reference.test.ts -t '^(?!transformers.reference:.tinylm)' > /tmp/try-tests.log 2>&1; echo "footprint tests rc $?" | tee -a "$LOG"
  sed 's/\x1b\[[0-9;]*m//g' /tmp/try-tests.log | grep -E "Test Files|Tests  |×" | head -8 | tee -a "$LOG"
  unapply matmul-short-footprint
fi

if has kv2; then
  apply prefill-attention-kv2 || exit 1
  timeout 120 node scripts/bench/prefill-attention.mjs --variants ,KV2 2>&1 | grep -v "^validation\|^ - \|^\[" | tee -a "$LOG"
  unapply prefill-attention-kv2
fi
