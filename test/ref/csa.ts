/**
 * CPU reference of CSAttention: table build (cosine k-means with the same init picks and iteration
 * count, partial scores rounded to f16, top-L lists), decode selection (centroid choice, fixed-point
 * gather-and-sum, top-K with sinks, window and generated keys).
 * Plain f64 arithmetic, except where the GPU's format is part of the contract: scores rounded to f16
 * (through f32), fixed-point sums, and the f32 multipliers that define the fixed-point units.
 */
import { initialPicks } from '../../src/attention/csa/build.js';
import type { CsaParams } from '../../src/attention/csa/tables.js';
import { fromF16Bits, toF16Bits } from '../../src/weights/f16.js';

export interface RefLayer {
  /** Post-RoPE queries [N, Hq, d]. */
  queries: Float32Array;
  /** The K cache as f32 values [Hkv, capacity, d] (post-RoPE). */
  keys: Float32Array;
  N: number; Hq: number; Hkv: number; d: number; capacity: number;
  invFreq?: Float32Array;
  params: CsaParams;
}

/** Lists by id (group * m + j) * C + c; entries in ascending key order. */
export interface RefTables {
  groups: number; m: number; C: number; ds: number;
  /** [groups, m, C, ds] */
  centroids: Float32Array;
  idx: number[][];
  score: number[][];
}

const groupsOf = (l: RefLayer) => (l.params.granularity === 'kv-head' ? l.Hkv : l.Hq);
const headsPerGroup = (l: RefLayer) => (l.params.granularity === 'kv-head' ? l.Hq / l.Hkv : 1);

/** Row `x` (post-RoPE) as the tables see it: rotated back by -pos for rope 'pre' (rotate-half). */
export function asSeen(x: ArrayLike<number>, pos: number, l: Pick<RefLayer, 'd' | 'invFreq' | 'params'>): Float64Array {
  const out = Float64Array.from(x);
  if (l.params.rope === 'post') return out;
  const half = l.d / 2;
  for (let i = 0; i < half; i++) {
    const theta = Math.fround(pos * l.invFreq![i]);
    const c = Math.cos(theta), s = Math.sin(theta);
    out[i] = x[i] * c + x[i + half] * s;
    out[i + half] = x[i + half] * c - x[i] * s;
  }
  return out;
}

/** HF rotate-half RoPE by +pos, in place: turns rows "as the tables see them" into post-RoPE inputs. */
export function rope(x: Float32Array, pos: number, invFreq: Float32Array): void {
  const half = x.length / 2;
  for (let i = 0; i < half; i++) {
    const th = Math.fround(pos * invFreq[i]), c = Math.cos(th), s = Math.sin(th);
    const a = x[i], b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = b * c + a * s;
  }
}

export const queryRow = (l: RefLayer, t: number, h: number) =>
  asSeen(l.queries.subarray((t * l.Hq + h) * l.d, (t * l.Hq + h + 1) * l.d), t, l);
export const keyRow = (l: RefLayer, h: number, t: number) =>
  asSeen(l.keys.subarray((h * l.capacity + t) * l.d, (h * l.capacity + t + 1) * l.d), t, l);

export function sub(row: Float64Array, j: number, ds: number): Float64Array {
  return row.subarray(j * ds, (j + 1) * ds);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function normalized(v: ArrayLike<number>): Float64Array {
  const n = Math.sqrt(dot(v, v));
  return Float64Array.from(v, (x) => (n > 0 ? x / n : x));
}

/** Index of the largest dot product with `v`, the lowest on ties. */
export function nearest(v: ArrayLike<number>, centroids: ArrayLike<number>[]): number {
  let best = -Infinity, arg = 0;
  centroids.forEach((c, i) => {
    const s = dot(v, c);
    if (s > best) { best = s; arg = i; }
  });
  return arg;
}

/** Cosine k-means: init = the picked points, assign by max dot, update = normalised sum (kept if 0). */
export function kmeans(points: Float64Array[], picks: ArrayLike<number>, iters: number): Float64Array[] {
  const cents: Float64Array[] = Array.from(picks, (p) => Float64Array.from(points[p]));
  for (let it = 0; it < iters; it++) {
    const sums = cents.map((c) => new Float64Array(c.length));
    for (const x of points) {
      const s = sums[nearest(x, cents)];
      x.forEach((v, i) => { s[i] += v; });
    }
    sums.forEach((s, c) => { if (dot(s, s) > 0) cents[c] = normalized(s); });
  }
  return cents;
}

/** A score as the lists store it: f32, rounded to f16 (clamped to its range), -0 as +0. */
export function listValue(s: number): number {
  const h = fromF16Bits(toF16Bits(Math.min(65504, Math.max(-65504, s))));
  return h === 0 ? 0 : h;
}

/** The L keys with the largest value (ties: the lower key), in ascending key order. */
export function topL(values: ArrayLike<number>, L: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b] - values[a] || a - b)
    .slice(0, L)
    .sort((a, b) => a - b);
}

/** The points of (group, subspace j): the group's query heads pooled, row r = t * heads + h. */
function groupPoints(l: RefLayer, g: number, j: number, ds: number): Float64Array[] {
  const gp = headsPerGroup(l);
  const out: Float64Array[] = [];
  for (let t = 0; t < l.N; t++) {
    for (let h = 0; h < gp; h++) out.push(normalized(sub(queryRow(l, t, g * gp + h), j, ds)));
  }
  return out;
}

export function kvHeadOf(l: Pick<RefLayer, 'Hq' | 'Hkv' | 'params'>, g: number): number {
  return l.params.granularity === 'kv-head' ? g : Math.floor(g / (l.Hq / l.Hkv));
}

export function refBuildTables(l: RefLayer): RefTables {
  const { subspaces: m, centroids: C } = l.params;
  const ds = l.d / m;
  const G = groupsOf(l);
  const L = Math.min(l.N, Math.max(1, Math.ceil(l.params.listFraction * l.N)));
  const centroids = new Float32Array(G * m * C * ds);
  const idx: number[][] = [], score: number[][] = [];
  for (let g = 0; g < G; g++) {
    const keys = Array.from({ length: l.N }, (_, t) => keyRow(l, kvHeadOf(l, g), t));
    for (let j = 0; j < m; j++) {
      const points = groupPoints(l, g, j, ds);
      const cents = kmeans(points, initialPicks(l.params.seed, g, j, points.length, C), l.params.kmeansIters);
      cents.forEach((c, ci) => {
        const mu = Float32Array.from(c);
        centroids.set(mu, ((g * m + j) * C + ci) * ds);
        const values = keys.map((k) => listValue(dot(mu, sub(k, j, ds))));
        const top = topL(values, L);
        idx.push(top);
        score.push(top.map((n) => values[n]));
      });
    }
  }
  return { groups: G, m, C, ds, centroids, idx, score };
}

export function centroidRows(t: RefTables, g: number, j: number): Float32Array[] {
  return Array.from({ length: t.C }, (_, c) => t.centroids.subarray(((g * t.m + j) * t.C + c) * t.ds, ((g * t.m + j) * t.C + c + 1) * t.ds));
}

/** A chosen list and its fixed-point multiplier (f32). */
export interface Choice { list: number; mult: number }

/**
 * Decode step, 1: per group, the nearest centroid of each (query head, subspace), in the GPU's
 * order (head-major), or of each subspace of the heads' summed query for a pooled choice, with multipliers w * 2^(20 - e) where B = sum of w * max|score| < 2^e (over
 * each list's context entries: the only ones summed).
 */
export function refChoose(q: Float32Array, pos: number, t: RefTables, l: Pick<RefLayer, 'Hq' | 'Hkv' | 'd' | 'invFreq' | 'params'>): Choice[][] {
  const gp = l.params.granularity === 'kv-head' ? l.Hq / l.Hkv : 1;
  const pooled = l.params.choice === 'pooled';
  const headRow = (h: number) => asSeen(q.subarray(h * l.d, (h + 1) * l.d), pos, l);
  const out: Choice[][] = [];
  for (let g = 0; g < t.groups; g++) {
    const picks: { list: number; w: number }[] = [];
    let bound = 0;
    const heads = Array.from({ length: gp }, (_, h) => headRow(g * gp + h));
    // A pooled choice: the heads' rows summed in f32, in head order (as the GPU adds them).
    const rows = pooled ? [heads.reduce((a, r) => a.map((x, i) => Math.fround(x + r[i])))] : heads;
    for (const row of rows) {
      for (let j = 0; j < t.m; j++) {
        const v = sub(row, j, t.ds);
        const list = (g * t.m + j) * t.C + nearest(normalized(v), centroidRows(t, g, j));
        const w = l.params.scoreScale === 'qnorm' ? Math.fround(Math.sqrt(dot(v, v))) : 1;
        const top = t.score[list].reduce((a, s) => Math.max(a, Math.abs(s)), 0);
        bound = Math.fround(bound + Math.fround(w * top));
        picks.push({ list, w });
      }
    }
    const scale = 2 ** Math.min(126, Math.max(-126, 20 - exponent(bound)));
    out.push(picks.map(({ list, w }) => ({ list, mult: Math.fround(w * scale) })));
  }
  return out;
}

/** e with 2^(e-1) <= x < 2^e (frexp), 0 for 0. */
function exponent(x: number): number {
  if (x === 0) return 0;
  let e = Math.floor(Math.log2(x)) + 1;
  if (2 ** (e - 1) > x) e--;
  if (2 ** e <= x) e++;
  return e;
}

/** Round half to even, as WGSL round(). */
function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Decode step, 2: per group, the fixed-point sum of its chosen lists' scores per context key. */
export function refGatherSum(t: RefTables, choice: Choice[][], N: number): Int32Array[] {
  return choice.map((lists) => {
    const acc = new Int32Array(N);
    for (const { list, mult } of lists) {
      t.idx[list].forEach((key, e) => {
        if (key < N) acc[key] += roundEven(Math.fround(t.score[list][e] * mult));
      });
    }
    return acc;
  });
}

export interface RefSelectOptions { sparsity: number; sink: number; window: number; N: number; maxNewTokens: number }

/**
 * Decode step, 3: sinks [0, sink), window [N - window, N) and generated keys [N, pos] always; the
 * rest of K = round((1 - sparsity) N) by score (clamped to 22 bits as the GPU's order key), ties to
 * the lower key. Ascending key order.
 */
export function refTopK(acc: Int32Array, o: RefSelectOptions, pos: number): number[] {
  const N = o.N;
  const forced = (k: number) => k < o.sink || k >= N - o.window;
  const taken = Array.from({ length: N }, (_, k) => k).filter(forced);
  const R = Math.max(0, Math.round((1 - o.sparsity) * N) - taken.length);
  const u = (k: number) => Math.min(2 ** 22 - 1, Math.max(0, acc[k] + 2 ** 21));
  const candidates = Array.from({ length: N }, (_, k) => k).filter((k) => !forced(k));
  taken.push(...candidates.sort((a, b) => u(b) - u(a) || a - b).slice(0, R));
  const generated = Math.max(0, Math.min(pos + 1 - N, o.maxNewTokens));
  for (let i = 0; i < generated; i++) taken.push(N + i);
  return taken.sort((a, b) => a - b);
}
