# Session 29 call C: the batch product's probes again (every variant compiles: x stays bound), beside
# plain runs; batch-rows-8 landed (b1983b8 + the test's routing rule): the batched attention tests;
# the 32K prefill's per-layer log.
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
mvb() { timeout 120 node scripts/bench/matvec.mjs --tokens 16 "$@" 2>&1; }
mvb > $OUT/plain-1.log; el "plain 1: $(grep '^T = 16' $OUT/plain-1.log)"; tail -3 $OUT/plain-1.log
V=",PROBE_NO_X,PROBE_NO_WLOAD,PROBE_NO_X+PROBE_NO_WLOAD,PROBE_NO_BARRIER"
mvb --batch-variants "$V" > $OUT/probes.log; el "probes"; grep -E "^T = 16" $OUT/probes.log
mvb > $OUT/plain-2.log; el "plain 2: $(grep '^T = 16' $OUT/plain-2.log)"
NO_COLOR=1 timeout 120 node node_modules/vitest/vitest.mjs run test/attention.test.ts -t batched > $OUT/tests-rows8.log 2>&1; el "tests rc $?: $(grep -E '^ +Tests ' $OUT/tests-rows8.log | tr -s ' ')"; grep -E "×" $OUT/tests-rows8.log | head -5
timeout 150 node bin/csattn.js bench --contexts 32768 --decode-tokens 8 --log-level debug --json > $OUT/prefill32k.jsonl 2> $OUT/prefill32k-debug.log; el "32K prefill rc $?"
node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(JSON.stringify({prefillMs: r.prefillMs, tablesMs: r.tablesMs}).slice(0,300)); }" $OUT/prefill32k.jsonl
