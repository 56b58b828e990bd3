#!/usr/bin/env bash
# The batch products on the GPU machine, in one call (docs/perf-notes.md, Pending):
#   run carry [".device", ".ab"]: "bash scripts/device/batch-products.sh"
# (after `npm run build && bash scripts/device/pack.sh --tests` with fixtures/models/tinylm moved out
# of the tree for the carry limit, and .ab/main a build of main: bin, dist, wgsl, package.json, scripts).
#   1. each shape's product at T = 16 (matvec.mjs --tokens): matmul_batch_mma, and the two
#      experiments beside it (W staged through workgroup memory; the next turn's operands loaded first);
#   2. the matvec at T = 1-8 tokens, this build and .ab/v3's (the batch products before the matvec change);
#   3. the GPU tests of the products (matmul, kernels);
#   4. B = 4 and 16 steps at 128K, this build and .ab/main's (csattn bench --profile).
# $OUT gets products-*.jsonl, matvec-*.jsonl, tests.log and bench-*.jsonl.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source .device/setup.sh >/dev/null
show() { node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(JSON.stringify(r.steps));for(const sh of r.shapes)console.log(" ",sh.shape,sh.byTokens.map(b=>b.T+":"+b.ms.toFixed(4)+"/"+(b.batchMs??0).toFixed(4)).join(" "))' "$1"; }
for v in none prefetch staged; do
  timeout 50 node scripts/bench/matvec.mjs --tokens 16 --batch-variant $v --json > "$OUT/products-$v.jsonl" 2>"$OUT/products-$v.err"; echo "$v rc $?"; show "$OUT/products-$v.jsonl"
done
for nb in new:. v3:.ab/v3; do
  n=${nb%%:*} b=${nb#*:}; timeout 50 node $b/scripts/bench/matvec.mjs --tokens 1,2,4,8 --json > "$OUT/matvec-$n.jsonl" 2>"$OUT/matvec-$n.err"; echo "matvec $b rc $?"; show "$OUT/matvec-$n.jsonl"
done
timeout 150 node node_modules/vitest/vitest.mjs run test/matmul.test.ts test/kernels.test.ts > "$OUT/tests.log" 2>&1; echo "tests rc $?"
grep -E "Test Files|Tests  |×" "$OUT/tests.log" | sed 's/\x1b\[[0-9;]*m//g' | head -20
B="bench --log-level warn --json --random-context --contexts 131072 --decode-tokens 16 --batch 4,16 --profile"
timeout 100 node bin/csattn.js $B > "$OUT/bench-new.jsonl" 2>"$OUT/bench-new.err"; echo "new rc $?"; node scripts/bench/summary.mjs "$OUT/bench-new.jsonl"
timeout 100 node .ab/main/bin/csattn.js $B > "$OUT/bench-main.jsonl" 2>"$OUT/bench-main.err"; echo "main rc $?"; node scripts/bench/summary.mjs "$OUT/bench-main.jsonl"
