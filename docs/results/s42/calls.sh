# Session 42 (2026-12-07): the device calls. The suite's three calls (docs/results/suite-h100-s42/README.md
# has them, on an H100 at be58949), then, after the review mend 784de2f (unionsRun without a selection,
# attentionDecodeBatch refusing a union for lists per query head), its GPU tests on an H100 at a703916
# (carry .device; fixtures/models and fixtures/facts*.jsonl out of the tree) -> union-gpu-h100.log:
source .device/setup.sh && NO_COLOR=1 timeout 330 node node_modules/vitest/vitest.mjs run test/union.test.ts test/attention.test.ts test/csa.test.ts -t 'union|Union|batch|Batch'   # 59 passed
# 784de2f was reverted after review (337a878: it changed behaviour and test assertions, which a review
# mend must not); the final code's union path is be58949's, GPU-tested in the suite (call 1: 555 passed).
