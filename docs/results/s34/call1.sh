# Session 34, call 1: csa_topk's sub-chunks where the lists are many
# (docs/patches/topk-sub-chunks.patch) against main, with its GPU test; B = 1 and B = 16 at 32K and 128K.
# Before the call:
#   npm run build && bash scripts/device/pack.sh --tests
#   bash scripts/device/ab-build.sh main HEAD; bash scripts/device/ab-build.sh sub docs/patches/topk-sub-chunks.patch
#   fixtures/models/tinylm and docs/results/* but the session's own out of the tree (the carry limit); carry .device, .ab
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
git apply docs/patches/topk-sub-chunks.patch && tests 120 tests-sub test/csa.test.ts && git apply -R docs/patches/topk-sub-chunks.patch
# On an H200 only: the tensor-core kernels' tests that passed on H100s alone (perf-notes Pending 1; reference and batch need tinylm: call 2)
case $gpu in *H200*) tests 150 tests-h200 test/matmul.test.ts test/dense.test.ts;; esac
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  const k = (m) => (r[m]?.kernels ?? []).filter((x) => /csa|attention/.test(x.kernel)).map((x) => x.kernel + ' ' + x.stepMs.toFixed(2)).join(', ');
  console.log(process.argv[2], r.context, 'full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token | csa step', r.csa?.gpuStepMs?.toFixed(2), ':', k('csa'), '|', (r.batches ?? []).map((x) => x.attention + ' B' + x.batch + ' ' + x.tokensPerSecond.toFixed(0) + ' (' + (x.kernels ?? []).filter((y) => /csa|attention_decode/.test(y.kernel)).map((y) => y.kernel + ' ' + y.stepMs.toFixed(2)).join(', ') + ')').join(', ')); }" $1 $2; }
b() { local x=$1 n=$2; shift 2; timeout 150 node .ab/$x/bin/csattn.js bench --json --random-context --log-level warn --contexts 32768,131072 "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$n.jsonl $n; el $n; }
b main warm --decode-tokens 64 --profile
for i in 1 2 3; do for x in sub main; do (( $(date +%s) - t0 < ${BUDGET:-450} )) && b $x $x-$i --decode-tokens 64 --batch 16 --profile; done; done
el done
