# Session 28 call B: prefill attention R2 (two 16-row blocks a subgroup); matmul_mma's short cut with TJ = 2 (64 x 64 tiles without SwiGLU): products, B = 32/64 against .ab/fp (47e5bf5), GPU tests.
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 150 node scripts/bench/prefill-attention.mjs --variants ,R2 2>&1 | grep -v "^validation\|^ - \|^\["
for T in 32 64 96 128; do timeout 45 node scripts/bench/prefill-products.mjs --chunk $T --reps 7 --variants s2x2-i2j2-k32 2>/dev/null | grep "four products\|Δ [1-9]" | sed "s/^/T=$T /"; done
batch() { timeout 90 node $1/bin/csattn.js bench --log-level warn --json --random-context --contexts 32768 --batch 32,64 --decode-tokens 32 > /tmp/b.jsonl 2>/tmp/b.err; node -e "for (const l of require('fs').readFileSync('/tmp/b.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, (r.batches||[]).map((b)=>'B='+b.batch+' '+b.attention+' '+b.tokensPerSecond.toFixed(0)).join(', ')); }" $2; }
for round in 1 2; do batch . "tj2-$round"; batch .ab/fp "fp-$round"; done
s=$(date +%s); timeout 200 node node_modules/vitest/vitest.mjs run test/matmul.test.ts test/dense.test.ts test/reference.test.ts -t '^(?!transformers.reference:.tinylm)' > $OUT/gpu-tests.log 2>&1; echo "tests rc $? $(( $(date +%s) - s )) s"
grep -E "Test Files|Tests  |×" $OUT/gpu-tests.log | sed 's/\x1b\[[0-9;]*m//g' | head -8
