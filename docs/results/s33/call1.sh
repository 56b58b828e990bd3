# Session 33, call 1 (session 32's call6.sh): csa_score with two or four lists a team at a time
# (docs/patches/score-quads.patch; score-pairs.patch, the lighter form, only if quads wins nothing) and the sparse decode's list positions a tile ahead
# (docs/patches/sparse-keys-ahead.patch) against main (bbe86dd), and their GPU tests. Before the call:
#   npm run build && bash scripts/device/pack.sh --tests
#   bash scripts/device/ab-build.sh main HEAD; bash scripts/device/ab-build.sh pairs docs/patches/score-pairs.patch
#   bash scripts/device/ab-build.sh quads docs/patches/score-quads.patch
#   bash scripts/device/ab-build.sh keys docs/patches/sparse-keys-ahead.patch
#   bash scripts/device/ab-build.sh sub docs/patches/topk-sub-chunks.patch (added after the session's calls: csa_topk at B = 16)
#   fixtures/models/tinylm and docs/results/* but this session's out of the tree (the carry limit); carry .device, .ab
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
for x in quads; do git apply docs/patches/score-$x.patch && tests 120 tests-$x test/csa.test.ts && git apply -R docs/patches/score-$x.patch; done
git apply docs/patches/sparse-keys-ahead.patch && tests 120 tests-keys test/attention.test.ts -t decode && git apply -R docs/patches/sparse-keys-ahead.patch
git apply docs/patches/topk-sub-chunks.patch && tests 120 tests-sub test/csa.test.ts && git apply -R docs/patches/topk-sub-chunks.patch
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  const k = (m) => (r[m]?.kernels ?? []).filter((x) => /csa|attention/.test(x.kernel)).map((x) => x.kernel + ' ' + x.stepMs.toFixed(2)).join(', ');
  console.log(process.argv[2], r.context, 'full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token | csa step', r.csa?.gpuStepMs?.toFixed(2), ':', k('csa'), '|', (r.batches ?? []).map((x) => x.attention + ' B' + x.batch + ' ' + x.tokensPerSecond.toFixed(0) + ' (' + (x.kernels ?? []).filter((y) => /csa|attention_decode/.test(y.kernel)).map((y) => y.kernel + ' ' + y.stepMs.toFixed(2)).join(', ') + ')').join(', ')); }" $1 $2; }
b() { local x=$1 n=$2; shift 2; timeout 150 node .ab/$x/bin/csattn.js bench --json --random-context --log-level warn --contexts 32768,131072 "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$n.jsonl $n; el $n; }
b main warm --decode-tokens 64 --profile
for i in 1 2 3; do for x in quads keys sub main; do (( $(date +%s) - t0 < ${BUDGET:-450} )) && b $x $x-$i --decode-tokens 64 --batch 16 --profile; done; done
el done
