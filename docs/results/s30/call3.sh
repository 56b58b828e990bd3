# Session 30 call 3: the kernels' parameters from shared chunks (kernelParams) on the GPU: the GPU tests
# of every kernel family (tensor cores included; tinylm's reference cases stay for call 4), and a B = 1 / 16
# bench at 32K beside the build before it (.ab/main = 9bc15d9).
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -8; }
tests 400 gpu-tests test/attention.test.ts test/matmul.test.ts test/dense.test.ts test/csa.test.ts test/baselines.test.ts test/kernels.test.ts test/kvcache.test.ts test/memory.test.ts test/reference.test.ts -t '^(?!transformers.reference:.tinylm)'
bt() { timeout 120 node .ab/$1/bin/csattn.js bench --log-level warn --json --random-context --contexts 32768 --batch 1,16 --decode-tokens 32 > /tmp/b.jsonl 2>/tmp/b.err || tail -2 /tmp/b.err
  node -e "for (const l of require('fs').readFileSync('/tmp/b.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, 'B=1 full', r.full.msPerToken.toFixed(2), 'csa', r.csa.msPerToken.toFixed(2), 'ms/token |', (r.batches||[]).map((b)=>'B='+b.batch+' '+b.attention+' '+b.tokensPerSecond.toFixed(0)).join(', ')); }" $2; el "bench $2"; }
bt new warm > /dev/null
for i in 1 2; do bt new new-$i; bt main main-$i; done
