/**
 * CPU references of the dense kernels (src/ops/dense.ts): plain loops, f64 accumulation. f16
 * tensors are passed as the f32 values they hold (roundF16 of what was uploaded).
 */
import { roundF16 } from '../../src/weights/f16.js';

/** out[t] = table[ids[t]]; table [vocab, H]. */
export function embedding(ids: ArrayLike<number>, table: Float32Array, H: number): Float32Array {
  const out = new Float32Array(ids.length * H);
  for (let t = 0; t < ids.length; t++) out.set(table.subarray(ids[t] * H, (ids[t] + 1) * H), t * H);
  return out;
}

/** HF RMSNorm of each row of x [rows, n]: x · rsqrt(mean(x²) + eps) · w. */
export function rmsnorm(x: Float32Array, w: Float32Array, n: number, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i] ** 2;
    const scale = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) out[r * n + i] = x[r * n + i] * scale * w[i];
  }
  return out;
}

export const silu = (g: number) => g / (1 + Math.exp(-g));

export interface MatmulRef {
  x: Float32Array; // [T, K]
  w: Float32Array; // [N, K]
  w2?: Float32Array; // [N, K], with swiglu
  bias?: Float32Array; // [N]
  y0?: Float32Array; // [T, N]: accumulate into it
  T: number;
  K: number;
  N: number;
  swiglu?: boolean;
}

/** y = x · Wᵀ (+ bias) (+ y0); with swiglu, silu(x · Wᵀ) ⊙ (x · W2ᵀ) (+ y0). */
export function matmul(a: MatmulRef): Float32Array {
  const y = new Float32Array(a.T * a.N);
  for (let t = 0; t < a.T; t++) {
    for (let n = 0; n < a.N; n++) {
      const g = dot(a.x, t * a.K, a.w, n * a.K, a.K);
      let v = a.swiglu ? silu(g) * dot(a.x, t * a.K, a.w2!, n * a.K, a.K) : g;
      if (a.bias) v += a.bias[n];
      if (a.y0) v += a.y0[t * a.N + n];
      y[t * a.N + n] = v;
    }
  }
  return y;
}

function dot(a: Float32Array, i: number, b: Float32Array, j: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s += a[i + k] * b[j + k];
  return s;
}

export interface RopeRef {
  x: Float32Array; // [T, H, d]
  T: number;
  H: number;
  d: number;
  pos0: number;
  invFreq: Float32Array; // [d/2]
  norm?: { w: Float32Array; eps: number }; // Qwen3 q/k norm, before rotating
}

/**
 * HF RoPE (rotate_half) at positions pos0 + t. The angle is the f32 product pos · invFreq[i], as HF
 * computes it; its cos and sin are exact.
 */
export function rope(a: RopeRef): Float32Array {
  const { d } = a;
  const half = d / 2;
  const out = new Float32Array(a.x.length);
  for (let t = 0; t < a.T; t++) {
    for (let h = 0; h < a.H; h++) {
      const base = (t * a.H + h) * d;
      const head = a.x.subarray(base, base + d);
      const v = a.norm ? rmsnorm(head, a.norm.w, d, a.norm.eps) : head;
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(Math.fround(a.pos0 + t) * a.invFreq[i]);
        const c = Math.cos(angle), s = Math.sin(angle);
        out[base + i] = v[i] * c - v[i + half] * s;
        out[base + i + half] = v[i + half] * c + v[i] * s;
      }
    }
  }
  return out;
}

/**
 * Writes x [T, H, d] (rounded to f16) into a cache [H, capacity, d] at positions pos0 + t, in place.
 */
export function cacheWrite(cache: Float32Array, x: Float32Array, T: number, H: number, d: number, capacity: number, pos0: number): void {
  const r = roundF16(x);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      cache.set(r.subarray((t * H + h) * d, (t * H + h + 1) * d), (h * capacity + pos0 + t) * d);
    }
  }
}

/** Index of the largest value, the lowest on ties. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * Temperature + top-p sampling with a given uniform u ∈ [0, 1): p ∝ exp(logit / temperature); keep
 * the most probable tokens until their probability reaches topP, plus every token equal to the
 * last one kept; draw u · Σ kept on the cumulative sum of kept tokens in token order.
 */
export function sample(logits: ArrayLike<number>, temperature: number, topP: number, u: number): number {
  const V = logits.length;
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[i]);
  const p = Array.from({ length: V }, (_, i) => Math.exp((logits[i] - m) / temperature));
  const total = p.reduce((s, v) => s + v, 0);
  const sorted = [...p].sort((a, b) => b - a);
  let tau = sorted[V - 1];
  for (let i = 0, cum = 0; i < V; i++) {
    cum += sorted[i];
    if (cum >= topP * total) { tau = sorted[i]; break; }
  }
  const kept = p.map((v) => (v >= tau ? v : 0));
  const target = u * kept.reduce((s, v) => s + v, 0);
  let last = 0;
  for (let i = 0, cum = 0; i < V; i++) {
    if (!kept[i]) continue;
    last = i;
    cum += kept[i];
    if (cum > target) return i;
  }
  return last;
}
