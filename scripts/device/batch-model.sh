#!/usr/bin/env bash
# The model-level check of the batch products on the GPU machine, a call after batch-products.sh on
# the warm machine (its Node, node_modules and dist stay there, a carried .device does not;
# fixtures/models/tinylm back in the tree):
#   run carry []: "bash scripts/device/batch-model.sh [eval]"
# test/batch.test.ts with tinylm (batched greedy answers against one at a time, on tensor cores);
# with `eval`, csattn eval on fixtures/facts.jsonl with all methods at 0.95, --no-batch then batched
# then --no-batch again (the first run pays the prefills; #19's target compares the last two), then
# both again with Dawn's own busy wait (CSATTN_DAWN_POLL=spin: the A/B of src/gpu/polling.ts).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source scripts/device/env.sh
timeout 240 node node_modules/vitest/vitest.mjs run test/batch.test.ts > "$OUT/batch-tests.log" 2>&1; echo "batch tests rc $?"
grep -E "Test Files|Tests  |×" "$OUT/batch-tests.log" | sed 's/\x1b\[[0-9;]*m//g' | head -20
[[ ${1:-} == eval ]] || exit 0
for run in no-batch-cold batch no-batch batch-spin no-batch-spin; do
  flag=$([[ $run == no-batch* ]] && echo --no-batch)
  poll=$([[ $run == *-spin ]] && echo spin || echo timer)
  start=$(date +%s.%N)
  CSATTN_DAWN_POLL=$poll timeout 150 node bin/csattn.js eval fixtures/facts.jsonl --templates fixtures/facts.templates.json --methods csa,oracle,streaming,quest,keypq \
    --sparsity 0.95 --no-recall $flag --out "$OUT/eval-$run.json" --log-level warn > "$OUT/eval-$run.log" 2>&1
  echo "eval $run rc $? $(awk "BEGIN{print $(date +%s.%N) - $start}") s"
done
