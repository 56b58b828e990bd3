# Session 30 call 4 (warm, after call 3; tinylm carried): #19's eval target. csattn eval on fixtures/facts.jsonl
# (60 records), all methods at 0.95, at 282d6af (the last commit before batched decoding: .ab/old, one run at
# a time), at 9bc15d9 (.ab/main) and with kernelParams (.ab/new), each with a warm bundle cache of its own,
# after one cold run that fills it; then tinylm's batch and reference tests with kernelParams.
source scripts/device/env.sh; which node >/dev/null || { echo "cold machine: no node"; exit 3; }
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
ev() { local s=$(date +%s.%N); timeout 200 node .ab/$1/bin/csattn.js eval fixtures/facts.jsonl --templates fixtures/facts.templates.json --methods csa,oracle,streaming,quest,keypq \
    --sparsity 0.95 --no-recall --cache-dir /tmp/cache-$3 --out $OUT/eval-$2.json --log-level warn > /tmp/eval-$2.log 2>&1; echo "eval $2 rc $? $(awk "BEGIN{print $(date +%s.%N) - $s}") s: $(grep -E "record's wall" /tmp/eval-$2.log)"; }
ev old old-cold old; ev new new-cold new
for i in 1 2; do ev old old-$i old; ev main main-$i new; ev new new-$i new; done
el evals
for f in $OUT/eval-*.json; do node -e "const r = JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')); console.log(process.argv[1].split('/').pop(), JSON.stringify(r.aggregates).slice(0, 400))" $f; done > $OUT/aggregates.txt
rm -f $OUT/eval-old-1.json $OUT/eval-main-1.json $OUT/eval-new-1.json $OUT/eval-old-cold.json $OUT/eval-new-cold.json
s=$(date +%s.%N); timeout 100 node --cpu-prof --cpu-prof-dir=/tmp/prof-new .ab/new/bin/csattn.js eval fixtures/facts.jsonl --templates fixtures/facts.templates.json --methods csa,oracle,streaming,quest,keypq \
    --sparsity 0.95 --no-recall --limit 20 --cache-dir /tmp/cache-new --log-level warn > /tmp/eval-prof.log 2>&1; el "profiled eval (20 records) rc $?: $(grep -E "record's wall" /tmp/eval-prof.log)"
node docs/results/s30/cpuprof.mjs /tmp/prof-new/*.cpuprofile 60 > $OUT/prof-new.txt; head -25 $OUT/prof-new.txt
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -8; }

