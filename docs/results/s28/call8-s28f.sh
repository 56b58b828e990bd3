# Session 28 call F: matmul_batch_mma with x staged with W (workgroup memory): GPU tests, the step's products at 16 tokens, B = 16 decode against .ab/head (e0ed91b).
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
s=$(date +%s); timeout 150 node node_modules/vitest/vitest.mjs run test/matmul.test.ts test/dense.test.ts > $OUT/gpu-tests-f.log 2>&1; echo "tests rc $? $(( $(date +%s) - s )) s"
grep -E "Test Files|Tests  |×" $OUT/gpu-tests-f.log | sed 's/\x1b\[[0-9;]*m//g' | head -8
for b in . .ab/head .; do timeout 60 node $b/scripts/bench/matvec.mjs --tokens 16 2>&1 | grep "^T = 16" | sed "s#^#$b #"; done
bt() { timeout 120 node $1/bin/csattn.js bench --log-level warn --json --random-context --contexts $3 --batch 16 --decode-tokens 32 > /tmp/b.jsonl 2>/tmp/b.err; node -e "for (const l of require('fs').readFileSync('/tmp/b.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, (r.batches||[]).map((b)=>'B='+b.batch+' '+b.attention+' '+b.tokensPerSecond.toFixed(0)).join(', ')); }" $2; }
bt . new 32768; bt .ab/head head 32768; bt . new 131072; bt .ab/head head 131072
