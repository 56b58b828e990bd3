# Session 40, call 5: the code of unionsRun (the forms decided by one predicate) on tensor cores:
# the union and batch cases of the attention tests and the union tests, then B = 16 at 96K with
# questions of their own (`.ab/final`, the working tree) and one question 16 times (`.ab/final-same`).
# Carry .device and .ab, tinylm out.
source .device/setup.sh >/dev/null
LOG=$OUT/call.log; source scripts/device/lib.sh
step "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
gpu_tests 150 tests test/union.test.ts test/attention.test.ts -t 'batch|union'
for b in final final-same; do T=100 ab_bench $b $b --random-context --contexts 98304 --batch 16 --decode-tokens 16 --profile; done
step done
