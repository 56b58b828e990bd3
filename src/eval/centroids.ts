/**
 * CSAttention's premise, measured: decode-time queries lie near the centroids of the prefill
 * queries, nearer than to centroids of the keys (paper Sec. 3; issue #23). At the recall probe's
 * step, every query head's sub-vectors, as a method's tables see them, are compared with the
 * tables' centroids: the cosine to the nearest of the C centroids of each subspace, averaged over
 * the m subspaces and the query heads of a table group. Plain CPU arithmetic on read-back
 * buffers: it runs once per probe, never in the decode path.
 */
import { shapeOf, type CsaParams, type Shape } from '../attention/csa/tables.js';

/** Per layer the mean over table groups; per group, [layer][group]. */
export interface CentroidCosine { layers: number[]; groups: number[][] }

/** What the probe step's queries are compared with: one layer's centroids f32 [groups, m, C, ds] each. */
export interface CentroidSet { centroids: Float32Array[]; params: CsaParams }

/** Where the probe step's queries come from, to see them as the tables do. */
export interface ProbeStep {
  Hq: number; Hkv: number; d: number;
  /** The step's position (for 'pre' tables, which un-rotate the query by it). */
  pos: number;
  /** The model's RoPE inverse frequencies f32 [d / 2]. */
  invFreq: Float32Array;
}

/**
 * The cosine of the step's queries f32 [layers, Hq, d] (post-RoPE, as attention sees them) to
 * their nearest centroids, per layer and table group.
 */
export function centroidCosine(queries: Float32Array, set: CentroidSet, step: ProbeStep): CentroidCosine {
  const s = shapeOf(set.params, step.Hq, step.Hkv, step.d);
  const size = step.Hq * step.d;
  const groups = set.centroids.map((centroids, l) => {
    const q = tableQueries(queries.subarray(l * size, (l + 1) * size), set.params.rope, step);
    return nearestCosines(q, centroids, s);
  });
  return { layers: groups.map(mean), groups };
}

/**
 * Queries f32 [heads, d] as tables built with `rope` see them: for 'pre', each head rotated back
 * by -pos, as csa_choose does (HF rotate-half pairs i and i + d/2, angle f32(pos * invFreq[i])).
 */
export function tableQueries(q: Float32Array, rope: CsaParams['rope'], step: Pick<ProbeStep, 'd' | 'pos' | 'invFreq'>): Float32Array {
  if (rope === 'post') return q;
  const { d, pos, invFreq } = step;
  const half = d / 2;
  const out = new Float32Array(q.length);
  for (let row = 0; row < q.length; row += d) {
    for (let i = 0; i < half; i++) {
      const theta = Math.fround(pos * invFreq[i]);
      const c = Math.cos(theta), sin = Math.sin(theta);
      const x = q[row + i], y = q[row + i + half];
      out[row + i] = x * c + y * sin;
      out[row + i + half] = y * c - x * sin;
    }
  }
  return out;
}

/**
 * Per table group: the mean over its query heads and the m subspaces of the largest cosine
 * between the query sub-vector and the subspace's centroids. Group g holds query heads
 * [g perGroup, (g + 1) perGroup), as the tables were built (shapeOf).
 */
export function nearestCosines(q: Float32Array, centroids: Float32Array, s: Shape): number[] {
  return Array.from({ length: s.G }, (_, g) => {
    let sum = 0;
    for (let h = g * s.perGroup; h < (g + 1) * s.perGroup; h++) {
      for (let j = 0; j < s.m; j++) {
        const v = q.subarray(h * s.d + j * s.ds, h * s.d + (j + 1) * s.ds);
        sum += nearestCosine(v, centroids.subarray((g * s.m + j) * s.C * s.ds, (g * s.m + j + 1) * s.C * s.ds), s.ds);
      }
    }
    return sum / (s.perGroup * s.m);
  });
}

/**
 * max over the rows of `rows` (ds wide) of cos(v, row), within [-1, 1]. The built centroids are
 * unit rows, but both norms are divided out: a cosine whatever the tables hold. A zero vector has
 * no direction: 0.
 */
function nearestCosine(v: Float32Array, rows: Float32Array, ds: number): number {
  const nv = Math.sqrt(dot(v, v));
  let best: number | null = null;
  for (let at = 0; at < rows.length; at += ds) {
    const row = rows.subarray(at, at + ds);
    const nc = Math.sqrt(dot(row, row));
    if (nv > 0 && nc > 0) best = Math.max(best ?? -1, dot(v, row) / (nv * nc));
  }
  return best === null ? 0 : Math.min(1, Math.max(-1, best));
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
