# Session 35, call 1 (session 34's call5.sh, reordered to fit a short budget): csa_topk's GPU test at 1-8
# sub-chunks (test/csa.test.ts) on HEAD's tree; the 32K prefill + tables of a fresh process with an empty
# driver shader cache, then again with the cache the first run left (#21); B = 16 / 64 at 32K and 128K (#19).
# Before the call: ab-build.sh head HEAD; aside out; carry .device, .ab
source .device/setup.sh >/dev/null
LOG=$OUT/call.log; source scripts/device/lib.sh
step "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
gpu_tests 100 tests-csa test/csa.test.ts
b() { local n=$1; shift; timeout ${T:-200} node .ab/head/bin/csattn.js bench --json --log-level warn "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || step "$n rc $?"; node scripts/bench/summary.mjs $OUT/bench-$n.jsonl 2>&1 | tee -a "$LOG"; }
cache=$(mktemp -d)
for run in cold warm; do __GL_SHADER_DISK_CACHE_PATH=$cache T=60 b prefill-$run --contexts 32768 --decode-tokens 8; done
T=180 b b64 --random-context --contexts 32768,131072 --decode-tokens 16 --batch 16,64 --profile
step done
