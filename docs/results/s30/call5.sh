# Session 30 call 5: the 32K prefill and table build with kernelParams (.ab/new, 6961713) beside 9bc15d9 (.ab/main):
# csattn bench over a prefilled 32K context (Llama-3.1-8B shape), a warm-up run thrown away, then alternated.
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
pf() { timeout 90 node .ab/$1/bin/csattn.js bench --log-level warn --json --contexts 32768 --decode-tokens 8 > /tmp/p.jsonl 2>/tmp/p.err || tail -2 /tmp/p.err
  node -e "for (const l of require('fs').readFileSync('/tmp/p.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, 'prefill', (r.prefillMs/1000).toFixed(2), 's, tables', (r.tablesMs/1000).toFixed(2), 's, full', r.full.msPerToken.toFixed(2), 'csa', r.csa.msPerToken.toFixed(2), 'ms/token'); }" $2; el "$2"; }
pf new warm
for i in 1 2; do pf new new-$i; pf main main-$i; done
