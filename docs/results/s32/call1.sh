# Session 32 call 1 (tree at HEAD, .device carried, tinylm aside): on an H200, the GPU tests of every kernel
# family (the kernels changed since session 28 were tested on H100s only); on an H100, Pending 0: csattn bench
# at HEAD with the busy loop and compiles ahead (B = 1 at 32K and 128K with --profile, B = 16 at 32K).
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
if [[ $gpu == *H200* ]]; then
  tests 540 tests-h200 test/reference.test.ts test/dense.test.ts test/attention.test.ts test/kernels.test.ts test/matmul.test.ts test/csa.test.ts test/baselines.test.ts test/kvcache.test.ts test/doctor.test.ts -t '^(?!transformers.reference:.tinylm)'
  exit 0
fi
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  const k = (m) => (r[m]?.kernels ?? []).slice(0, 6).map((x) => x.kernel + ' ' + x.stepMs.toFixed(2)).join(', ');
  console.log(process.argv[2], r.context, 'full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token | csa step', r.csa?.gpuStepMs?.toFixed(2), ':', k('csa'), '| batches', (r.batches ?? []).map((x) => x.attention + ' B' + x.batch + ' ' + x.tokensPerSecond.toFixed(0) + ' tok/s').join(', ')); }" $1 $2; }
b() { local n=$1; shift; timeout 200 node bin/csattn.js bench --json --random-context --log-level warn "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err; el "bench $n rc $?"; sum $OUT/bench-$n.jsonl $n; }
b b1-32k --contexts 32768 --decode-tokens 64 --profile
b b1-128k --contexts 131072 --decode-tokens 64 --profile
(( $(date +%s) - t0 < ${BUDGET:-420} )) && b b16-32k --contexts 32768 --batch 16 --decode-tokens 32
el done

