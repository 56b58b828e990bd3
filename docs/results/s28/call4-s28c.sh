# Session 28 call C: attention_prefill_mma with RB = 2 as the kernel (override): its sweep beside .ab/r2's R2 define, GPU tests, prefill A/B against .ab/r2 (69d2a18), products' crossover.
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 100 node scripts/bench/prefill-attention.mjs --batch 16 2>&1 | grep -v "^validation\|^ - \|^\[" | sed 's/^/rb2 /'
timeout 100 node .ab/r2/scripts/bench/prefill-attention.mjs --variants R2 --batch 16 2>&1 | grep -v "^validation\|^ - \|^\[" | sed 's/^/r2def /'
s=$(date +%s); timeout 240 node node_modules/vitest/vitest.mjs run test/attention.test.ts test/reference.test.ts test/batch.test.ts -t '^(?!transformers.reference:.tinylm)' > $OUT/gpu-tests.log 2>&1; echo "tests rc $? $(( $(date +%s) - s )) s"
grep -E "Test Files|Tests  |×" $OUT/gpu-tests.log | sed 's/\x1b\[[0-9;]*m//g' | head -12
pf() { timeout 100 node $1/bin/csattn.js bench --log-level warn --json --contexts $3 --decode-tokens 8 > /tmp/p.jsonl 2>/tmp/p.err; node -e "for (const l of require('fs').readFileSync('/tmp/p.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, 'prefill', (r.prefillMs/1e3).toFixed(2), 'tables', (r.tablesMs/1e3).toFixed(2), 'full', r.full.msPerToken.toFixed(2), 'csa', r.csa.msPerToken.toFixed(2)); }" $2; }
pf . new-1 32768; pf .ab/r2 old-1 32768; pf . new-2 32768
pf . new 131072
for T in 192 256; do timeout 45 node scripts/bench/prefill-products.mjs --chunk $T --reps 7 --variants '' 2>/dev/null | grep "four products" | sed "s/^/T=$T /"; done
