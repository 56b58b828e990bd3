import { describe, expect, it } from 'vitest';
import {
  buildKeyTables, oracleDispatches, questDispatches, questPages, streamingDispatches,
  ORACLE_FIXED, QUEST_FIXED, type BaselinePlan,
} from '../src/attention/baselines.js';
import { initialPicks } from '../src/attention/csa/build.js';
import { contextBudget, selectDispatches, type SelectOptions } from '../src/attention/csa/select.js';
import { downloadTables, DEFAULT_CSA, type CsaParams } from '../src/attention/csa/tables.js';
import { positions, readBuffer, storage, upload } from '../src/gpu/kernels.js';
import { attentionDecode } from '../src/ops/attention.js';
import { readSelection, selectionRecall } from '../src/eval/recall.js';
import { f16ToF32, roundF16 } from '../src/weights/f16.js';
import { f16Modes, gpuContext, maxAbsDiff, rand, readF32, runDispatches, uploadF16, type Ctx, prng } from './helpers/gpu.js';
import { decodeAttentionRef } from './ref/attention.js';
import {
  perKey, refOracleScores, refQuestPages, refQuestPageScores, refRecall, refSelect, refStreaming, type RefCache,
} from './ref/baselines.js';
import { refBuildTables, refChoose, refGatherSum, refTopK, rope, type RefLayer, type RefTables } from './ref/csa.js';

// Small sizes that are not multiples of any tile: 500 keys (a short last page), K = 100.
const N = 500, Hq = 4, Hkv = 2, d = 32, MAX_NEW = 8, CAPACITY = N + 12;
const OPTS: SelectOptions = { sparsity: 0.8, sink: 4, window: 16, N, maxNewTokens: MAX_NEW };

/** Uniform multiples of 1 / `steps` in [-range, range]. */
function grid(n: number, seed: number, range: number, steps: number): Float32Array<ArrayBuffer> {
  const next = prng(seed);
  return Float32Array.from({ length: n }, () => Math.round((next() * 2 - 1) * range * steps) / steps);
}

/**
 * Keys are multiples of 1/64 in [-2, 2] (exact in f16), queries multiples of 1/8 in [-1, 1]: every
 * product is a multiple of 2^-9 and every sum of 32 of them is exact in f32, so the GPU's logits and
 * page bounds, and their fixed point (x 2^14 or 2^11: integers), equal the reference bit for bit, and
 * equal scores are true ties that both sides break by position.
 */
function exactKeys(seed: number): RefCache {
  return { keys: grid(Hkv * CAPACITY * d, seed, 2, 64), N, Hq, Hkv, d, capacity: CAPACITY };
}
function exactCache(c: Ctx, seed: number): { ref: RefCache; kCache: GPUBuffer } {
  const ref = exactKeys(seed);
  return { ref, kCache: uploadF16(c.gpu, ref.keys) };
}
const exactQuery = (seed: number) => grid(Hq * d, seed, 1, 8);

function setPos(c: Ctx, step: GPUBuffer, pos: number): void {
  c.gpu.device.queue.writeBuffer(step, 0, new Uint32Array([pos]));
}

async function readScores(c: Ctx, plan: BaselinePlan, lists: number): Promise<Int32Array[]> {
  const s = new Int32Array(await readBuffer(c.gpu, plan.scores, lists * N * 4));
  return Array.from({ length: lists }, (_, l) => s.slice(l * N, (l + 1) * N));
}

async function lists(c: Ctx, plan: BaselinePlan, n: number): Promise<number[][]> {
  return (await readSelection(c.gpu, plan.selection, n)).map((l) => Array.from(l));
}

describe.each(await f16Modes())('baseline selectors (packedF16=%s)', (packed) => {
  const ctx = () => gpuContext(packed);

  it('oracle: exact top-K of q·k per query head, step after step', async () => {
    const c = await ctx();
    const { ref, kCache } = exactCache(c, 1);
    const q = storage(c.gpu, Hq * d * 4), step = positions(c.gpu, [N]);
    const plan = oracleDispatches(c.kernels, { q, kCache, step, Hq, Hkv, d, capacity: CAPACITY, opts: OPTS });
    expect(plan.selection.perQueryHead).toBe(true);
    for (const [pos, seed] of [[N, 2], [N + 5, 3]]) {
      const qv = exactQuery(seed);
      c.gpu.device.queue.writeBuffer(q, 0, qv);
      setPos(c, step, pos);
      runDispatches(c, plan.scoring);
      const want = refOracleScores(qv, ref, ORACLE_FIXED);
      expect(await readScores(c, plan, Hq)).toEqual(want);
      runDispatches(c, plan.topK);
      const got = await lists(c, plan, Hq);
      expect(got).toEqual(refSelect(want, OPTS, pos));
      expect(new Set(got.map((l) => l.join())).size).toBe(Hq); // every head picks its own keys
    }
  });

  it.each([
    OPTS,
    { ...OPTS, sparsity: 0.9, sink: 0, window: 0 },
    { ...OPTS, sparsity: 0.99 }, // sinks and window alone exceed K = 5: both kept whole
  ])('streaming: the sinks, the most recent keys filling the budget, the generated keys (%o)', async (opts) => {
    const c = await ctx();
    const pos = N + 2;
    const plan = streamingDispatches(c.kernels, { step: positions(c.gpu, [pos]), Hkv, opts });
    runDispatches(c, plan.dispatches);
    const want = refStreaming(opts, pos);
    const K = Math.round((1 - opts.sparsity) * N);
    expect(want.filter((t) => t < N).length).toBe(Math.max(K, opts.sink + opts.window));
    expect(await lists(c, plan, Hkv)).toEqual([want, want]);
  });

  it.each([16, 7])('quest: page bounds, page scores and whole top pages (page size %d)', async (pageSize) => {
    const c = await ctx();
    const { ref, kCache } = exactCache(c, 4);
    const pages = await questPages(c.kernels, { kCache, Hkv, d, capacity: CAPACITY, N, pageSize });
    const want = refQuestPages(ref, pageSize);
    expect(pages.pages).toBe(Math.ceil(N / pageSize));
    const bounds = f16ToF32(new Uint16Array(await readBuffer(c.gpu, pages.bounds, Hkv * pages.pages * 2 * d * 2)));
    const rows = (at: number) => Array.from({ length: Hkv * pages.pages }, (_, r) => Array.from(bounds.subarray((2 * r + at) * d, (2 * r + at + 1) * d)));
    const split = (x: Float32Array) => Array.from({ length: Hkv * pages.pages }, (_, r) => Array.from(x.subarray(r * d, (r + 1) * d)));
    expect(rows(0)).toEqual(split(want.min));
    expect(rows(1)).toEqual(split(want.max));

    const qv = exactQuery(5), pos = N + 1;
    const plan = questDispatches(c.kernels, { q: upload(c.gpu, qv), pages, step: positions(c.gpu, [pos]), Hq, Hkv, d, opts: OPTS });
    runDispatches(c, plan.scoring);
    const pageScores = refQuestPageScores(qv, ref, want, QUEST_FIXED);
    const keyScores = perKey(pageScores, pageSize, N);
    expect(await readScores(c, plan, Hq)).toEqual(keyScores);
    runDispatches(c, plan.topK);
    const got = await lists(c, plan, Hq);
    expect(got).toEqual(refSelect(keyScores, OPTS, pos));
    // Candidates (outside sinks and window) come in whole pages, but for the one that fills the budget.
    const winStart = N - OPTS.window;
    got.forEach((sel) => {
      const taken = new Set(sel);
      const partial = Array.from({ length: pages.pages }, (_, p) => {
        const cand = Array.from({ length: pageSize }, (_, i) => p * pageSize + i).filter((t) => t >= OPTS.sink && t < winStart);
        const n = cand.filter((t) => taken.has(t)).length;
        return n > 0 && n < cand.length;
      });
      expect(partial.filter(Boolean).length).toBeLessThanOrEqual(1);
    });
  });

  it('recall: the oracle against itself is 1, streaming against middle keys is 0, others as the reference', async () => {
    const c = await ctx();
    const opts = { ...OPTS, sink: 0, window: 0 };
    const pos = N + 3;
    const step = positions(c.gpu, [pos]);
    // Positive queries; keys [200, 300) all 2: the 100 top logits of every head, and K = 100.
    const qv = exactQuery(6).map(Math.abs);
    const { keys } = exactKeys(7);
    for (let g = 0; g < Hkv; g++) keys.fill(2, (g * CAPACITY + 200) * d, (g * CAPACITY + 300) * d);
    const kCache = uploadF16(c.gpu, keys);
    const q = upload(c.gpu, qv);
    const oracle = oracleDispatches(c.kernels, { q, kCache, step, Hq, Hkv, d, capacity: CAPACITY, opts });
    const streaming = streamingDispatches(c.kernels, { step, Hkv, opts });
    runDispatches(c, [...oracle.dispatches, ...streaming.dispatches]);
    const best = await lists(c, oracle, Hq);
    expect(best[0].filter((t) => t < N)).toEqual(Array.from({ length: 100 }, (_, i) => 200 + i));
    const shape = { Hq, Hkv, N };
    expect(await selectionRecall(c.gpu, oracle.selection, oracle.selection, shape)).toEqual({ all: 1, chosen: 1 });
    expect((await selectionRecall(c.gpu, streaming.selection, oracle.selection, shape)).all).toBeLessThan(0.01);

    // Random keys: partial recalls, per query head (Quest) and per KV head (streaming with sinks and window).
    const rnd = exactCache(c, 8);
    const qr = exactQuery(9);
    const q2 = upload(c.gpu, qr);
    const o2 = oracleDispatches(c.kernels, { q: q2, kCache: rnd.kCache, step, Hq, Hkv, d, capacity: CAPACITY, opts: OPTS });
    const pages = await questPages(c.kernels, { kCache: rnd.kCache, Hkv, d, capacity: CAPACITY, N });
    const quest = questDispatches(c.kernels, { q: q2, pages, step, Hq, Hkv, d, opts: OPTS });
    const stream = streamingDispatches(c.kernels, { step, Hkv, opts: OPTS });
    runDispatches(c, [...o2.dispatches, ...quest.dispatches, ...stream.dispatches]);
    const wantOracle = refSelect(refOracleScores(qr, rnd.ref, ORACLE_FIXED), OPTS, pos);
    const rp = refQuestPages(rnd.ref, 16);
    const wantQuest = refSelect(perKey(refQuestPageScores(qr, rnd.ref, rp, QUEST_FIXED), 16, N), OPTS, pos);
    const wantStream = refStreaming(OPTS, pos);
    // Per KV head: the oracle lists of the first query head of each group (wrong for the others).
    const firsts = [wantOracle[0], wantOracle[2]];
    const kmax = Math.max(...firsts.map((l) => l.length));
    const fromFirsts = {
      sel: upload(c.gpu, Uint32Array.from(firsts.flatMap((l) => [...l, ...Array(kmax - l.length).fill(0)]))),
      counts: upload(c.gpu, Uint32Array.from(firsts, (l) => l.length)), kmax, perQueryHead: false,
    };
    for (const { selection, want } of [
      { selection: quest.selection, want: wantQuest },
      { selection: stream.selection, want: [wantStream, wantStream] },
      { selection: fromFirsts, want: firsts },
    ]) {
      // The chosen part: what lies between the sinks and the window, which every method holds.
      const b = contextBudget(OPTS);
      const chosen = { from: b.sinkEnd, to: b.winStart };
      const r = await selectionRecall(c.gpu, selection, o2.selection, { ...shape, chosen });
      const expected = refRecall(want, wantOracle, shape);
      expect(expected).toBeGreaterThan(0.2);
      expect(expected).toBeLessThan(0.9);
      expect(r.all).toBeCloseTo(expected, 12);
      expect(r.chosen).toBeCloseTo(refRecall(want, wantOracle, { ...shape, chosen }), 12);
    }
  });

  it('sparse attention over the oracle selection: dense decoding at sparsity 0, the reference at 0.8', async () => {
    const c = await ctx();
    const { ref, kCache } = exactCache(c, 10);
    const values = roundF16(rand(Hkv * CAPACITY * d, 11));
    const vCache = uploadF16(c.gpu, values);
    const qv = exactQuery(12); // exact logits: the reference selects the same keys
    const q = upload(c.gpu, qv);
    const pos = N + 3;
    const step = positions(c.gpu, [pos]);
    const shape = { q, kCache, vCache, step, Hq, Hkv, d, capacity: CAPACITY, scale: 1 / Math.sqrt(d) };
    const attend = async (sparsity?: number) => {
      const out = storage(c.gpu, Hq * d * 4);
      const plan = sparsity === undefined ? undefined : oracleDispatches(c.kernels, { q, kCache, step, Hq, Hkv, d, capacity: CAPACITY, opts: { ...OPTS, sparsity } });
      runDispatches(c, [...(plan?.dispatches ?? []), ...attentionDecode(c.kernels, { ...shape, out, sparse: plan?.selection })]);
      return readF32(c.gpu, out, Hq * d);
    };
    // Only the order of f32 sums differs (the splits cut the keys differently).
    expect(maxAbsDiff(await attend(0), await attend())).toBeLessThan(1e-5);
    const keys = refSelect(refOracleScores(qv, ref, ORACLE_FIXED), OPTS, pos);
    const want = decodeAttentionRef(qv, ref.keys, values, { Hq, Hkv, d, capacity: CAPACITY, scale: 1 / Math.sqrt(d) }, (h) => keys[h]);
    expect(maxAbsDiff(await attend(0.8), want)).toBeLessThan(5e-5);
  });
});

// ---------------------------------------------------------------------------------------------
// Key-centric CSA

const KEY_PARAMS: CsaParams = { ...DEFAULT_CSA, subspaces: 4, centroids: 6, listFraction: 0.2, kmeansIters: 8, seed: 3 };
const DS = d / KEY_PARAMS.subspaces;

/**
 * Keys whose sub-vectors form C clusters per (KV head, subspace): cluster c's members are
 * s·dir(c) + noise with s in [0.5, 2]; the k-means init pick of centroid c is a member of cluster c.
 * `mirrored` (for exact comparisons): dir(c) = axis c, and members pair up as a ± b, so that cluster
 * sums cancel exactly off the axis and every partial score is a key component (as in csa.test.ts).
 */
function clusteredKeys(p: CsaParams, seed: number, mirrored: boolean): { keys: Float32Array; dirs: Float64Array[] } {
  const next = prng(seed);
  const C = p.centroids;
  const keys = grid(Hkv * CAPACITY * d, seed + 1, 1, 64); // positions past N: anything
  const dirs: Float64Array[] = [];
  for (let g = 0; g < Hkv; g++) {
    for (let j = 0; j < p.subspaces; j++) {
      for (let c = 0; c < C; c++) dirs.push(mirrored ? axis(c) : farFrom(dirs.slice(dirs.length - c), next));
      const label = Array.from({ length: N }, () => Math.floor(next() * C));
      initialPicks(p.seed, g, j, N, C).forEach((t, c) => { label[t] = c; });
      for (let c = 0; c < C; c++) {
        const dir = dirs[(g * p.subspaces + j) * C + c];
        const members = label.flatMap((l, t) => (l === c ? [t] : []));
        for (let i = 0; i < members.length; i += mirrored ? 2 : 1) {
          const s = 0.5 + 1.5 * next();
          const pair = mirrored && i + 1 < members.length;
          // Mirrored: off-axis noise of fixed size, none for an unpaired member; else noise ∝ s (a fixed angle).
          const size = mirrored ? (pair ? 0.15 : 0) : 0.1 * s;
          const raw = Array.from({ length: DS }, () => (next() * 2 - 1) * size);
          const along = raw.reduce((a, x, e) => a + x * dir[e], 0);
          const noise = raw.map((x, e) => x - along * dir[e]); // ⊥ dir: a mirrored pair has equal norms
          const write = (t: number, sign: number) => {
            for (let e = 0; e < DS; e++) keys[(g * CAPACITY + t) * d + j * DS + e] = s * dir[e] + sign * noise[e];
          };
          write(members[i], 1);
          if (pair) write(members[i + 1], -1);
        }
      }
    }
  }
  return { keys, dirs };
}

function axis(c: number): Float64Array {
  const v = new Float64Array(DS);
  v[c] = 1;
  return v;
}

/** A random unit direction at least 60° from each of `taken`. */
function farFrom(taken: Float64Array[], next: () => number): Float64Array {
  for (;;) {
    const v = Float64Array.from({ length: DS }, () => next() * 2 - 1);
    const n = Math.hypot(...v);
    v.forEach((x, i) => { v[i] = x / n; });
    if (taken.every((u) => Math.abs(u.reduce((s, x, i) => s + x * v[i], 0)) < 0.5)) return v;
  }
}

interface KeyLayer { ref: RefLayer; kCache: GPUBuffer; invFreq: GPUBuffer; dirs: Float64Array[] }

/** The keys (post-RoPE, f16) in the cache, and a reference layer that clusters them as queries [N, Hkv, d]. */
function keyLayer(c: Ctx, p: CsaParams, seed: number, mirrored: boolean): KeyLayer {
  const invFreq = Float32Array.from({ length: d / 2 }, (_, i) => Math.fround(1 / 10000 ** ((2 * i) / d)));
  const { keys, dirs } = clusteredKeys(p, seed, mirrored);
  if (p.rope === 'pre') {
    for (let g = 0; g < Hkv; g++) for (let t = 0; t < CAPACITY; t++) rope(keys.subarray((g * CAPACITY + t) * d, (g * CAPACITY + t + 1) * d), t, invFreq);
  }
  const k16 = roundF16(keys);
  const asQueries = new Float32Array(N * Hkv * d);
  for (let t = 0; t < N; t++) for (let g = 0; g < Hkv; g++) asQueries.set(k16.subarray((g * CAPACITY + t) * d, (g * CAPACITY + t + 1) * d), (t * Hkv + g) * d);
  return {
    ref: { queries: asQueries, keys: k16, N, Hq: Hkv, Hkv, d, capacity: CAPACITY, invFreq, params: p },
    kCache: uploadF16(c.gpu, k16), invFreq: upload(c.gpu, invFreq), dirs,
  };
}

function buildKeys(c: Ctx, l: KeyLayer) {
  return buildKeyTables(c.kernels, { kCache: l.kCache, N, Hq, Hkv, d, capacity: CAPACITY, invFreq: l.invFreq, params: l.ref.params });
}

describe.each(await f16Modes())('key-centric CSA tables (packedF16=%s)', (packed) => {
  const ctx = () => gpuContext(packed);

  it.each(['post', 'pre'] as const)('centroids come from the keys: each within 2° of its cluster (%s RoPE)', async (ropeMode) => {
    const c = await ctx();
    const p = { ...KEY_PARAMS, rope: ropeMode };
    const layer = keyLayer(c, p, 20, false);
    const got = await downloadTables(c.gpu, await buildKeys(c, layer));
    expect(got.groups).toBe(Hkv);
    got.centroids.forEach((_, i) => {
      if (i % DS) return;
      const mu = got.centroids.subarray(i, i + DS), dir = layer.dirs[i / DS];
      const cos = mu.reduce((s, x, e) => s + x * dir[e], 0) / Math.hypot(...mu);
      expect(Math.acos(Math.min(1, cos)) * 180 / Math.PI).toBeLessThan(2);
    });
    // The same k-means on the CPU (cluster sums differ by fixed-point rounding only).
    expect(maxAbsDiff(got.centroids, refBuildTables(layer.ref).centroids)).toBeLessThan(1e-4);
  });

  it('tables and selection equal the CSA reference on tie-free keys', async () => {
    const c = await ctx();
    const p: CsaParams = { ...KEY_PARAMS, scoreScale: 'none' }; // multipliers are powers of two: exact sums
    const layer = keyLayer(c, p, 30, true);
    const tables = await buildKeys(c, layer);
    const data = await downloadTables(c.gpu, tables);
    const want = refBuildTables(layer.ref);
    const L = Math.ceil(p.listFraction * N);
    expect(maxAbsDiff(data.centroids, want.centroids)).toBeLessThan(1e-6);
    expect(Array.from(data.listLen)).toEqual(want.idx.map(() => L));
    const idx = Array.from({ length: want.idx.length }, (_, l) => Array.from(data.listIdx.subarray(l * data.width, l * data.width + L)));
    const score = Array.from({ length: want.idx.length }, (_, l) => Array.from(f16ToF32(data.listScore.subarray(l * data.width, l * data.width + L))));
    expect(idx).toEqual(want.idx);
    expect(score).toEqual(want.score);

    const q = storage(c.gpu, Hq * d * 4), step = positions(c.gpu, [N]);
    const plan = selectDispatches(c.kernels, { q, tables, step, Hq, Hkv, d, invFreq: layer.invFreq, params: p, opts: OPTS });
    const refTables: RefTables = { ...want, centroids: data.centroids };
    for (const [pos, seed] of [[N, 31], [N + 2, 32]]) {
      const qv = Float32Array.from(rand(Hq * d, seed)); // continuous: no near-tie between centroids
      c.gpu.device.queue.writeBuffer(q, 0, qv);
      setPos(c, step, pos);
      runDispatches(c, plan.dispatches);
      const choice = refChoose(qv, pos, refTables, { ...layer.ref, Hq });
      const sel = refGatherSum(refTables, choice, N).map((s) => refTopK(s, OPTS, pos));
      expect((await readSelection(c.gpu, plan.selection, Hkv)).map((l) => Array.from(l))).toEqual(sel);
    }
  });

  it('refuses per-query-head key tables', async () => {
    const c = await ctx();
    const layer = keyLayer(c, KEY_PARAMS, 40, false);
    await expect(buildKeyTables(c.kernels, {
      kCache: layer.kCache, N, Hq, Hkv, d, capacity: CAPACITY, params: { ...KEY_PARAMS, granularity: 'query-head' },
    })).rejects.toThrow(/granularity must be 'kv-head'/);
  });
});
