#!/usr/bin/env bash
# csattn's speed on the GPU machine beside a strong PyTorch decode, in two commands of < 10 minutes:
#   run carry [".device", ".peers"], command:
#     "source .device/setup.sh && COMMIT=<sha> bash scripts/device/bench-suite.sh checks"
#   then on the warm machine, carry []:
#     "source scripts/device/env.sh && COMMIT=<sha> bash scripts/device/bench-suite.sh csattn"
# (one call with both parts, the default, ran 12 minutes on an H100 on 2026-12-05: past the
# device's 10-minute limit for a command). The parts:
# - checks: the GPU tests (GPU_TESTS, below) and the PyTorch peer, while llama.cpp builds;
# - csattn: the probes and csattn's rows, on a quiet CPU, then the report.
# (move fixtures/models out of the working tree for the call: the 8B-shape runs do not need it),
# then, on the same warm machine, "bash scripts/device/bench-peers.sh decode batched" for llama.cpp
# and the joined report. With the llama.cpp kit in .peers/ (see bench-peers.sh), its build and f16 GGUF
# (CPU work) run in the background here, at nice 19, while the GPU tests and PyTorch run; csattn's
# timings wait for them: a step's recording and submission is CPU work, and a concurrent build
# slowed csattn's decode by up to 0.9 ms a token on 2026-12-04 (CSA at 128K: 9.05 against 8.17 quiet).
# - probes of what Dawn reaches on this GPU: a grid-stride read, subgroup-matrix products;
# - Llama-3.1-8B shape (random weights): 32K and 128K with a real prefill, tables and kernel
#   timings (32K also bundle write/load), and batched decode of 1, 4 and 16 sequences over the
#   context; 64K decode over a random context; 64 sequences over a random 32K context (at 128K the
#   model's window has no room for 64 questions and answers);
# - PyTorch: scripts/bench/torch_decode.py (gpt-fast style, FlexAttention decoding under CUDA graphs),
#   checked against transformers first;
# - Qwen3-8B and Mistral-7B shapes at 32K.
# $OUT gets suite.jsonl (every JSON line), suite.log, and the report of what this run has (bench.*);
# a copy stays in /tmp/suite-out for bench-peers.sh to join.
# GPU_TESTS="test/a.test.ts ..." (with a `pack.sh --tests` pack) first runs these test files on this
# GPU, into $OUT/gpu-tests.log, so that the kernels timed are the ones checked here against the CPU
# references (VITEST_ARGS adds arguments, e.g. -t to pick cases).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
J="$OUT/suite.jsonl" LOG="$OUT/suite.log"
B="node bin/csattn.js bench --log-level warn --json"
source scripts/device/lib.sh
parts=${*:-checks csattn}
has() { [[ " $parts " == *" $1 "* ]]; }
prep=""
if has checks && [[ -d ${LLAMACPP_KIT:-.peers/llamacpp} && -z ${LLAMACPP_BIN:-} ]]; then
  PEERS_LOG="$OUT/peers-prepare.log" nice -n 19 bash scripts/device/bench-peers.sh prepare 2>/dev/null &
  prep=$!
fi
quiet() { if [[ -n $prep ]]; then step "waiting for llama.cpp's build (csattn is timed on a quiet CPU)"; wait "$prep"; step "llama.cpp prepared"; prep=""; fi; }
machine=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
meta() { echo "{\"meta\": {\"date\": \"$(date -u +%F)\", \"commit\": \"${COMMIT:-unknown}\", \"machine\": \"${machine:-unknown} (Dawn/Vulkan)\", \"command\": \"bash scripts/device/bench-suite.sh\"}}" > "$J"; }
if has checks; then
meta
if [[ -n ${GPU_TESTS:-} ]]; then
  step "GPU tests: $GPU_TESTS"
  # shellcheck disable=SC2086
  NO_COLOR=1 node node_modules/vitest/vitest.mjs run $GPU_TESTS ${VITEST_ARGS:-} > "$OUT/gpu-tests.log" 2>&1 || step "GPU tests failed (see gpu-tests.log)"
  step "GPU tests: $(grep -E '^ +Tests ' "$OUT/gpu-tests.log" | tr -s ' ')"
fi
# PyTorch steps through CUDA graphs: the CPU work beside it does not slow its timed steps.
step "PyTorch decode (gpt-fast style), checked against transformers"
node --input-type=module -e "import { PRESETS } from './dist/model/synth.js'; console.log(JSON.stringify(PRESETS['llama-3.1-8b'].config))" > /tmp/llama-3.1-8b.json
PYTHONUNBUFFERED=1 run timeout 300 python3 scripts/bench/torch_decode.py --config /tmp/llama-3.1-8b.json --check --contexts 32768,65536,131072
quiet
fi
if has csattn; then
# The checks' output of an earlier call on this machine joins this one's.
[[ ! -s $J && -d /tmp/suite-out ]] && cp /tmp/suite-out/* "$OUT/"
[[ -s $J ]] || meta
step "probes: read bandwidth, subgroup matrices"
run node scripts/bench/read-bandwidth.mjs --json
run node scripts/bench/subgroup-matrix.mjs --json
step "csattn llama-3.1-8b 32K: prefill, tables, bundle write/load, decode (batch 1, 4, 16)"
run $B --contexts 32768 --bundle-io --profile --batch 1,4,16
step "csattn llama-3.1-8b 128K: prefill, tables, decode (batch 1, 4, 16)"
run $B --contexts 131072 --profile --batch 1,4,16
step "csattn llama-3.1-8b 64K: random context, decode"
run $B --contexts 65536 --random-context --profile
# A run of its own: a failure at B = 64 (never run on tensor cores before session 22) keeps the rows above.
step "csattn llama-3.1-8b 32K: random context, 64 sequences at once"
run $B --contexts 32768 --random-context --profile --batch 64 --decode-tokens 32
for p in qwen3-8b mistral-7b; do
  step "csattn $p 32K: random context, decode"
  run $B --preset $p --contexts 32768 --random-context --decode-tokens 64
done
step "report"
node scripts/bench/report.mjs "$OUT" 2>> "$LOG" | tail -40
fi
rm -rf /tmp/suite-out && cp -r "$OUT" /tmp/suite-out
