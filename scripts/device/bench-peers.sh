#!/usr/bin/env bash
# llama.cpp (CUDA, flash attention) on the GPU machine, the peer csattn's speed is set against, at the
# Llama-3.1-8B shape with random weights. Its JSON lines go to $OUT/llamacpp.jsonl, the logs to
# $OUT/peers.log; `node scripts/bench/report.mjs DIR...` joins them with csattn's and PyTorch's
# (scripts/device/bench-suite.sh) into one report.
#
#   bash scripts/device/bench-peers.sh [llama] [batched] [quant]     (default: all three)
#
#   llama:   build llama.cpp's CUDA tools (~3 min) and decode at 32K/64K/128K with f16 weights
#            (llama-bench -fa 1 -n 64 -d ...)                                         ~5 min
#   batched: whole-prompt prefill and shared-prompt batches B = 1, 4, 16 at 32K and 128K
#            (llama-batched-bench -pps -kvu)                                          ~2 min
#   quant:   Q8_0 and Q4_K_M, decode at 32K and 128K                                 ~3 min
# A part whose build or model is missing makes it first (the build tree and models live in /tmp,
# kept while the machine stays warm). All three pass 10 minutes on a fresh machine: run `llama`,
# then `batched quant`.
#
# llama.cpp comes from the kit in ../shared/peers/llamacpp, copied into the git-ignored .peers/ so that
# it travels (carry ".peers"): mkdir -p .peers && cp -r ../shared/peers/llamacpp .peers/
# With your own build: LLAMACPP_BIN=/path/to/build/bin (llama-bench, llama-batched-bench,
# llama-quantize) and LLAMACPP_KIT for make_gguf.py, or MODEL=/path/to/f16.gguf.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
KIT=${LLAMACPP_KIT:-.peers/llamacpp}
BIN=${LLAMACPP_BIN:-/tmp/llamacpp-build-cuda/bin}
MODELS=${MODEL_DIR:-/tmp/llamacpp-models}
F16=${MODEL:-$MODELS/llama31-8b-f16.gguf}
LOG="$OUT/peers.log"
parts=${*:-llama batched quant}
step() { echo "[$(date +%T)] $*" | tee -a "$LOG" >&2; }
has() { [[ " $parts " == *" $1 "* ]]; }

llama_ready() {
  if [[ ! -x $BIN/llama-bench ]]; then
    [[ -n ${LLAMACPP_BIN:-} ]] && { step "no llama-bench in LLAMACPP_BIN=$BIN"; return 1; }
    step "build llama.cpp (CUDA) from $KIT"
    bash "$KIT/build.sh" >> "$LOG" 2>&1 || { step "llama.cpp build failed (see peers.log)"; return 1; }
  fi
  if [[ ! -s $F16 ]]; then
    step "make the f16 GGUF"
    mkdir -p "$MODELS"
    python3 "$KIT/make_gguf.py" --out "$F16.part" >> "$LOG" 2>&1 && mv "$F16.part" "$F16" || { step "make_gguf failed"; return 1; }
  fi
}

# llama-bench's JSON lines into llamacpp.jsonl (their model_type names the weights: F16, Q8_0, Q4_K - Medium).
decode() { # model depths
  step "llama-bench $(basename "$1") -d $2"
  "$BIN/llama-bench" -m "$1" -ngl 99 -fa 1 -p 0 -n 64 -d "$2" -r 2 -o jsonl 2>&1 | tee -a "$LOG" | grep '^{' >> "$OUT/llamacpp.jsonl"
}

quantized() { # type
  local m="$MODELS/llama31-8b-$1.gguf"
  if [[ ! -s $m ]]; then
    step "quantize to $1"
    "$BIN/llama-quantize" "$F16" "$m.part" "$1" "$(nproc)" >> "$LOG" 2>&1 && mv "$m.part" "$m" || { step "quantize $1 failed"; return 1; }
  fi
  echo "$m"
}

if has llama && llama_ready; then
  decode "$F16" 32768,65536,131072
fi
if has batched && llama_ready; then
  for pp in 32768 130560; do
    step "llama-batched-bench f16 -npp $pp -npl 1,4,16"
    "$BIN/llama-batched-bench" -m "$F16" -ngl 99 -fa 1 -kvu -pps -c $((pp + 16 * 32 + 64)) -npp $pp -ntg 32 -npl 1,4,16 \
      --output-format jsonl 2>&1 | tee -a "$LOG" | grep '^{' | sed 's/^{/{"batched": true, "weights": "F16", /' >> "$OUT/llamacpp.jsonl"
  done
fi
if has quant && llama_ready; then
  for q in Q8_0 Q4_K_M; do m=$(quantized $q) && decode "$m" 32768,131072; done
fi
step "llama.cpp done: $(wc -l < "$OUT/llamacpp.jsonl" 2>/dev/null || echo 0) JSON lines"
