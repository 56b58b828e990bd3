#!/usr/bin/env bash
# On the GPU machine: csattn at the shape of Llama-3.1-8B (random weights: speed does not depend
# on their values). Decode at a short context, then prefill + tables of a 32K-token document and
# decode from its bundle with full attention and with CSA at 0.95. JSON lines into $OUT/bench-8b.jsonl.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
log="$OUT/bench-8b.jsonl"
m=/tmp/llama-3.1-8b
[[ -f $m/config.json ]] || node bin/csattn.js synth-model --preset llama-3.1-8b -o $m --log-level warn
echo "synth done $(date +%T)"
node bin/csattn.js generate --model $m --no-chat --prompt "The quick brown fox" --max-tokens 64 --json | tee -a "$log" | cut -c1-300
# 32K tokens of held-out text: repeated text, cut at the end to exactly 32768 tokens.
for i in $(seq 12); do cat fixtures/heldout/heldout-a.txt; done > /tmp/doc.txt
node bin/csattn.js prefill /tmp/doc.txt -o /tmp/doc32k.csa --model $m --reserve $((131072 - 32768)) --truncate end --json --log-level warn | tee -a "$log"
node bin/csattn.js info /tmp/doc32k.csa
for a in full csa; do
  node bin/csattn.js decode /tmp/doc32k.csa --model $m --attention $a --prompt "What is this text about?" --max-tokens 64 --stop "NEVER" --json | tee -a "$log" | cut -c1-400
done
