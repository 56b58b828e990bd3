# Session 28 call G (warm, after F; tinylm in the tree): tinylm's reference and batch tests on the GPU with RB = 2 and MMA_LONG_FROM = 320.
source scripts/device/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
s=$(date +%s); timeout 300 node node_modules/vitest/vitest.mjs run test/reference.test.ts test/batch.test.ts > $OUT/gpu-tests-g.log 2>&1; echo "tests rc $? $(( $(date +%s) - s )) s"
grep -E "Test Files|Tests  |×" $OUT/gpu-tests-g.log | sed 's/\x1b\[[0-9;]*m//g' | head -12
