#!/usr/bin/env bash
# The batch products on the GPU machine, in one call (docs/perf-notes.md, Pending):
#   run carry [".device", ".ab"]: "bash scripts/device/batch-products.sh"
# (after `npm run build && bash scripts/device/pack.sh --tests` with fixtures/models/tinylm moved out
# of the tree for the carry limit, and .ab/main a build of main: bin, dist, wgsl, package.json, scripts).
#   1. each shape's product at T = 4-8 and 16 tokens, by the matvec and as a batch product
#      (matvec.mjs --tokens: where the batch product is faster, BATCH_MMA_FROM should come down);
#   2. the GPU tests of the batch products (matmul.test.ts on tensor cores, halves);
#   3. B = 4 and 16 steps at 128K, this build and .ab/main's (csattn bench --profile).
# $OUT gets products.jsonl, tests.log and bench-*.jsonl.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source .device/setup.sh >/dev/null
timeout 90 node scripts/bench/matvec.mjs --tokens 4,5,6,7,8,16 --json > "$OUT/products.jsonl" 2>"$OUT/products.err"; echo "products rc $?"
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(JSON.stringify(r.steps));for(const sh of r.shapes)console.log(" ",sh.shape,sh.byTokens.map(b=>b.T+":"+b.ms.toFixed(4)+"/"+(b.batchMs??0).toFixed(4)).join(" "))' "$OUT/products.jsonl"
timeout 200 node node_modules/vitest/vitest.mjs run test/matmul.test.ts -t "tensor cores|halves" > "$OUT/tests.log" 2>&1; echo "tests rc $?"
sed 's/\x1b\[[0-9;]*m//g' "$OUT/tests.log" | grep -E "Test Files|Tests  |×|AssertionError" | head -20
B="bench --log-level warn --json --random-context --contexts 131072 --decode-tokens 16 --batch 4,16 --profile"
timeout 100 node bin/csattn.js $B > "$OUT/bench-new.jsonl" 2>"$OUT/bench-new.err"; echo "new rc $?"; node scripts/bench/summary.mjs "$OUT/bench-new.jsonl"
timeout 100 node .ab/main/bin/csattn.js $B > "$OUT/bench-main.jsonl" 2>"$OUT/bench-main.err"; echo "main rc $?"; node scripts/bench/summary.mjs "$OUT/bench-main.jsonl"
