"""PyTorch reference for `csattn bench`: transformers' causal LM at the same shapes on the same GPU.

Random bf16 weights (speed does not depend on their values), SDPA attention, a static KV cache,
and the decode step under torch.compile (mode reduce-overhead: CUDA graphs) where it works, else
eager. Prints one JSON line per context: prefill seconds (one forward pass over the context) and
decode ms/token with full attention.

  python3 scripts/bench/torch_reference.py --config cfg.json --contexts 32768,65536,131072
"""
import argparse
import json
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM, StaticCache


def make_cache(cfg, length):
    try:
        return StaticCache(config=cfg, max_cache_len=length)
    except TypeError:  # older signatures also want the batch size, device and dtype
        return StaticCache(config=cfg, max_batch_size=1, max_cache_len=length, device="cuda", dtype=torch.bfloat16)


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="config.json of the model shape")
    ap.add_argument("--contexts", default="32768,65536,131072")
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--no-compile", action="store_true", help="eager decode only")
    a = ap.parse_args()

    raw = json.load(open(a.config))
    cfg = AutoConfig.for_model(**raw)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation="sdpa").eval()
    name = raw.get("_name_or_path") or raw.get("model_type")

    for n in [int(x) for x in a.contexts.split(",")]:
        n = min(n, cfg.max_position_embeddings - a.decode_tokens - 8)
        try:
            run_context(model, cfg, name, n, a)
        except torch.OutOfMemoryError as e:
            print(json.dumps({"reference": "pytorch", "model": name, "context": n, "error": f"out of memory: {str(e)[:160]}"}), flush=True)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_context(model, cfg, name, n, a):
    ids = torch.randint(0, cfg.vocab_size, (1, n), device="cuda")
    cache = make_cache(cfg, n + a.decode_tokens + 8)
    with torch.no_grad():
        out, prefill_s = timed(lambda: model(ids, past_key_values=cache, use_cache=True, logits_to_keep=1))
    tok = out.logits[:, -1:].argmax(-1)
    del out

    def step(tok, pos):
        return model(tok, past_key_values=cache, cache_position=pos, use_cache=True).logits[:, -1:].argmax(-1)

    def graph_step(tok, pos):
        # CUDA graphs reuse their output buffers: mark each step and keep a copy of the token.
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(tok, pos).clone()

    mode = "eager"
    fn = step
    compiled = None
    if not a.no_compile:
        try:
            compiled = torch.compile(step, mode="reduce-overhead", fullgraph=True)
            fn = graph_step
            mode = "compile"
        except Exception as e:  # noqa: BLE001 - report and fall back
            print(json.dumps({"warning": f"torch.compile unavailable: {e}"}), flush=True)
    pos = n
    with torch.no_grad():
        try:
            for _ in range(3):  # warm-up (compiles and records the graph)
                tok = fn(tok, torch.tensor([pos], device="cuda"))
                pos += 1
        except Exception as e:  # noqa: BLE001
            print(json.dumps({"warning": f"compiled decode failed, eager instead: {str(e)[:200]}"}), flush=True)
            fn, mode = step, "eager"
        steps = a.decode_tokens - 4
        positions = [torch.tensor([pos + i], device="cuda") for i in range(steps)]

        def decode():
            t = tok
            for p in positions:
                t = fn(t, p)
            return t

        _, decode_s = timed(decode)
    print(json.dumps({
        "reference": "pytorch", "model": name, "context": n, "torch": torch.__version__,
        "device": torch.cuda.get_device_name(), "prefillMs": prefill_s * 1e3,
        "prefillTokensPerSecond": n / prefill_s, "decodeMode": mode,
        "msPerToken": decode_s * 1e3 / steps, "peakGpuBytes": torch.cuda.max_memory_allocated(),
    }), flush=True)



if __name__ == "__main__":
    main()
