"""A strong PyTorch decode for `csattn bench`'s peers: the way gpt-fast decodes, at csattn's shapes.

What it runs (stated in every JSON line it prints):
- A Llama-family model written out in plain PyTorch (as gpt-fast's model.py): bf16 weights, Q/K/V
  stacked into one matrix and gate/up into another, RMSNorm, RoPE with llama3 scaling, GQA.
- A static KV cache of the context plus the decode room, allocated per context (as gpt-fast sizes
  it per prompt: FlexAttention's decoding kernel splits the cache's whole length across its
  programs, so a cache much longer than the context costs time on every step).
- Prefill: one forward pass over the whole context, SDPA causal attention (the flash backend).
- Decode: one token a step with attention over exactly the filled part of the cache: FlexAttention
  with a causal block mask whose row for the query's 128-key block is selected by the position
  tensor, so blocks past the position are never read (FlexAttention lowers a one-token query to its
  flash-decoding kernel); the whole step under torch.compile(mode="reduce-overhead"), i.e. CUDA
  graphs. If that cannot compile, it falls back to eager SDPA over the filled slice and says so.
- `--check`: before timing, the same code on a small model of the same config family against
  transformers' logits (float32, eager attention), prefill and decode, printed as one JSON line.

  python3 scripts/bench/torch_decode.py --config cfg.json --contexts 32768,65536,131072 [--check]
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

BLOCK = 128  # FlexAttention's block size: the granularity at which unfilled cache is skipped


class Config:
    def __init__(self, raw):
        self.dim = raw["hidden_size"]
        self.layers = raw["num_hidden_layers"]
        self.heads = raw["num_attention_heads"]
        self.kv_heads = raw.get("num_key_value_heads", self.heads)
        self.head_dim = raw.get("head_dim") or self.dim // self.heads
        self.ffn = raw["intermediate_size"]
        self.vocab = raw["vocab_size"]
        self.eps = raw.get("rms_norm_eps", 1e-5)
        self.theta = raw.get("rope_theta", 10000.0)
        self.rope_scaling = raw.get("rope_scaling")
        self.max_positions = raw.get("max_position_embeddings", 131072)
        self.qkv_bias = bool(raw.get("attention_bias", False)) or raw.get("model_type") == "qwen2"
        self.qk_norm = raw.get("model_type") == "qwen3"
        self.tied = bool(raw.get("tie_word_embeddings", False))


def inv_freq(c: Config):
    f = 1.0 / (c.theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.float64) / c.head_dim))
    s = c.rope_scaling or {}
    if s.get("rope_type", s.get("type")) == "llama3":  # the wavelength bands of Llama 3.1's scaling
        factor, lo, hi, orig = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
        wavelen = 2 * math.pi / f
        smooth = (orig / wavelen - lo) / (hi - lo)
        scaled = torch.where(wavelen > orig / lo, f / factor, f)
        mid = (wavelen <= orig / lo) & (wavelen >= orig / hi)
        f = torch.where(mid, (1 - smooth) * f / factor + smooth * f, scaled)
    return f.float()


def rope(x, cos, sin):
    """Rotate halves (transformers' layout): x [B, H, T, D], cos/sin [T, D/2]."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(n))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class Layer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        q, kv = c.heads * c.head_dim, c.kv_heads * c.head_dim
        self.wqkv = nn.Linear(c.dim, q + 2 * kv, bias=c.qkv_bias)
        self.wo = nn.Linear(q, c.dim, bias=False)
        self.w13 = nn.Linear(c.dim, 2 * c.ffn, bias=False)
        self.w2 = nn.Linear(c.ffn, c.dim, bias=False)
        self.attn_norm, self.ffn_norm = RMSNorm(c.dim, c.eps), RMSNorm(c.dim, c.eps)
        if c.qk_norm:
            self.q_norm, self.k_norm = RMSNorm(c.head_dim, c.eps), RMSNorm(c.head_dim, c.eps)

    def forward(self, x, cos, sin, pos, k_cache, v_cache, attend):
        c = self.c
        B, T, _ = x.shape
        q, k, v = self.wqkv(self.attn_norm(x)).split([c.heads * c.head_dim, c.kv_heads * c.head_dim, c.kv_heads * c.head_dim], dim=-1)
        q = q.view(B, T, c.heads, c.head_dim)
        k = k.view(B, T, c.kv_heads, c.head_dim)
        if c.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = rope(q.transpose(1, 2), cos, sin), rope(k.transpose(1, 2), cos, sin)
        v = v.view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
        k_cache.index_copy_(2, pos, k)
        v_cache.index_copy_(2, pos, v)
        y = attend(q, k, v, k_cache, v_cache)
        x = x + self.wo(y.transpose(1, 2).reshape(B, T, -1))
        gate, up = self.w13(self.ffn_norm(x)).chunk(2, dim=-1)
        return x + self.w2(F.silu(gate) * up)


class Model(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c.vocab, c.dim)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.dim, c.eps)
        self.lm_head = nn.Linear(c.dim, c.vocab, bias=False)
        self.register_buffer("inv_freq", inv_freq(c), persistent=False)

    def setup_cache(self, length, dtype):
        shape = (1, self.c.kv_heads, length, self.c.head_dim)
        self.k_cache = [torch.zeros(shape, dtype=dtype) for _ in self.layers]
        self.v_cache = [torch.zeros(shape, dtype=dtype) for _ in self.layers]

    def forward(self, ids, pos, attend):
        angles = pos.float()[:, None] * self.inv_freq[None, :]
        cos, sin = angles.cos(), angles.sin()
        x = self.embed(ids)
        for layer, kc, vc in zip(self.layers, self.k_cache, self.v_cache):
            x = layer(x, cos, sin, pos, kc, vc, attend)
        return self.lm_head(self.norm(x[:, -1:]))


def repeat_kv(x, heads):
    return x.repeat_interleave(heads // x.shape[1], dim=1)


def prefill_attention(q, k, v, k_cache, v_cache):
    """Causal attention within the prefilled tokens (they are the whole context). K/V are repeated
    to every query head so that SDPA picks its flash kernel (its GQA flag would send it to the math one)."""
    return F.scaled_dot_product_attention(q, repeat_kv(k, q.shape[1]), repeat_kv(v, q.shape[1]), is_causal=True)


def causal_block_mask(length, device):
    """FlexAttention's causal BlockMask over the cache, built from its blocks (no dense mask is made)."""
    from torch.nn.attention.flex_attention import BlockMask

    n = length // BLOCK
    rows = torch.arange(n, device=device, dtype=torch.int32)
    partial_num = torch.ones(1, 1, n, device=device, dtype=torch.int32)  # the diagonal block
    partial_idx = rows.view(1, 1, n, 1).expand(1, 1, n, n).contiguous()
    full_num = rows.view(1, 1, n).contiguous()  # every block left of the diagonal
    full_idx = rows.view(1, 1, 1, n).expand(1, 1, n, n).contiguous()
    return BlockMask.from_kv_blocks(partial_num, partial_idx, full_num, full_idx, BLOCK_SIZE=BLOCK,
                                    mask_mod=lambda b, h, q, kv: q >= kv, seq_lengths=(length, length))


def flex_decoder(model):
    """One greedy decode step over the filled cache, compiled with CUDA graphs: (next token, logits)."""
    from torch.nn.attention.flex_attention import flex_attention

    length = model.k_cache[0].shape[2]
    mask = causal_block_mask(length, "cuda")
    gqa = model.c.heads != model.c.kv_heads

    def step(tok, pos):
        row = mask[:, :, pos // BLOCK]  # the query's block row: the kv blocks up to the position
        offset = pos[0]
        row.mask_mod = lambda b, h, q, kv: q + offset >= kv
        row.seq_lengths = (1, length)

        def attend(q, k, v, k_cache, v_cache):
            return flex_attention(q, k_cache, v_cache, block_mask=row, enable_gqa=gqa)

        logits = model(tok, pos, attend)[:, -1].float()
        return logits.argmax(-1).view(1, 1), logits

    compiled = torch.compile(step, mode="reduce-overhead", fullgraph=True)

    def run(tok, pos):
        torch.compiler.cudagraph_mark_step_begin()
        t, logits = compiled(tok, pos)
        return t.clone(), logits.clone()  # CUDA graphs reuse their outputs

    return run


def slice_decoder(model):
    """Eager decode with SDPA over exactly the filled slice (the length read back each step): the
    fallback, and the reference the compiled step is checked against."""
    gqa = model.c.heads != model.c.kv_heads

    def run(tok, pos):
        n = int(pos[0]) + 1

        def attend(q, k, v, k_cache, v_cache):
            return F.scaled_dot_product_attention(q, k_cache[:, :, :n], v_cache[:, :, :n], enable_gqa=gqa)

        logits = model(tok, pos, attend)[:, -1].float()
        return logits.argmax(-1).view(1, 1), logits

    return run


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def random_model(c: Config, dtype):
    torch.manual_seed(0)
    with torch.device("cuda"):
        m = Model(c).to(dtype)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.02)
    return m.eval()


def rel_diff(a, b):
    """Largest absolute difference over the reference's logit range."""
    return ((a - b).abs().max() / (b.max() - b.min())).item()


def bench(a, raw):
    c = Config(raw)
    name = raw.get("_name_or_path") or raw.get("model_type")
    contexts = [min(int(x), c.max_positions - a.decode_tokens - 8) for x in a.contexts.split(",")]
    model = random_model(c, torch.bfloat16)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    kv_row_bytes = 2 * c.layers * c.kv_heads * c.head_dim * 2
    for n in contexts:
        model.k_cache = model.v_cache = None
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        with torch.device("cuda"):
            model.setup_cache(-(-(n + a.decode_tokens + 8) // BLOCK) * BLOCK, torch.bfloat16)
        decoder, mode = None, "eager sdpa over the filled slice"
        if not a.no_compile:
            decoder, mode = flex_decoder(model), "flex-decoding + CUDA graphs"
        try:
            with torch.no_grad():
                mode, row = run_context(a, model, n, decoder, mode)
        except torch.OutOfMemoryError as e:
            print(json.dumps({"reference": "pytorch", "model": name, "context": n, "error": f"out of memory: {str(e)[:160]}"}), flush=True)
            continue
        bytes_per_step = weight_bytes + (n + 4 + a.decode_tokens / 2) * kv_row_bytes
        print(json.dumps({
            "reference": "pytorch", "model": name, "context": n, "torch": torch.__version__,
            "device": torch.cuda.get_device_name(), "decodeMode": mode, **row,
            "bytesPerStep": bytes_per_step, "achievedGBps": bytes_per_step / row["msPerToken"] / 1e6,
            "peakGpuBytes": torch.cuda.max_memory_allocated(),
        }), flush=True)


def run_context(a, model, n, decoder, mode):
    """Prefill n random tokens, then time a.decode_tokens greedy steps; the compiled step's first
    logits are checked against eager SDPA over the same cache."""
    ids = torch.randint(0, model.c.vocab, (1, n), device="cuda")
    out, prefill_s = timed(lambda: model(ids, torch.arange(n, device="cuda"), prefill_attention))
    tok, pos = out[:, -1].argmax(-1).view(1, 1), n
    del out
    row = {"prefillMs": prefill_s * 1e3, "prefillTokensPerSecond": n / prefill_s}
    reference = slice_decoder(model)
    if decoder is not None:
        try:
            _, want = reference(tok, torch.tensor([pos], device="cuda"))
            for _ in range(5):  # warm-up: compiles, records the graph, replays (rewrites the same rows)
                t, got = decoder(tok, torch.tensor([pos], device="cuda"))
            row["compiledVsEager"] = rel_diff(got, want)
        except Exception as e:  # noqa: BLE001 - report and fall back
            print(json.dumps({"warning": f"compiled FlexAttention decode failed, eager SDPA instead: {str(e)[:400]}"}), flush=True)
            decoder, mode = None, "eager sdpa over the filled slice"
    run = decoder or reference
    positions = [torch.tensor([pos + i], device="cuda") for i in range(a.decode_tokens)]

    def decode():
        t = tok
        for p in positions:
            t, _ = run(t, p)
        return t

    # Two rounds over the same positions (each rewrites the rows of the last): the faster one counts.
    rounds = [timed(decode)[1] for _ in range(2)]
    row["roundsMs"] = [r * 1e3 / a.decode_tokens for r in rounds]
    decode_s = min(rounds)
    row["msPerToken"] = decode_s * 1e3 / a.decode_tokens
    return mode, row


def check_against_transformers(raw, tokens=300, steps=8):
    """The same code, float32, on a small model of the config's family, against transformers."""
    from transformers import AutoConfig, AutoModelForCausalLM

    small = {**raw, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
             "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 1024,
             "bos_token_id": 1, "eos_token_id": 2}
    cfg = AutoConfig.for_model(**small)
    torch.manual_seed(0)
    with torch.device("cuda"):
        ref = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.02) if p.dim() > 1 else p.uniform_(0.5, 1.5)
    c = Config(small)
    with torch.device("cuda"):
        ours = Model(c)
        ours.setup_cache(-(-(tokens + steps) // BLOCK) * BLOCK, torch.float32)
    sd, base = ref.state_dict(), "model."
    mine = {"embed.weight": sd[base + "embed_tokens.weight"], "norm.weight": sd[base + "norm.weight"],
            "lm_head.weight": sd.get("lm_head.weight", sd[base + "embed_tokens.weight"])}
    for i in range(c.layers):
        p = f"{base}layers.{i}."
        a = p + "self_attn."
        mine[f"layers.{i}.wqkv.weight"] = torch.cat([sd[a + "q_proj.weight"], sd[a + "k_proj.weight"], sd[a + "v_proj.weight"]])
        if c.qkv_bias:
            mine[f"layers.{i}.wqkv.bias"] = torch.cat([sd[a + "q_proj.bias"], sd[a + "k_proj.bias"], sd[a + "v_proj.bias"]])
        if c.qk_norm:
            mine[f"layers.{i}.q_norm.weight"], mine[f"layers.{i}.k_norm.weight"] = sd[a + "q_norm.weight"], sd[a + "k_norm.weight"]
        mine[f"layers.{i}.wo.weight"] = sd[a + "o_proj.weight"]
        mine[f"layers.{i}.w13.weight"] = torch.cat([sd[p + "mlp.gate_proj.weight"], sd[p + "mlp.up_proj.weight"]])
        mine[f"layers.{i}.w2.weight"] = sd[p + "mlp.down_proj.weight"]
        mine[f"layers.{i}.attn_norm.weight"] = sd[p + "input_layernorm.weight"]
        mine[f"layers.{i}.ffn_norm.weight"] = sd[p + "post_attention_layernorm.weight"]
    ours.load_state_dict(mine)
    ours.eval()
    ids = torch.randint(0, c.vocab, (1, tokens + steps), device="cuda")
    with torch.no_grad():
        want = ref(ids).logits[0].float()
        got_prefill = ours(ids[:, :tokens], torch.arange(tokens, device="cuda"), prefill_attention)[:, -1].float()
        decoder = flex_decoder(ours)
        got = []
        for i in range(steps):
            _, logits = decoder(ids[:, tokens + i:tokens + i + 1], torch.tensor([tokens + i], device="cuda"))
            got.append(logits)
    return {"reference": "pytorch-check", "against": f"transformers {__import__('transformers').__version__} float32 eager",
            "shape": {k: small[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size")},
            "prefillRelDiff": rel_diff(got_prefill[0], want[tokens - 1]),
            "decodeRelDiff": max(rel_diff(g[0], want[tokens + i]) for i, g in enumerate(got))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="config.json of the model shape")
    ap.add_argument("--contexts", default="32768,65536,131072")
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--no-compile", action="store_true", help="eager decode only (SDPA over the filled slice)")
    ap.add_argument("--check", action="store_true", help="first compare with transformers on a small model of the family")
    a = ap.parse_args()
    raw = json.load(open(a.config))
    if a.check:
        print(json.dumps(check_against_transformers(raw)), flush=True)
    bench(a, raw)


if __name__ == "__main__":
    main()
