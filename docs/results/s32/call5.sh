# Session 32 call 5 (.device + .ab carried, tinylm aside): where csa_score's time goes, by two probe builds of
# 8465e1c's code (docs/results/s32/atomic.patch: each entry's workgroup-memory atomic replaced by a sum in a
# register, one atomic a thread at the end; load.patch: the list entries made from their index instead of
# loaded), against .ab/main, B = 1 at 32K and 128K with --profile, in rounds (their selections are wrong: only the
# csa_score figure means anything), and main with half the lists (--list-fraction 0.05) and with the pooled choice
# (a quarter of them); then call4.sh's busy loop against the timer, as far as the budget goes.
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  const k = (m) => (r[m]?.kernels ?? []).filter((x) => /csa|attention/.test(x.kernel)).map((x) => x.kernel + ' ' + x.stepMs.toFixed(2) + ' (alone ' + (x.ms / x.calls * 1000).toFixed(1) + ' us a call)').join(', ');
  console.log(process.argv[2], r.context, 'full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token | csa step', r.csa?.gpuStepMs?.toFixed(2), ':', k('csa'), '| submit', r.full?.submitMsPerStep?.toFixed(2), r.csa?.submitMsPerStep?.toFixed(2)); }" $1 $2; }
b() { local x=$1 n=$2; shift 2; timeout 100 node .ab/$x/bin/csattn.js bench --json --random-context --log-level warn --contexts 32768,131072 "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$n.jsonl $n; el $n; }
b main warm --decode-tokens 64 --profile
for i in 1 2; do for x in atomic load main; do (( $(date +%s) - t0 < ${BUDGET:-300} )) && b $x $x-$i --decode-tokens 64 --profile; done
  (( $(date +%s) - t0 < ${BUDGET:-300} )) && b main alpha005-$i --decode-tokens 64 --profile --list-fraction 0.05
  (( $(date +%s) - t0 < ${BUDGET:-300} )) && b main pooled-$i --decode-tokens 64 --profile --choice pooled; done
for i in 1 2 3; do for m in timer spin; do (( $(date +%s) - t0 < ${BUDGET:-300} )) && CSATTN_DAWN_POLL=$m b main poll-$m-$i --decode-tokens 128; done; done
el done
