#!/usr/bin/env bash
# csattn's rows with quantized weights and K/V and with other CSA settings, beside llama.cpp's Q8_0
# with a q8_0 K/V cache, on the machine where bench-suite.sh and bench-peers.sh just ran (llama.cpp's
# build and GGUFs stay in /tmp while it is warm; a fresh machine builds them first):
#   run (no carry, after bench-suite.sh on the same machine): "source scripts/device/env.sh && bash scripts/device/bench-variants.sh"
# Every row: Llama-3.1-8B shape, random context, 32K and 128K, 64 decode tokens. $OUT gets
# variants.jsonl, variants.log and llamacpp-q8-cache.jsonl; the whole report joins the three
# commands' folders here:
# node scripts/bench/report.mjs SUITE_OUT PEERS_OUT VARIANTS_OUT.
# VARIANTS (one set of csattn bench flags a line) replaces the list below.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
J="$OUT/variants.jsonl" LOG="$OUT/variants.log"
B="node bin/csattn.js bench --log-level warn --json --random-context --contexts 32768,131072 --decode-tokens 64"
source scripts/device/lib.sh
VARIANTS=${VARIANTS:-"--weights q8 --kv q8
--weights q4 --kv q8
--choice pooled --profile
--choice pooled --weights q8 --kv q8
--choice pooled --list-fraction 0.05 --weights q8 --kv q8 --profile"}
while read -r flags; do
  step "csattn $flags"
  # shellcheck disable=SC2086
  run $B $flags
done <<< "$VARIANTS"
step "llama.cpp Q8_0 with a q8_0 K/V cache"
OUT=/tmp/variants-llama JOIN=0 PEERS_LOG="$LOG" WEIGHTS=Q8_0 KV=q8_0 bash scripts/device/bench-peers.sh decode
cp /tmp/variants-llama/llamacpp.jsonl "$OUT/llamacpp-q8-cache.jsonl" 2>/dev/null || step "no llama.cpp lines"
