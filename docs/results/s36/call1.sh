# Session 36, call 1: session 35's call1.sh (csa_topk at 1-8 sub-chunks, the 32K prefill with a cold
# then warm driver shader cache, B = 16 / 64 at 32K and 128K) with the GPU tests of every kernel file
# (the README suite's list and test/batch.test.ts; the bundled model's reference cases stay behind);
# `bash call1.sh short` (a short budget: ~7 minutes with the start) tests test/csa.test.ts only.
# Before the call: ab-build.sh head HEAD; aside out; carry .device, .ab
source .device/setup.sh >/dev/null
LOG=$OUT/call.log; source scripts/device/lib.sh
step "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
if [[ ${1:-} == short ]]; then gpu_tests 100 tests-csa test/csa.test.ts; else
gpu_tests 240 tests test/attention.test.ts test/matmul.test.ts test/dense.test.ts test/csa.test.ts test/baselines.test.ts \
  test/kernels.test.ts test/kvcache.test.ts test/reference.test.ts test/doctor.test.ts test/batch.test.ts -t '^(?!transformers.reference:.tinylm)'
fi
b() { ab_bench head "$@"; }
cache=$(mktemp -d)
for run in cold warm; do __GL_SHADER_DISK_CACHE_PATH=$cache T=60 b prefill-$run --contexts 32768 --decode-tokens 8; done
T=150 b b64 --random-context --contexts 32768,131072 --decode-tokens 16 --batch 16,64 --profile
step done
