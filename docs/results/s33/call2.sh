# Session 33 call 2 (session 32's call4.sh; .device + .ab carried, tinylm aside): Pending 0's question, the busy loop (ffb90c3) against
# node's 1 ms timer for csattn's decode and prefill figures: .ab/main (bbe86dd) with
# CSATTN_DAWN_POLL=spin | timer, alternated: B = 1 decode over 128 tokens at 32K and 128K (random context), then
# the 32K prefill + tables in a fresh process with an empty driver shader cache.
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  console.log(process.argv[2], r.context, 'prefill', r.prefillMs ? (r.prefillMs / 1000).toFixed(2) : '-', 's, tables', (r.tablesMs / 1000).toFixed(2), 's; full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token; submit', r.full?.submitMsPerStep?.toFixed(2), r.csa?.submitMsPerStep?.toFixed(2), 'ms/step'); }" $1 $2; }
d() { CSATTN_DAWN_POLL=$1 timeout 120 node .ab/main/bin/csattn.js bench --json --random-context --log-level warn --contexts 32768,131072 --decode-tokens 128 > $OUT/decode-$2.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/decode-$2.jsonl $2; el $2; }
p() { local c=$(mktemp -d); CSATTN_DAWN_POLL=$1 __GL_SHADER_DISK_CACHE_PATH=$c timeout 90 node .ab/main/bin/csattn.js bench --json --log-level warn --contexts 32768 --decode-tokens 8 > $OUT/prefill-$2.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/prefill-$2.jsonl $2; el $2; }
d spin warm
for i in 1 2 3; do for m in timer spin; do (( $(date +%s) - t0 < ${BUDGET:-300} )) && d $m decode-$m-$i; done; done
for i in 1 2; do for m in timer spin; do (( $(date +%s) - t0 < ${BUDGET:-300} )) && p $m prefill-$m-$i; done; done
el done
