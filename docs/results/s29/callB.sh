# Session 29 call B (warm, right after A; tinylm in the tree): batch tests at head, batch-rows-8.patch
# (tests; B = 2 at 128K against head), batch-context-rb2.patch at 124K (B = 32).
source scripts/device/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
tests 120 tests-batch-head test/batch.test.ts
patch -s -p1 < docs/patches/batch-rows-8.patch && tests 150 tests-rows8 test/batch.test.ts test/attention.test.ts -t batch && patch -s -R -p1 < docs/patches/batch-rows-8.patch
bp() { timeout 120 node $1/bin/csattn.js bench --log-level warn --json --random-context --contexts 131072 --batch 2 --decode-tokens 16 --profile > /tmp/p.jsonl 2>/tmp/p.err || tail -2 /tmp/p.err; node -e "for (const l of require('fs').readFileSync('/tmp/p.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); for (const b of r.batches||[]) console.log(process.argv[1], r.context, 'B='+b.batch, b.attention, b.tokensPerSecond.toFixed(1), 'gpu', b.gpuStepMs?.toFixed(2), (b.kernels||[]).slice(0,5).map((k)=>k.kernel+' '+k.ms.toFixed(2)).join(', ')); }" $2; el "bench $2"; }
bp .ab/rows8 rows8-1; bp . head-1; bp .ab/rows8 rows8-2; bp . head-2
bt() { timeout 150 node $1/bin/csattn.js bench --log-level warn --json --random-context --contexts $3 --batch $4 --decode-tokens 32 > /tmp/b.jsonl 2>/tmp/b.err || tail -2 /tmp/b.err; node -e "for (const l of require('fs').readFileSync('/tmp/b.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, (r.batches||[]).map((b)=>'B='+b.batch+' '+b.attention+' '+b.tokensPerSecond.toFixed(0)).join(', ')); }" $2; el "bench $2 $3"; }
bt .ab/rb2 rb2 126976 32; bt . head 126976 32
