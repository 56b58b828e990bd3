#!/usr/bin/env bash
# The decode products on the GPU machine, in one call:
#   run carry [".device", ".ab"]: "bash scripts/device/batch-products.sh [products] [tests] [steps] [sweeps]"
# (after `npm run build && bash scripts/device/pack.sh --tests` with fixtures/models/tinylm moved out
# of the tree for the carry limit, and .ab/main a build of main: bin, dist, wgsl, package.json, scripts).
# Without .device (a warm machine where setup.sh ran) it uses what is unpacked there; without
# .ab/main, step 3 times this build alone. The arguments pick the parts (default: all four).
#   1. each shape's product at T = 1-8 and 16 tokens, by the matvec and as a batch product
#      (matvec.mjs --tokens: where the batch product is faster, BATCH_MMA_FROM should come down),
#      after a run thrown away: a fresh machine's first runs measured 1.3-3x slow (session 19);
#   2. the GPU tests of the products (matmul.test.ts, kernels.test.ts);
#   3. B = 2, 4 and 16 steps at 128K, this build and .ab/main's (csattn bench --profile), and a
#      profile of this build's B = 2 step (the largest batch is the one profiled);
#   4. the matvec's cuts swept at 2, 4 and 8 tokens (matvec.mjs --sweep-tokens).
# $OUT gets products.jsonl, tests.log, bench-*.jsonl and sweeps.jsonl.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
if [[ -f .device/setup.sh ]]; then source .device/setup.sh >/dev/null; else source scripts/device/env.sh; fi
parts=${*:-products tests steps sweeps}
has() { [[ " $parts " == *" $1 "* ]]; }
if has products; then
timeout 60 node scripts/bench/matvec.mjs --tokens 1,16 --json > /dev/null 2>&1
timeout 90 node scripts/bench/matvec.mjs --tokens 1,2,4,5,6,7,8,16 --json > "$OUT/products.jsonl" 2>"$OUT/products.err"; echo "products rc $?"
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.steps.map(s=>s.T+": "+s.stepMs.toFixed(2)+" / "+(s.batchStepMs??0).toFixed(2)).join(", "));for(const sh of r.shapes)console.log(" ",sh.shape,sh.byTokens.map(b=>b.T+":"+b.ms.toFixed(4)+"/"+(b.batchMs??0).toFixed(4)).join(" "))' "$OUT/products.jsonl"
fi
if has tests; then
timeout 240 node node_modules/vitest/vitest.mjs run test/matmul.test.ts test/kernels.test.ts > "$OUT/tests.log" 2>&1; echo "tests rc $?"
sed 's/\x1b\[[0-9;]*m//g' "$OUT/tests.log" | grep -E "Test Files|Tests  |×|AssertionError" | head -20
fi
if has steps; then
B="bench --log-level warn --json --random-context --contexts 131072 --decode-tokens 16 --batch 2,4,16 --profile"
timeout 100 node bin/csattn.js $B > "$OUT/bench-new.jsonl" 2>"$OUT/bench-new.err"; echo "new rc $?"; node scripts/bench/summary.mjs "$OUT/bench-new.jsonl"
if [[ -d .ab/main ]]; then
  timeout 100 node .ab/main/bin/csattn.js $B > "$OUT/bench-main.jsonl" 2>"$OUT/bench-main.err"; echo "main rc $?"; node scripts/bench/summary.mjs "$OUT/bench-main.jsonl"
fi
timeout 60 node bin/csattn.js ${B/--batch 2,4,16/--batch 2} > "$OUT/bench-b2.jsonl" 2>"$OUT/bench-b2.err"; echo "B = 2 rc $?"; node scripts/bench/summary.mjs "$OUT/bench-b2.jsonl"
fi
if has sweeps; then
for T in 2 4 8; do
  timeout 100 node scripts/bench/matvec.mjs --sweep-tokens $T --json >> "$OUT/sweeps.jsonl" 2>>"$OUT/sweeps.err"; echo "sweep T = $T rc $?"
done
node -e 'for (const l of require("fs").readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean)) { const r = JSON.parse(l); const f = (c) => c.rows + "x" + c.wg + "x" + c.unroll + " " + c.ms.toFixed(4); console.log("T = " + r.T + ": step " + r.stepMsDefault.toFixed(2) + " ms now, " + r.stepMsBest.toFixed(2) + " best"); for (const s of r.shapes) console.log("  " + s.shape + ": now " + f(s.default) + ", best " + f(s.best)); }' "$OUT/sweeps.jsonl"
fi
find "$OUT" -type f -empty -delete  # the device returns a few files only
