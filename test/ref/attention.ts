/**
 * CPU references (f64) for attention over an f16 KV cache. Caches are given as the f16 values
 * widened to numbers, layout [Hkv, capacity, d]; queries and outputs are [T, Hq, d].
 */

export interface CacheShape { Hq: number; Hkv: number; d: number; capacity: number; scale: number }

/** softmax(scale · q·kᵀ) · V of one query vector over the given key positions of KV head `kvh`. */
function attend(q: ArrayLike<number>, qOff: number, k: ArrayLike<number>, v: ArrayLike<number>, s: CacheShape, kvh: number, keys: ArrayLike<number>): Float64Array {
  const { d, capacity } = s;
  const scores = Array.from(keys, (t) => {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += q[qOff + i] * k[(kvh * capacity + t) * d + i];
    return dot * s.scale;
  });
  const max = Math.max(...scores);
  const weights = scores.map((x) => Math.exp(x - max));
  const sum = weights.reduce((x, y) => x + y, 0);
  const out = new Float64Array(d);
  Array.from(keys).forEach((t, j) => {
    for (let i = 0; i < d; i++) out[i] += (weights[j] / sum) * v[(kvh * capacity + t) * d + i];
  });
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Causal prefill: query t (at position pos0 + t) attends keys [0, pos0 + t]; query head h uses KV head h / (Hq/Hkv). */
export function prefillAttentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, s: CacheShape & { T: number; pos0: number }): Float64Array {
  const { T, Hq, Hkv, d } = s;
  const out = new Float64Array(T * Hq * d);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < Hq; h++) {
      const o = (t * Hq + h) * d;
      out.set(attend(q, o, k, v, s, Math.floor(h / (Hq / Hkv)), range(s.pos0 + t + 1)), o);
    }
  }
  return out;
}

/** One query token [Hq, d] attending, per query head, the key positions `keysOf(h)`. */
export function decodeAttentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, s: CacheShape, keysOf: (h: number) => ArrayLike<number>): Float64Array {
  const { Hq, Hkv, d } = s;
  const out = new Float64Array(Hq * d);
  for (let h = 0; h < Hq; h++) out.set(attend(q, h * d, k, v, s, Math.floor(h / (Hq / Hkv)), keysOf(h)), h * d);
  return out;
}

/** Decode over all keys [0, n). */
export const allKeys = range;

/** Where a batch keeps its rows (src/ops/attention.ts, BatchRows): the context [0, ctx), sequence b's position p >= ctx at row p + (b + 1)·room. */
export interface BatchRows { ctx: number; room: number }

export function batchRow(r: BatchRows, b: number, p: number): number {
  return p < r.ctx ? p : p + (b + 1) * r.room;
}

/** B query tokens [B, Hq, d]: sequence b's head h attends the key positions keysOf(b, h), read at sequence b's rows. */
export function batchDecodeAttentionRef(q: Float32Array, k: ArrayLike<number>, v: ArrayLike<number>, s: CacheShape, r: BatchRows, B: number,
  keysOf: (b: number, h: number) => number[]): Float64Array {
  const n = s.Hq * s.d;
  const out = new Float64Array(B * n);
  for (let b = 0; b < B; b++) out.set(decodeAttentionRef(q.subarray(b * n, (b + 1) * n), k, v, s, (h) => keysOf(b, h).map((p) => batchRow(r, b, p))), b * n);
  return out;
}
