# Session 29 call G: GPU tests of the final tree (12b2fff): matmul, dense (matmul_batch_mma's two stages), attention (batched from 8 rows), kernels.
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
s=$(date +%s); NO_COLOR=1 timeout 300 node node_modules/vitest/vitest.mjs run test/matmul.test.ts test/dense.test.ts test/attention.test.ts test/kernels.test.ts > $OUT/gpu-tests-g.log 2>&1; echo "tests rc $? $(( $(date +%s) - s )) s: $(grep -E '^ +Tests ' $OUT/gpu-tests-g.log | tr -s ' ')"; grep -E "×" $OUT/gpu-tests-g.log | head -5
