# Session 41 (2026-12-07): the device calls. Fourteen requests from 11:50 UTC got nothing (eight
# failed starts, five refused at once, an H100 taken back mid-call at 12:29), 1,186 s of the
# 1,800-s budget; the fifteenth (12:57) got an NVIDIA H200 with 614 s left: too little for the
# suite (README, To reproduce, ~13 minutes warm), so call A and the GPU tests ran instead.
# Call A (carry .device; fixtures/models and fixtures/facts*.jsonl out of the tree) -> callA/
timeout 470 bash docs/results/s41/callA.sh
# The GPU tests at 3dc5d3a (the tree with tinylm, no carry, the warm machine) -> tests-h200/
source scripts/device/env.sh
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/batch.test.ts test/union.test.ts                       # 22 passed
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/attention.test.ts -t 'batch|Batch|union'              # 38 passed
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/matmul.test.ts                                        # 133 passed
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/csa.test.ts                                           # 76 passed
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/dense.test.ts test/kvcache.test.ts                    # 45 passed
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/attention.test.ts -t 'prefill'                        # 79 passed
NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/attention.test.ts -t '^(?!.*(prefill|batch|Batch|union))'  # 63 passed

# What the suite would have been (the first call when a machine comes with >= 14 minutes of budget):
#   1+2  source .device/setup.sh && tar -xJf .peers/llamacpp.tar.xz -C .peers && GPU_TESTS="test/attention.test.ts test/matmul.test.ts test/dense.test.ts test/csa.test.ts test/baselines.test.ts test/kernels.test.ts test/kvcache.test.ts test/reference.test.ts test/doctor.test.ts test/union.test.ts" VITEST_ARGS='-t ^(?!transformers.reference:.tinylm)' COMMIT=<sha> timeout 590 bash scripts/device/bench-suite.sh checks csattn
#   3    source scripts/device/env.sh && WEIGHTS=F16 bash scripts/device/bench-peers.sh decode batched
#   4    source scripts/device/env.sh && bash scripts/device/bench-variants.sh
