# Session 28 call I: attention and reference GPU tests at 8348e97 (SG an override).
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
s=$(date +%s); timeout 200 node node_modules/vitest/vitest.mjs run test/attention.test.ts test/reference.test.ts -t '^(?!transformers.reference:.tinylm)' > $OUT/gpu-tests-i.log 2>&1; echo "tests rc $? $(( $(date +%s) - s )) s"
grep -E "Test Files|Tests  |×" $OUT/gpu-tests-i.log | sed 's/\x1b\[[0-9;]*m//g' | head -8
