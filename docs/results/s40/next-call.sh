# The next device call (Pending 14): CSA's pooled centroid choice in batches. A batch's csa_score
# reads each question's 64 lists a KV head (10.8-11.2 ms of a 36-ms B = 16 step at 128K, session
# 40); pooled reads 16 (csa_score 1.29 -> 0.75 ms at B = 1, H200, session 13). Both choices over
# the same random contexts, alternated twice, B = 1, 4, 16, questions of their own; ~6 minutes
# warm. Carry .device (pack.sh --tests) with fixtures/models/tinylm out of the tree.
source .device/setup.sh >/dev/null
LOG=$OUT/call.log; J=$OUT/bench.jsonl; source scripts/device/lib.sh
step "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
for r in 1 2; do
  for c in per-head pooled; do
    step "$c $r"
    timeout 200 node bin/csattn.js bench --json --log-level warn --random-context --contexts 32768,131072 \
      --batch ${BATCHES:-4,16} --decode-tokens 32 --profile --choice $c > "$OUT/bench-$c-$r.jsonl" 2>> "$OUT/bench.err" || step "rc $?"
    node scripts/bench/summary.mjs "$OUT/bench-$c-$r.jsonl" 2>&1 | tee -a "$LOG"
  done
done
step done
