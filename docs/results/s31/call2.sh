# Session 31 call 2 (warm, right after call 1; tinylm carried, no .device): scratch-buckets.patch's tinylm
# tests (batch, and reference's transformers cases); then records of one context batched together (59bcfc8, in
# .ab/main = HEAD) against 3b0214e (.ab/pre): csattn eval of fixtures/facts.multi.jsonl (16 contexts x 4
# questions), all methods at 0.95, each build with a warm bundle cache of its own after a cold run, in rounds with
# .ab/async (kernels compiled together; main's cache).
source scripts/device/env.sh; which node >/dev/null || { echo "cold machine: no node"; exit 3; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
patch -s -p1 < docs/patches/scratch-buckets.patch && tests 200 tests-buckets-tinylm test/batch.test.ts test/reference.test.ts test/bundle.test.ts test/memory.test.ts && patch -s -R -p1 < docs/patches/scratch-buckets.patch
ev() { local s=$(date +%s.%N); timeout 150 node .ab/$1/bin/csattn.js eval fixtures/facts.multi.jsonl --templates fixtures/facts.templates.json --methods csa,oracle,streaming,quest,keypq \
    --sparsity 0.95 --no-recall --cache-dir /tmp/cache-${1/async/main} --out $OUT/eval-$2.json --log-level warn > /tmp/eval-$2.log 2>&1; echo "eval $2 rc $? $(awk "BEGIN{print $(date +%s.%N) - $s}") s: $(grep -E "record's wall" /tmp/eval-$2.log)"; }
ev pre pre-cold; ev main main-cold
for i in 1 2; do for b in pre main async; do (( $(date +%s) - t0 < ${BUDGET:-500} )) && ev $b $b-$i; done; done
el evals
for f in $OUT/eval-*.json; do node -e "const r = JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')); console.log(process.argv[1].split('/').pop(), JSON.stringify(r.aggregates).slice(0, 300))" $f; done > $OUT/aggregates.txt
rm -f $OUT/eval-*-cold.json $OUT/eval-*-1.json
