#!/usr/bin/env bash
# Where the batch product's and decode attention's time goes, in one call (~3 minutes):
#   run carry [".device"]: "bash scripts/device/probes.sh"   (after `npm run build && bash scripts/device/pack.sh --tests`)
# Applies docs/patches/batch-product-probes.patch and decode-attention-probes.patch to the device's
# copy of the tree (WGSL only: nothing to rebuild), then sweeps their variants: the batch product's
# at 16 tokens (matvec.mjs --batch-variants) and decode attention's at 32K and 128K, dense and
# sparse (attention.mjs --variants), each after a run thrown away. $OUT gets batch.txt and attention.txt.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
if [[ -f .device/setup.sh ]]; then source .device/setup.sh >/dev/null; else source scripts/device/env.sh; fi
nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null; date -u
for p in batch-product-probes decode-attention-probes; do
  patch -p1 -s < "docs/patches/$p.patch" || git apply "docs/patches/$p.patch" || { echo "$p did not apply"; exit 1; }
done
timeout 60 node scripts/bench/matvec.mjs --tokens 16 --json > /dev/null 2>&1  # a fresh machine's first runs are slow
timeout 150 node scripts/bench/matvec.mjs --tokens 16 --batch-variants ",PUT_ROT,ABL_NO_MMA,ABL_NO_PUT,ABL_NO_FETCH,ABL_NO_MMA+ABL_NO_PUT" > "$OUT/batch.txt" 2>&1
echo "batch product rc $?"; grep "^T = 16" "$OUT/batch.txt"
timeout 200 node scripts/bench/attention.mjs --variants ",ABL_NO_V,ABL_NO_DOT,ABL_NO_ACC,ABL_ONE_BARRIER,ABL_NO_DOT+ABL_NO_ACC,ABL_NO_V+ABL_NO_DOT+ABL_NO_ACC" > "$OUT/attention.txt" 2>&1
echo "attention rc $?"; grep -E "keys|: [0-9]" "$OUT/attention.txt" | grep -v "^Warning"
