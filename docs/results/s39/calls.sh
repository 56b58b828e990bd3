# Session 39 (2026-12-07): the device calls of one warm NVIDIA H100 80GB HBM3 (driver 580.159.04),
# 08:13-08:33 UTC, after two failed starts (07:59 `nvidia-h200`, 08:03 `nvidia-h100-x1`). The
# suite's four calls (README, To reproduce) wrote docs/results/suite-h100-s39/; the calls after it
# wrote the files here. Builds: .ab/head (main at 75a9d37, code of f2a6447), .ab/nounion (the same
# with UNION_MIN_CONTEXT = 1 << 30: no unions), .ab/from5 (the same with BATCH_MMA_FROM = 5), each
# `bash scripts/device/ab-build.sh NAME` of the working tree so edited (the edit reverted after).

# Calls 1-4 (the suite): fixtures/models, fixtures/facts*.jsonl out of the tree; carry .device, .peers
#   1 GPU_TESTS="... test/batch.test.ts test/union.test.ts" VITEST_ARGS='-t ^(?!transformers.reference:.tinylm)' COMMIT=75a9d37 bash scripts/device/bench-suite.sh checks
#     (test/batch.test.ts could not load: fixtures/facts.tiny.jsonl was out of the tree; 543 passed, 5 skipped)
#   2 source scripts/device/env.sh && COMMIT=75a9d37 bash scripts/device/bench-suite.sh csattn
#   3 source scripts/device/env.sh && WEIGHTS=F16 bash scripts/device/bench-peers.sh decode batched
#   4 source scripts/device/env.sh && bash scripts/device/bench-variants.sh

# Call 7 (the fixtures back; no carry): the 32K prefill with an empty driver shader cache, then warm
#   -> prefill-cold.jsonl, prefill-warm.jsonl
c=$(mktemp -d); for r in cold warm; do __GL_SHADER_DISK_CACHE_PATH=$c timeout 120 node bin/csattn.js bench --log-level warn --json --contexts 32768 --decode-tokens 8 > $OUT/prefill-$r.jsonl; done
# Call 8: the GPU tests call 1 left out (test/batch.test.ts 6 passed; tinylm's reference cases 5 passed)
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/batch.test.ts > $OUT/gpu-tests-batch.log 2>&1
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/reference.test.ts -t tinylm > $OUT/gpu-tests-ref.log 2>&1

# Calls 9-12 (carry .ab): the union against one selection at a time, and the batch product from 5 tokens
source scripts/device/env.sh >/dev/null; LOG=$OUT/call.log; source scripts/device/lib.sh
for r in 1 2; do for b in head nounion; do T=90 ab_bench $b $b-64k-$r --random-context --contexts 65536 --decode-tokens 16 --batch 4,16 --profile; done; done   # call 9
for r in 1 2; do for b in head nounion; do T=90 ab_bench $b $b-96k-$r --random-context --contexts 98304 --decode-tokens 16 --batch 4,16 --profile; done; done   # call 10
for r in 1 2; do for b in head nounion; do T=120 ab_bench $b $b-b48-$r --random-context --contexts 98304,131072 --decode-tokens 16 --batch 4,8 --profile; done; done  # call 11
for r in 1 2; do for b in head from5; do T=100 ab_bench $b $b-b58-$r --random-context --contexts 32768 --decode-tokens 16 --batch 5,6,8 --profile; done; done     # call 12

# Calls 13-14 (the tree with BATCH_MMA_FROM = 5 and its new test): its GPU tests
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/matmul.test.ts test/dense.test.ts   # 175 passed
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/batch.test.ts test/attention.test.ts -t 'batch|Batch|union'   # 44 passed (batch.test.ts: all 6)
