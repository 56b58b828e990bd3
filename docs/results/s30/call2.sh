# Session 30 call 2 (warm, after call 1; tinylm carried): where the batched eval's time goes. csattn eval on
# 20 facts, all methods at 0.95: cold --no-batch (fills the bundle cache), then batched and --no-batch, each
# plain and under --cpu-prof (summaries by .ab/cpuprof.mjs).
source scripts/device/env.sh; which node >/dev/null || { echo "cold machine: no node"; exit 3; }
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
ev() { local name=$1 nf=$2 cf=$3; local s=$(date +%s.%N); timeout 150 node $nf bin/csattn.js eval $cf fixtures/facts.jsonl --templates fixtures/facts.templates.json --methods csa,oracle,streaming,quest,keypq \
    --sparsity 0.95 --no-recall --limit 20 --out /tmp/eval-$name.json --log-level warn > /tmp/eval-$name.log 2>&1; echo "eval $name rc $? $(awk "BEGIN{print $(date +%s.%N) - $s}") s: $(grep -E "record's wall" /tmp/eval-$name.log)"; }
ev cold '' --no-batch
ev batch '' ''; ev nobatch '' --no-batch; ev batch2 '' ''
ev batch-prof '--cpu-prof --cpu-prof-dir=/tmp/prof-b' ''
ev nobatch-prof '--cpu-prof --cpu-prof-dir=/tmp/prof-n' --no-batch
for d in b n; do node docs/results/s30/cpuprof.mjs /tmp/prof-$d/*.cpuprofile 60 > $OUT/prof-$d.txt; gzip -c /tmp/prof-$d/*.cpuprofile > $OUT/prof-$d.cpuprofile.gz; done
head -40 $OUT/prof-b.txt
