# Session 34, call 2: csa_topk's workgroup target (1024, main d2f7d3c) against 512 and 256 with up to 8 sub-chunks
# (builds: ab-build.sh t512 / t256m8 with the TOPK_TARGET_WORKGROUPS patches); B = 4 and 16.
# Before the call: npm run build && bash scripts/device/pack.sh --tests; ab-build.sh main HEAD, t512 /tmp/t512.patch,
# t256m8, t128m8 (docs/results/s34/patches: TOPK_TARGET_WORKGROUPS 512; 256 / 128 and SUB up to 8); aside out; carry .device, .ab
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  const k = (m) => (r[m]?.kernels ?? []).filter((x) => /csa|attention/.test(x.kernel)).map((x) => x.kernel + ' ' + x.stepMs.toFixed(2)).join(', ');
  console.log(process.argv[2], r.context, 'full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token | csa step', r.csa?.gpuStepMs?.toFixed(2), ':', k('csa'), '|', (r.batches ?? []).map((x) => x.attention + ' B' + x.batch + ' ' + x.tokensPerSecond.toFixed(0) + ' (' + (x.kernels ?? []).filter((y) => /csa|attention_decode/.test(y.kernel)).map((y) => y.kernel + ' ' + y.stepMs.toFixed(2)).join(', ') + ')').join(', ')); }" $1 $2; }
b() { local x=$1 n=$2; shift 2; timeout 150 node .ab/$x/bin/csattn.js bench --json --random-context --log-level warn --contexts 32768,131072 "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$n.jsonl $n; el $n; }
b main warm --decode-tokens 32 --profile
for i in 1 2; do for x in t512 t256m8 t128m8 main; do (( $(date +%s) - t0 < ${BUDGET:-450} )) && b $x $x-$i --decode-tokens 32 --batch 4,16 --profile; done; done
el done
