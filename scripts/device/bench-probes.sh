#!/usr/bin/env bash
# Questions the suite's rows leave open, each a run of its own, on the GPU machine:
#   run (no carry, after bench-suite.sh on the same machine): "source scripts/device/env.sh && bash scripts/device/bench-probes.sh"
# (a fresh machine: carry [".device"], "source .device/setup.sh && bash scripts/device/bench-probes.sh").
# Llama-3.1-8B shape, random context, 32K and 128K; $OUT gets one probe-NAME.jsonl each and probes.log:
#   batch64          64 sequences decoding at once (the batched rows stop at 16), where memory allows
#   tokens256        256 decode tokens instead of 64: a fixed cost per generate call (start, last
#                    read-back) against one per step, in the part of a token the GPU is idle
#   skip-validation  Dawn's per-command validation off: what it costs of recording and submitting a step
#   table-build      one layer's table build at 128K, kernel by kernel (scripts/bench/table-build.mjs),
#                    and with another build's where $AB_OLD (.ab/old) holds one
# Not for the joined report (report.mjs): these rows repeat the suite's default ones.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
LOG="$OUT/probes.log"
B="node bin/csattn.js bench --log-level warn --json --random-context --contexts 32768,131072 --decode-tokens 64"
source scripts/device/lib.sh
step "64 sequences at once"
J="$OUT/probe-batch64.jsonl" run $B --batch 64
step "256 decode tokens"
J="$OUT/probe-tokens256.jsonl" run $B --decode-tokens 256 --profile
step "Dawn's validation off"
J="$OUT/probe-skip-validation.jsonl" run env CSATTN_DAWN_TOGGLES=skip_validation $B --profile
step "the table build of one layer at 128K"
J="$OUT/probe-table-build.jsonl" run node scripts/bench/table-build.mjs --contexts 131072 --json
# An A/B of the table build: another commit's build (bin, dist, wgsl, package.json, scripts/bench)
# in $AB_OLD, carried along.
if [[ -d ${AB_OLD:-.ab/old} ]]; then
  step "the same with the build in ${AB_OLD:-.ab/old}"
  J="$OUT/probe-table-build-old.jsonl" run node "${AB_OLD:-.ab/old}/scripts/bench/table-build.mjs" --contexts 131072 --json
fi
