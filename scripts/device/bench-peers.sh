#!/usr/bin/env bash
# llama.cpp (CUDA, flash attention) on the GPU machine, the peer csattn's speed is set against, at the
# Llama-3.1-8B shape with random weights. Its JSON lines go to $OUT/llamacpp.jsonl, the logs to
# $OUT/peers.log.
#
#   bash scripts/device/bench-peers.sh [prepare] [decode] [batched]     (default: all three)
#
#   prepare: build llama.cpp's CUDA tools (~5 min on the device's 16 cores) and write the f16 GGUF:
#            CPU work only, which bench-suite.sh runs in the background (nice 19) while the GPU
#            tests and PyTorch have the GPU
#   decode:  llama-bench -fa 1 -n 64 at depths 32K, 64K, 128K, for F16, Q8_0 and Q4_K_M (quantized
#            from the f16 GGUF first, ~1.5 min)                                             ~5 min
#   batched: whole-prompt prefill and shared-prompt batches B = 1, 4, 16 at 32K and 128K (and 64 at 32K)
#            (llama-batched-bench -pps -kvu)                                              ~1.5 min
# A part whose build or models are missing makes them first (the build tree and models live in
# /tmp, kept while the machine stays warm). When bench-suite.sh ran before on the same machine, its
# output (/tmp/suite-out) and this one's are joined into one report in $OUT (bench.md/json/svg),
# unless JOIN=0.
#
# llama.cpp comes from the kit in ../shared/peers/llamacpp, copied into the git-ignored .peers/ so that
# it travels (carry ".peers"): mkdir -p .peers && cp -r ../shared/peers/llamacpp .peers/
# With your own build: LLAMACPP_BIN=/path/to/build/bin (llama-bench, llama-batched-bench,
# llama-quantize) and LLAMACPP_KIT for make_gguf.py, or MODEL=/path/to/f16.gguf.
# decode takes WEIGHTS (default "F16 Q8_0 Q4_K_M") and KV (default f16; q8_0 runs the KV cache in
# Q8_0 too, -ctk q8_0 -ctv q8_0, beside csattn's --kv q8).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
KIT=${LLAMACPP_KIT:-.peers/llamacpp}
BIN=${LLAMACPP_BIN:-/tmp/llamacpp-build-cuda/bin}
MODELS=${MODEL_DIR:-/tmp/llamacpp-models}
F16=${MODEL:-$MODELS/llama31-8b-f16.gguf}
LOG=${PEERS_LOG:-$OUT/peers.log}
DEPTHS=${DEPTHS:-32768,65536,131072}
WEIGHTS=${WEIGHTS:-F16 Q8_0 Q4_K_M}
KV=${KV:-f16}
parts=${*:-prepare decode batched}
source scripts/device/lib.sh
has() { [[ " $parts " == *" $1 "* ]]; }

llama_ready() {
  if [[ ! -x $BIN/llama-bench ]]; then
    [[ -n ${LLAMACPP_BIN:-} ]] && { step "no llama-bench in LLAMACPP_BIN=$BIN"; return 1; }
    step "build llama.cpp (CUDA) from $KIT"
    # OUT= keeps the kit's build logs in its build tree: $OUT returns only 8 files.
    OUT= TARGETS="llama-bench llama-batched-bench llama-quantize" bash "$KIT/build.sh" >> "$LOG" 2>&1 || { step "llama.cpp build failed (see peers.log)"; return 1; }
  fi
  if [[ ! -s $F16 ]]; then
    step "make the f16 GGUF"
    mkdir -p "$MODELS"
    python3 "$KIT/make_gguf.py" --out "$F16.part" >> "$LOG" 2>&1 && mv "$F16.part" "$F16" || { step "make_gguf failed"; return 1; }
  fi
}

# The model file of a weight type (F16, Q8_0, Q4_K_M), quantized from the f16 one if missing.
model() {
  [[ $1 == F16 ]] && { echo "$F16"; return; }
  local m="$MODELS/llama31-8b-$1.gguf"
  if [[ ! -s $m ]]; then
    step "quantize to $1"
    "$BIN/llama-quantize" "$F16" "$m.part" "$1" "$(nproc)" >> "$LOG" 2>&1 && mv "$m.part" "$m" || { step "quantize $1 failed"; return 1; }
  fi
  echo "$m"
}

if has prepare; then llama_ready; fi
# llama-bench's JSON lines into llamacpp.jsonl (their model_type names the weights: F16, Q8_0, Q4_K - Medium).
if has decode && llama_ready; then
  for q in $WEIGHTS; do
    m=$(model $q) || continue
    step "llama-bench $q -d $DEPTHS, KV $KV"
    "$BIN/llama-bench" -m "$m" -ngl 99 -fa 1 -ctk "$KV" -ctv "$KV" -p 0 -n 64 -d "$DEPTHS" -r 2 -o jsonl 2>&1 | tee -a "$LOG" | grep '^{' >> "$OUT/llamacpp.jsonl"
  done
fi
if has batched && llama_ready; then
  for pp in 32768 130560; do
    npl=$([[ $pp == 32768 ]] && echo 1,4,16,64 || echo 1,4,16)  # 64 sequences' answers do not fit 128K's window
    step "llama-batched-bench F16 -npp $pp -npl $npl"
    "$BIN/llama-batched-bench" -m "$F16" -ngl 99 -fa 1 -kvu -pps -c $((pp + ${npl##*,} * 32 + 64)) -npp $pp -ntg 32 -npl $npl \
      --output-format jsonl 2>&1 | tee -a "$LOG" | grep '^{' | sed 's/^{/{"batched": true, "weights": "F16", /' >> "$OUT/llamacpp.jsonl"
  done
fi
[[ -s $OUT/llamacpp.jsonl ]] && step "llama.cpp: $(wc -l < "$OUT/llamacpp.jsonl") JSON lines"
if [[ ${JOIN:-1} == 1 && -d /tmp/suite-out && -s $OUT/llamacpp.jsonl ]]; then
  step "report over /tmp/suite-out and this run"
  cp /tmp/suite-out/*.jsonl /tmp/suite-out/*.log "$OUT"/ 2>/dev/null
  node scripts/bench/report.mjs "$OUT" 2>> "$LOG" | head -20
fi
