# Session 28 call D: the batch product's probes (patch) and X_WG (x through workgroup memory), in alternating rounds; products' crossover at 384/512; 32K prefill A/B (HEAD e0ed91b, RB = 2, against .ab/r2 = 69d2a18).
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 240 node scripts/bench/matvec.mjs --tokens 16 --batch-variants ",PUT_ROT,X_WG,ABL_NO_MMA,ABL_NO_PUT,ABL_NO_FETCH,ABL_NO_MMA+ABL_NO_PUT" 2>&1 | grep -v "^validation\|^ - \|^\[" | tail -12
for T in 384 512; do timeout 45 node scripts/bench/prefill-products.mjs --chunk $T --reps 7 --variants '' 2>/dev/null | grep "four products" | sed "s/^/T=$T /"; done
pf() { timeout 100 node $1/bin/csattn.js bench --log-level warn --json --contexts $3 --decode-tokens 8 > /tmp/p.jsonl 2>/tmp/p.err; node -e "for (const l of require('fs').readFileSync('/tmp/p.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, 'prefill', (r.prefillMs/1e3).toFixed(2), 'tables', (r.tablesMs/1e3).toFixed(2), 'full', r.full.msPerToken.toFixed(2), 'csa', r.csa.msPerToken.toFixed(2)); }" $2; }
pf . new-1 32768; pf .ab/r2 old-1 32768; pf . new-2 32768; pf .ab/r2 old-2 32768
