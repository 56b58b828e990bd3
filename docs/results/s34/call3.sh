# Session 34, call 3: a batch's products split along k (matmul_batch_mma SPLIT + sum_splits.wgsl) with
# their GPU tests, against main; then csa_topk's workgroup targets (call 2's builds) if time is left.
# Before the call: npm run build && bash scripts/device/pack.sh --tests; ab-build.sh main HEAD, split (the
# working tree), t512 / t256m8 / t128m8 (docs/results/s34/patches); aside out; carry .device, .ab
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -8; }
tests 150 tests-split test/matmul.test.ts -t "prefill and decode batches|splits"
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  console.log(process.argv[2], r.context, 'B1 full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), '|', (r.batches ?? []).map((x) => x.attention + ' B' + x.batch + ' ' + x.tokensPerSecond.toFixed(0) + ' (' + (x.kernels ?? []).filter((y) => /matmul|sum_splits|halves|csa_topk/.test(y.kernel)).map((y) => y.kernel + ' ' + y.stepMs.toFixed(2)).join(', ') + ')').join(', ')); }" $1 $2; }
b() { local x=$1 n=$2; shift 2; timeout 150 node .ab/$x/bin/csattn.js bench --json --random-context --log-level warn --contexts 32768,131072 "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$n.jsonl $n; el $n; }
b main warm --decode-tokens 16 --batch 16 --profile
for i in 1 2; do for x in split main; do (( $(date +%s) - t0 < ${BUDGET:-400} )) && b $x $x-$i --decode-tokens 32 --batch 16 --profile; done; done
for x in t256m8 t512 t128m8; do (( $(date +%s) - t0 < ${BUDGET:-400} )) && b $x $x-1 --decode-tokens 32 --batch 4,16 --profile; done
el done
