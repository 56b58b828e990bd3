# Session 40's device calls (2026-12-07, one NVIDIA H100 80GB HBM3, driver 580.159.04, asked for
# nvidia-h200), in order; each run from the project root with the device tool's `run`.
# 1 (carry .device .peers .ab, tinylm out; an H200 would have run the suite's call 1 instead):
#     bash docs/results/s39/next-call.sh      -> call1/ (cut at 600 s in nounion-2's 128K)
# 2 (carry .device .ab; builds: ab-build.sh switch (working tree), switch-same and head-same (one
#    question B times: batchQuestions returning `first` B times), nounion (session 39's)):
#     bash docs/results/s40/call2.sh          -> call2/
# 3 (warm, tinylm back, no carry):
#     source scripts/device/env.sh && node node_modules/vitest/vitest.mjs run test/batch.test.ts test/union.test.ts
#     -> 21 passed
# 4 (warm, carry .ab, tinylm out):
#     bash docs/results/s40/call4.sh          -> call4/
# 5 (fresh machine, carry .device .ab, tinylm out; after unionsRun, 10:45 UTC):
#     bash docs/results/s40/call5.sh          -> call5/ (tests: 53 passed, 142 skipped by the filter)
