# Session 33, call 1b (call1.sh cut to the ~340 s of device time left after nine failed starts): at
# 128K only, B = 1 and B = 16 with --profile, quads / keys / main alternated, then the two patches'
# GPU tests while time remains. Same builds and carry as call1.sh.
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  const k = (m) => (r[m]?.kernels ?? []).filter((x) => /csa|attention/.test(x.kernel)).map((x) => x.kernel + ' ' + x.stepMs.toFixed(2)).join(', ');
  console.log(process.argv[2], r.context, 'full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token | csa step', r.csa?.gpuStepMs?.toFixed(2), ':', k('csa'), '|', (r.batches ?? []).map((x) => x.attention + ' B' + x.batch + ' ' + x.tokensPerSecond.toFixed(0) + ' (' + (x.kernels ?? []).filter((y) => /csa|attention_decode/.test(y.kernel)).map((y) => y.kernel + ' ' + y.stepMs.toFixed(2)).join(', ') + ')').join(', ')); }" $1 $2; }
b() { local x=$1 n=$2; shift 2; timeout 150 node .ab/$x/bin/csattn.js bench --json --random-context --log-level warn --contexts 131072 "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$n.jsonl $n; el $n; }
b main warm --decode-tokens 32
for i in 1 2 3; do for x in quads keys main; do (( $(date +%s) - t0 < ${BUDGET:-200} )) && b $x $x-$i --decode-tokens 64 --batch 16 --profile; done; done
git apply docs/patches/score-quads.patch && tests 90 tests-quads test/csa.test.ts && git apply -R docs/patches/score-quads.patch
git apply docs/patches/sparse-keys-ahead.patch && tests 90 tests-keys test/attention.test.ts -t decode && git apply -R docs/patches/sparse-keys-ahead.patch
el done
