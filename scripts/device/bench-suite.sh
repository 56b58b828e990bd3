#!/usr/bin/env bash
# The whole performance benchmark on the GPU machine, in one command (< 10 minutes):
#   run carry [".device"], command: "source .device/setup.sh && bash scripts/device/bench-suite.sh"
# Llama-3.1-8B shape (random weights): 32K and 128K with a real prefill, tables and kernel timings
# (32K also bundle write/load); 64K decode over a random context; Qwen3-8B and Mistral-7B shapes at
# 32K; transformers (PyTorch) at the same shapes.
# JSON lines, the Markdown table (bench.md), bench.json and a chart (bench.svg) go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
B="node bin/csattn.js bench --log-level warn --json"
step() { echo "[$(date +%T)] $*"; }
step "csattn llama-3.1-8b 32K: prefill, tables, bundle write/load, decode"
$B --contexts 32768 --bundle-io --profile > "$OUT/csattn-32k.jsonl" 2> "$OUT/csattn-32k.err" || tail -3 "$OUT/csattn-32k.err"
step "csattn llama-3.1-8b 128K: prefill, tables, decode"
$B --contexts 131072 --profile > "$OUT/csattn-128k.jsonl" 2> "$OUT/csattn-128k.err" || tail -3 "$OUT/csattn-128k.err"
step "PyTorch reference"
node --input-type=module -e "import { PRESETS } from './dist/model/synth.js'; console.log(JSON.stringify(PRESETS['llama-3.1-8b'].config))" > /tmp/llama-3.1-8b.json
timeout 200 python3 scripts/bench/torch_reference.py --config /tmp/llama-3.1-8b.json --contexts 32768,65536,131072 > "$OUT/pytorch.jsonl" 2> "$OUT/pytorch.err" || tail -5 "$OUT/pytorch.err"
step "csattn llama-3.1-8b 64K: random context, decode"
$B --contexts 65536 --random-context --profile > "$OUT/csattn-64k.jsonl" 2> "$OUT/csattn-64k.err" || tail -3 "$OUT/csattn-64k.err"
for p in qwen3-8b mistral-7b; do
  step "csattn $p 32K: random context, decode"
  $B --preset $p --contexts 32768 --random-context --decode-tokens 64 > "$OUT/csattn-$p.jsonl" 2> "$OUT/csattn-$p.err" || tail -3 "$OUT/csattn-$p.err"
done
step "report"
node scripts/bench/report.mjs "$OUT"
