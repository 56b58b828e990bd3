#!/usr/bin/env bash
# On the GPU machine (`source .device/setup.sh` first): the evidence on CSAttention's premise
# (README, Accuracy: "Query centroids against key centroids") and the strict-setting sweep that
# chooses CSA's defaults. Reports land in $OUT (default /tmp/out); copy them to docs/results/strict/
# and tabulate them with `node scripts/premise-table.mjs docs/results/strict/premise-*.json`.
#
#   bash scripts/device/eval-premise.sh evidence        # csa and keypq on both fact sets, both question settings
#   bash scripts/device/eval-premise.sh sweep [NAME...] # the strict sweep (every setting below, or the named ones)
#   bash scripts/device/eval-premise.sh list            # the sweep's settings
#
# Every run keeps the probe on (no --no-recall): per layer, the first answer token's cosine to the
# nearest centroid of csa's (prefill-query) and keypq's (key) tables, and their chosen-part recall.
# SETS (default "facts multi") picks the fact sets; LIMIT caps the records per set (default: all).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SETS=${SETS:-facts multi}
declare -A FILE=([facts]=fixtures/facts.jsonl [multi]=fixtures/facts.multi.jsonl)
limit=(${LIMIT:+--limit "$LIMIT"})
run() { node bin/csattn.js eval "$@" --templates fixtures/facts.templates.json --methods csa,keypq --sparsity 0.95 \
  "${limit[@]}" --cache-dir /tmp/cache --log-level warn; }

# One setting changed at a time from the defaults (m = 16, C = 64, alpha = 0.1, kv-head tables):
# name, then the eval flags. tinylm's head dim 64 allows m = 4, 8 or 16 (4 dims a subspace at least).
SWEEP=$(cat <<'LIST'
default
m4 --subspaces 4
m8 --subspaces 8
c16 --centroids 16
c32 --centroids 32
c128 --centroids 128
c256 --centroids 256
a005 --list-fraction 0.05
a02 --list-fraction 0.2
qhead --granularity query-head
pooled --choice pooled
pooled-a005 --choice pooled --list-fraction 0.05
LIST
)

case ${1:-} in
  evidence)
    for set in $SETS; do
      for qa in full sparse; do
        echo "== premise $set, question attention $qa"
        run "${FILE[$set]}" --question-attention "$qa" --out "$OUT/premise-$set-$qa.json" --html "$OUT/premise-$set-$qa.html" | grep -E '^(dataset|all)'
      done
    done ;;
  sweep)
    shift
    while read -r name flags; do
      [[ $# -eq 0 || " $* " == *" $name "* ]] || continue
      for set in $SETS; do
        echo "== strict sweep $name on $set: ${flags:-(defaults)}"
        run "${FILE[$set]}" --question-attention sparse $flags --out "$OUT/sweep-strict-$set-$name.json" | grep -E '^(dataset|all)'
      done
    done <<< "$SWEEP" ;;
  list) echo "$SWEEP" ;;
  *) echo "usage: $0 evidence | sweep [NAME...] | list" >&2; exit 2 ;;
esac
