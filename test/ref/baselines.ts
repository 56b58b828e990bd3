/**
 * CPU references of the baseline selectors: the oracle's logits, Quest's page bounds and page
 * scores, the streaming selection and recall@K. Plain f64 arithmetic, except the fixed point the
 * GPU's top-K ranks (clamp, scale, round half to even); the top-K itself is refTopK (test/ref/csa.ts).
 */
import type { FixedPoint } from '../../src/attention/baselines.js';
import { refTopK, type RefSelectOptions } from './csa.js';

export interface RefCache {
  /** The K cache as f32 values [Hkv, capacity, d] (post-RoPE). */
  keys: Float32Array;
  N: number; Hq: number; Hkv: number; d: number; capacity: number;
}

/** round(clamp(s, ±limit) * scale), half to even as WGSL round(). */
export function toFixed(s: number, f: FixedPoint): number {
  const x = Math.min(f.limit, Math.max(-f.limit, s)) * f.scale;
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const kvHead = (c: RefCache, h: number) => Math.floor(h / (c.Hq / c.Hkv));
const qRow = (q: Float32Array, c: RefCache, h: number) => q.subarray(h * c.d, (h + 1) * c.d);
const keyRow = (c: RefCache, g: number, t: number) => c.keys.subarray((g * c.capacity + t) * c.d, (g * c.capacity + t + 1) * c.d);

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Per query head, the fixed-point logit q·k of every context key. */
export function refOracleScores(q: Float32Array, c: RefCache, f: FixedPoint): Int32Array[] {
  return Array.from({ length: c.Hq }, (_, h) =>
    Int32Array.from({ length: c.N }, (_, t) => toFixed(dot(qRow(q, c, h), keyRow(c, kvHead(c, h), t)), f)));
}

export interface RefPages {
  pageSize: number; pages: number;
  /** [Hkv, pages, d] */
  min: Float32Array;
  max: Float32Array;
}

export function refQuestPages(c: RefCache, pageSize: number): RefPages {
  const pages = Math.ceil(c.N / pageSize);
  const min = new Float32Array(c.Hkv * pages * c.d).fill(Infinity);
  const max = new Float32Array(c.Hkv * pages * c.d).fill(-Infinity);
  for (let g = 0; g < c.Hkv; g++) {
    for (let t = 0; t < c.N; t++) {
      const at = (g * pages + Math.floor(t / pageSize)) * c.d;
      keyRow(c, g, t).forEach((v, i) => {
        min[at + i] = Math.min(min[at + i], v);
        max[at + i] = Math.max(max[at + i], v);
      });
    }
  }
  return { pageSize, pages, min, max };
}

/** Per query head: the fixed-point Quest bound Σ_i max(q_i min_i, q_i max_i) of each page. */
export function refQuestPageScores(q: Float32Array, c: RefCache, p: RefPages, f: FixedPoint): Int32Array[] {
  return Array.from({ length: c.Hq }, (_, h) => Int32Array.from({ length: p.pages }, (_, page) => {
    const at = (kvHead(c, h) * p.pages + page) * c.d;
    const s = Array.from(qRow(q, c, h)).reduce((sum, x, i) => sum + Math.max(x * p.min[at + i], x * p.max[at + i]), 0);
    return toFixed(s, f);
  }));
}

/** Each key gets its page's score. */
export function perKey(pageScores: Int32Array[], pageSize: number, N: number): Int32Array[] {
  return pageScores.map((s) => Int32Array.from({ length: N }, (_, t) => s[Math.floor(t / pageSize)]));
}

/** Top-K of every list's scores (sinks, window and generated keys included), ascending. */
export function refSelect(scores: Int32Array[], o: RefSelectOptions, pos: number): number[][] {
  return scores.map((s) => refTopK(s, o, pos));
}

/** StreamingLLM: [0, sink) ∪ the last max(K - sink, window) context keys ∪ generated [N, pos]. */
export function refStreaming(o: RefSelectOptions, pos: number): number[] {
  const sink = Math.min(o.sink, o.N);
  const recent = Math.max(Math.round((1 - o.sparsity) * o.N) - sink, o.window);
  const keys = Array.from({ length: pos + 1 }, (_, t) => t);
  return keys.filter((t) => t < sink || (t >= o.N - recent && t < o.N) || (t >= o.N && t < o.N + o.maxNewTokens));
}

/** Mean over query heads of |got ∩ oracle ∩ [0, N)| / |oracle ∩ [0, N)|; `got` per KV head when it has Hkv lists. */
export function refRecall(got: number[][], oracle: number[][], a: { Hq: number; Hkv: number; N: number; chosen?: { from: number; to: number } }): number {
  const { from, to } = a.chosen ?? { from: 0, to: a.N };
  const total = oracle.reduce((sum, best, h) => {
    const mine = got.length === a.Hq ? got[h] : got[Math.floor(h / (a.Hq / a.Hkv))];
    const context = best.filter((t) => t >= from && t < to);
    return sum + (context.length ? context.filter((t) => mine.includes(t)).length / context.length : 1);
  }, 0);
  return total / a.Hq;
}
