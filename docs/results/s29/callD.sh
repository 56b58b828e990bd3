# Session 29 call D: the batch product's probes as separate builds (each kernel edited so that one
# probe is its default; plain `matvec.mjs --tokens 16` runs, 3 alternating rounds after a warm-up).
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
sum() { node -e "const r = JSON.parse(require('fs').readFileSync(0,'utf8').split('\n').filter((l)=>l.startsWith('{')).pop()); const rows = r.shapes; let step = 0; const parts = rows.map((x) => { const b = x.byTokens.find((t)=>t.T===16); step += b.batchMs * (x.shape==='lm_head'?1:32); return x.shape+' '+b.batchMs.toFixed(4); }); console.log(process.argv[1], 'step', step.toFixed(2), '|', parts.join(', '));" $1; }
timeout 60 node .ab/base/scripts/bench/matvec.mjs --tokens 16 > /dev/null 2>&1; el warm-up
for round in 1 2 3; do for b in base nox nowload noxw nobar; do timeout 60 node .ab/$b/scripts/bench/matvec.mjs --tokens 16 --json 2>&1 | sum $b-$round; done; done; el rounds
for round in 1 2 3; do for b in r64 r64k256; do timeout 60 node .ab/$b/scripts/bench/matvec.mjs --tokens 16 --json 2>&1 | sum $b-$round; done; done; el "r64 rounds"
for b in r64 r64k256; do
  cp .ab/$b/wgsl/matmul_batch_mma.wgsl wgsl/ && sed -i 's/^const BATCH_MMA_ROWS = 32;/const BATCH_MMA_ROWS = 64;/' src/ops/dense.ts
  NO_COLOR=1 timeout 120 node node_modules/vitest/vitest.mjs run test/matmul.test.ts > $OUT/tests-$b.log 2>&1; el "$b matmul tests rc $?: $(grep -E '^ +Tests ' $OUT/tests-$b.log | tr -s ' ')"; grep -E "×" $OUT/tests-$b.log | head -4
  cp .ab/base/wgsl/matmul_batch_mma.wgsl wgsl/ && sed -i 's/^const BATCH_MMA_ROWS = 64;/const BATCH_MMA_ROWS = 32;/' src/ops/dense.ts
done
bt() { timeout 100 node .ab/$1/bin/csattn.js bench --log-level warn --json --random-context --contexts 32768 --batch 16 --decode-tokens 32 > /tmp/b.jsonl 2>/tmp/b.err || tail -2 /tmp/b.err; node -e "for (const l of require('fs').readFileSync('/tmp/b.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, (r.batches||[]).map((b)=>'B='+b.batch+' '+b.attention+' '+b.tokensPerSecond.toFixed(0)).join(', ')); }" $1-$2; el "bench $1"; }
for i in 1 2; do bt r64 $i; bt base $i; done
