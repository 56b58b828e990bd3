# Session 32 call 2 (tree at a676e3d, .device + .ab carried, tinylm aside): the GPU tests of the changed CSA
# kernels (csa_choose, csa_score, csa_topk's CUT; the baselines' top-K), then csattn bench A/B in rounds:
# .ab/main (8465e1c), .ab/gather (fa98724: csa_score's flat gather), .ab/cut (a676e3d: + the one-pass cut),
# B = 1 at 32K and 128K with --profile, and B = 16.
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
tests 150 tests-csa test/csa.test.ts test/baselines.test.ts
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  const k = (m) => (r[m]?.kernels ?? []).filter((x) => /csa|attention/.test(x.kernel)).map((x) => x.kernel + ' ' + x.stepMs.toFixed(2)).join(', ');
  console.log(process.argv[2], r.context, 'full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token | csa step', r.csa?.gpuStepMs?.toFixed(2), ':', k('csa'), '|', (r.batches ?? []).map((x) => x.attention + ' B' + x.batch + ' ' + x.tokensPerSecond.toFixed(0)).join(', ')); }" $1 $2; }
b() { timeout 150 node .ab/$1/bin/csattn.js bench --json --random-context --log-level warn --contexts 32768,131072 --decode-tokens 64 --batch 16 --profile > $OUT/bench-$2.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$2.jsonl $2; el $2; }
b main warm
for i in 1 2 3; do for x in cut gather main; do (( $(date +%s) - t0 < ${BUDGET:-500} )) && b $x $x-$i; done; done
el done
