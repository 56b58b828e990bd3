# Session 29 call H (warm, tinylm in the tree): batch and reference (tinylm's cases) tests of the final tree.
source scripts/device/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
s=$(date +%s); NO_COLOR=1 timeout 200 node node_modules/vitest/vitest.mjs run test/batch.test.ts test/reference.test.ts > $OUT/gpu-tests-h.log 2>&1; echo "tests rc $? $(( $(date +%s) - s )) s: $(grep -E '^ +Tests ' $OUT/gpu-tests-h.log | tr -s ' ')"; grep -E "×" $OUT/gpu-tests-h.log | head -5
