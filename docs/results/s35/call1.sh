# Session 35, call 1 (session 34's call5.sh, reordered to fit a short budget): csa_topk's GPU test at 1-8
# sub-chunks (test/csa.test.ts) on HEAD's tree; the 32K prefill + tables of a fresh process with an empty
# driver shader cache, then again with the cache the first run left (#21); B = 16 / 64 at 32K and 128K (#19).
# Before the call: ab-build.sh head HEAD; aside out; carry .device, .ab
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -8; }
tests 100 tests-csa test/csa.test.ts
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  console.log(process.argv[2], r.context, 'prefill', r.prefillMs ? (r.prefillMs / 1000).toFixed(2) : '-', 's, tables', (r.tablesMs / 1000).toFixed(2), 's | B1 full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), '|', (r.batches ?? []).map((x) => x.attention + ' B' + x.batch + ' ' + x.tokensPerSecond.toFixed(0) + ' (' + (x.kernels ?? []).slice(0, 6).map((y) => y.kernel + ' ' + y.stepMs.toFixed(2)).join(', ') + ')').join(', ')); }" $1 $2; }
b() { local n=$1; shift; timeout ${T:-200} node .ab/head/bin/csattn.js bench --json --log-level warn "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$n.jsonl $n; el $n; }
cache=$(mktemp -d)
for run in cold warm; do __GL_SHADER_DISK_CACHE_PATH=$cache T=60 b prefill-$run --contexts 32768 --decode-tokens 8; done
T=180 b b64 --random-context --contexts 32768,131072 --decode-tokens 16 --batch 16,64 --profile
el done
