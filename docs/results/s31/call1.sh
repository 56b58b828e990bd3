# Session 31 call 1: scratch-buckets.patch's GPU tests (the prefill's paths: reference, dense, attention; on an H200
# all the kernels' test files, as the kernels changed since session 28 were tested on H100s only), then the 32K
# prefill + tables (csattn bench, Llama-3.1-8B shape) of HEAD (.ab/main), HEAD + the patch (.ab/buckets) and the
# kernels compiled together before a recording's first use (.ab/async), each run in a fresh process with an
# empty driver shader cache of its own (a user's first run: what async changes), in rounds.
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
files="test/reference.test.ts test/dense.test.ts test/attention.test.ts test/kernels.test.ts"; limit=240
[[ $gpu == *H200* ]] && files="$files test/matmul.test.ts test/csa.test.ts test/baselines.test.ts test/kvcache.test.ts test/doctor.test.ts" && limit=420
patch -s -p1 < docs/patches/scratch-buckets.patch && tests $limit tests-buckets $files -t '^(?!transformers.reference:.tinylm)' && patch -s -R -p1 < docs/patches/scratch-buckets.patch
pf() { local c=$(mktemp -d); __GL_SHADER_DISK_CACHE_PATH=$c timeout 80 node .ab/$1/bin/csattn.js bench --log-level debug --json --contexts 32768 --decode-tokens 8 > /tmp/p.jsonl 2>/tmp/p.err || tail -2 /tmp/p.err
  node -e "const fs=require('fs'); const q=fs.readFileSync('/tmp/p.err','utf8').split('\n').filter((l)=>l.includes('layer queued')).slice(0,3).map((l)=>JSON.parse(l).ms.toFixed(0)).join(' ');
    for (const l of fs.readFileSync('/tmp/p.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, 'prefill', (r.prefillMs/1000).toFixed(2), 's, tables', (r.tablesMs/1000).toFixed(2), 's, first layers', q, 'ms; full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token, peak', (r.peakGpuBytes / 2 ** 30).toFixed(2), 'GiB'); }" $2; el "$2"; }
pf main warm
for i in 1 2; do for b in async buckets main; do (( $(date +%s) - t0 < ${BUDGET:-430} )) && pf $b $b-$i; done; done
