import { describe, expect, it } from 'vitest';
import { buildScratch, buildTables, initialPicks, type BuildArgs, type BuildScratch } from '../src/attention/csa/build.js';
import { selectDispatches, topKDispatches, topKSub, type SelectOptions } from '../src/attention/csa/select.js';
import { csaSelector } from '../src/attention/methods/csa.js';
import type { Model } from '../src/model/model.js';
import {
  destroyTables, downloadTables, uploadTables, listsSound, DEFAULT_CSA, TILE_KEYS, type CsaParams, type LayerTables, type TableData,
} from '../src/attention/csa/tables.js';
import { dispatchOf, Kernels, positions, readBuffer, uniform, upload } from '../src/gpu/kernels.js';
import { uploader } from '../src/gpu/uploader.js';
import { f16ToF32, f32ToF16, roundF16 } from '../src/weights/f16.js';
import { f16Modes, gpuContext, readU32, runDispatches, uploadF16, type Ctx, prng } from './helpers/gpu.js';
import {
  centroidRows, keyRow, kvHeadOf, refBuildTables, refChoose, refGatherSum, refTopK, rope, sub, topL,
  type Choice, type RefLayer, type RefTables,
} from './ref/csa.js';

// Small sizes that are not multiples of any tile: 300 keys, 600 pooled points, L = 60.
const N = 300, Hq = 4, Hkv = 2, d = 32, MAX_NEW = 8, CAPACITY = N + 16;
const BASE: CsaParams = { ...DEFAULT_CSA, subspaces: 4, centroids: 8, listFraction: 0.2, kmeansIters: 10, seed: 7 };
const L = Math.ceil(BASE.listFraction * N);
const OPTS: SelectOptions = { sparsity: 0.8, sink: 4, window: 16, N, maxNewTokens: MAX_NEW };

/**
 * Queries that cluster unambiguously: in each (group, subspace), cluster c lies around the axis
 * ±e_(c mod ds), and the k-means init pick of centroid c is a point of cluster c, so every
 * assignment has a wide margin. `mirrored` pairs the points of each cluster as a ± b (b ⊥ axis):
 * the fixed-point cluster sums then cancel exactly off the axis, the centroids are exact axes, and
 * every partial score is exactly a key component, so the lists have no near-ties (post-RoPE only).
 */
function clusteredQueries(p: CsaParams, seed: number, mirrored: boolean): Float32Array {
  const next = prng(seed);
  const { subspaces: m, centroids: C } = p;
  const ds = d / m;
  const gp = p.granularity === 'kv-head' ? Hq / Hkv : 1;
  const q = new Float32Array(N * Hq * d);
  for (let g = 0; g < Hq / gp; g++) {
    for (let j = 0; j < m; j++) {
      const P = gp * N;
      const label = Array.from({ length: P }, () => Math.floor(next() * C));
      initialPicks(p.seed, g, j, P, C).forEach((pt, c) => { label[pt] = c; });
      const write = (pt: number, c: number, s: number, off: number[]) => {
        const at = ((Math.floor(pt / gp) * Hq) + g * gp + (pt % gp)) * d + j * ds;
        for (let i = 0; i < ds; i++) q[at + i] = i === c % ds ? (c < ds ? s : -s) : off[i];
      };
      for (let c = 0; c < C; c++) {
        const members = label.flatMap((l, pt) => (l === c ? [pt] : []));
        for (let i = 0; i < members.length; i += mirrored ? 2 : 1) {
          const s = 1 + 0.5 * next();
          const off = Array.from({ length: ds }, () => Math.fround((next() * 2 - 1) * 0.15));
          const alone = mirrored && i + 1 === members.length;
          write(members[i], c, s, alone ? off.map(() => 0) : off);
          if (mirrored && !alone) write(members[i + 1], c, s, off.map((v) => -v));
        }
      }
    }
  }
  return q;
}

interface Layer { ref: RefLayer; queries: GPUBuffer; kCache: GPUBuffer; invFreq: GPUBuffer }

/** Keys are non-zero multiples of 1/64 in [-2, 2] (exact in f16) before RoPE. */
function makeLayer(ctx: Ctx, p: CsaParams, seed: number, mirrored = false): Layer {
  const next = prng(seed + 1000);
  const invFreq = Float32Array.from({ length: d / 2 }, (_, i) => Math.fround(1 / 10000 ** ((2 * i) / d)));
  const queries = clusteredQueries(p, seed, mirrored);
  const keys = Float32Array.from({ length: Hkv * CAPACITY * d }, () => (next() < 0.5 ? -1 : 1) * (1 + Math.floor(next() * 128)) / 64);
  if (p.rope === 'pre') {
    for (let t = 0; t < N; t++) for (let h = 0; h < Hq; h++) rope(queries.subarray((t * Hq + h) * d, (t * Hq + h + 1) * d), t, invFreq);
    for (let h = 0; h < Hkv; h++) for (let t = 0; t < CAPACITY; t++) rope(keys.subarray((h * CAPACITY + t) * d, (h * CAPACITY + t + 1) * d), t, invFreq);
  }
  const k16 = roundF16(keys);
  return {
    ref: { queries, keys: k16, N, Hq, Hkv, d, capacity: CAPACITY, invFreq, params: p },
    queries: upload(ctx.gpu, queries), kCache: uploadF16(ctx.gpu, k16), invFreq: upload(ctx.gpu, invFreq),
  };
}

/** Tiles of the list index: 64 keys (5 tiles over N, the last partial), or one tile (TILE_KEYS). */
const SMALL_TILE = 64;

type BuildOptions = { kmeansChunk?: number; kernels?: Kernels; tile?: number; scratch?: BuildScratch };

function buildArgs(layer: Layer, o: BuildOptions = {}): BuildArgs {
  return {
    queries: layer.queries, kCache: layer.kCache, N, Hq, Hkv, d, capacity: CAPACITY,
    invFreq: layer.invFreq, params: layer.ref.params, kmeansChunk: o.kmeansChunk, tile: o.tile ?? SMALL_TILE, scratch: o.scratch,
  };
}

function build(ctx: Ctx, layer: Layer, o: BuildOptions = {}): Promise<LayerTables> {
  return buildTables(o.kernels ?? ctx.kernels, buildArgs(layer, o));
}

function toRef(t: TableData): RefTables {
  const lists = t.groups * t.m * t.C;
  const rows = Array.from({ length: lists }, (_, l) => [l * t.width, l * t.width + t.listLen[l]]);
  return {
    groups: t.groups, m: t.m, C: t.C, ds: t.ds, centroids: t.centroids,
    idx: rows.map(([a, b]) => Array.from(t.listIdx.subarray(a, b))),
    score: rows.map(([a, b]) => Array.from(f16ToF32(t.listScore.subarray(a, b)))),
  };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * The GPU lists against exact partial scores of the GPU's own centroids, robust to near-ties: each
 * stored score is the exact score rounded to f16 (within tolerance), lists are in ascending key
 * order, and the list holds the L largest scores: nothing listed is below,
 * and nothing left out is above, the L-th largest exact score beyond the tolerance. A wrong key or a
 * wrong centroid's list is far outside it.
 */
function expectListsNearlyExact(t: TableData, layer: RefLayer): void {
  const ref = toRef(t);
  const tol = (v: number) => Math.abs(v) * 2 ** -10 + 5e-4;
  for (let g = 0; g < t.groups; g++) {
    const keys = Array.from({ length: N }, (_, n) => keyRow(layer, kvHeadOf(layer, g), n));
    for (let j = 0; j < t.m; j++) {
      centroidRows(ref, g, j).forEach((mu, c) => {
        const l = (g * t.m + j) * t.C + c;
        const exact = keys.map((k) => sub(k, j, t.ds).reduce((s, v, i) => s + v * mu[i], 0));
        const idx = ref.idx[l], score = ref.score[l];
        expect(idx.length).toBe(L);
        expect(new Set(idx).size).toBe(L);
        idx.forEach((n, e) => {
          expect(Math.abs(score[e] - exact[n])).toBeLessThanOrEqual(tol(exact[n]));
          if (e > 0) expect(idx[e - 1]).toBeLessThan(n);
        });
        const cut = [...exact].sort((a, b) => b - a)[L - 1];
        const listed = new Set(idx);
        exact.forEach((v, n) => {
          if (listed.has(n)) expect(v).toBeGreaterThanOrEqual(cut - tol(cut));
          else expect(v).toBeLessThanOrEqual(cut + tol(cut));
        });
      });
    }
  }
}

const COMBOS: [CsaParams['granularity'], CsaParams['rope']][] = [['kv-head', 'post'], ['kv-head', 'pre'], ['query-head', 'post'], ['query-head', 'pre']];

describe.each(await f16Modes())('CSA tables and selection (packedF16=%s)', (packed) => {
  const ctx = () => gpuContext(packed);

  it.each(['kv-head', 'query-head'] as const)('builds exactly the reference tables from tie-free data (%s)', async (granularity) => {
    const c = await ctx();
    const layer = makeLayer(c, { ...BASE, granularity }, 11, true);
    for (const chunk of [undefined, 64]) {
      const got = await downloadTables(c.gpu, await build(c, layer, { kmeansChunk: chunk }));
      const want = refBuildTables(layer.ref);
      // The centroids are exact axes; only the GPU's normalisation rounds (f32).
      expect(maxDiff(got.centroids, want.centroids)).toBeLessThan(1e-6);
      expect(Array.from(got.listLen)).toEqual(want.idx.map(() => L));
      expect(toRef(got).idx).toEqual(want.idx);
      expect(toRef(got).score).toEqual(want.score);
    }
  });

  it.each(COMBOS)('k-means and lists match the reference (%s, %s RoPE)', async (granularity, rope) => {
    const c = await ctx();
    const layer = makeLayer(c, { ...BASE, granularity, rope }, 21);
    const got = await downloadTables(c.gpu, await build(c, layer, { kmeansChunk: 128 }));
    // GPU cluster sums are fixed point (error <= 2^-19 per component and point), then f32; for 'pre'
    // the f32 cos/sin of angles up to N rad add ~1e-5. Together well under 1e-4, while a single
    // point assigned to another cluster (~40 points each, clusters > 60° apart) moves a centroid by
    // ~1e-2.
    expect(maxDiff(got.centroids, refBuildTables(layer.ref).centroids)).toBeLessThan(1e-4);
    expectListsNearlyExact(got, layer.ref);
  });

  it('the list index says where each tile of keys starts in each list and its largest |score|, and packs the entries', async () => {
    const c = await ctx();
    const layer = makeLayer(c, BASE, 23);
    const t = await build(c, layer);
    const data = await downloadTables(c.gpu, t);
    const ref = toRef(data);
    const lists = ref.idx.length, tiles = Math.ceil(N / SMALL_TILE);
    const starts = await readU32(c.gpu, t.listTiles, lists * (tiles + 1));
    const bound = new Float32Array(await readBuffer(c.gpu, t.listBound, lists * 4));
    const entry = await readU32(c.gpu, t.listEntry, lists * t.L);
    ref.idx.forEach((idx, l) => {
      const want = Array.from({ length: tiles + 1 }, (_, i) => idx.filter((k) => k < Math.min(i * SMALL_TILE, N)).length);
      expect(Array.from(starts.subarray(l * (tiles + 1), (l + 1) * (tiles + 1)))).toEqual(want);
      expect(bound[l]).toBe(Math.max(...ref.score[l].map(Math.abs)));
      const packed = idx.map((k, e) => ((data.listScore[l * data.width + e] << 16) | (k % SMALL_TILE)) >>> 0);
      expect(Array.from(entry.subarray(l * t.L, l * t.L + idx.length))).toEqual(packed);
    });
    // Built lists are sound; lists out of key order or holding a key past the context (as in a corrupt bundle) are not.
    expect(await listsSound(c.gpu, t)).toBe(true);
    const last = data.listLen[0] - 1;
    const past = { ...data, listIdx: data.listIdx.slice() };
    past.listIdx[last] = N;
    const swapped = { ...data, listIdx: data.listIdx.slice() };
    [swapped.listIdx[0], swapped.listIdx[1]] = [data.listIdx[1], data.listIdx[0]];
    for (const bad of [past, swapped]) expect(await listsSound(c.gpu, await uploadTables(c.kernels, bad, SMALL_TILE))).toBe(false);
  });

  it('the same seed builds the same tables, another seed other ones', async () => {
    const c = await ctx();
    const layer = makeLayer(c, BASE, 31);
    const a = await downloadTables(c.gpu, await build(c, layer));
    const b = await downloadTables(c.gpu, await build(c, layer));
    expect(b).toEqual(a);
    const reseeded = { ...layer, ref: { ...layer.ref, params: { ...BASE, seed: BASE.seed + 1 } } };
    const o = await downloadTables(c.gpu, await build(c, reseeded));
    expect(maxDiff(o.centroids, a.centroids)).toBeGreaterThan(1e-3);
  });

  it.each([...COMBOS.map(([g, r]) => [g, r, 'per-head'] as const), ['kv-head', 'post', 'pooled'], ['kv-head', 'pre', 'pooled']] as const)(
    'selects the reference keys step by step (%s, %s RoPE, %s choice)', async (granularity, rope, choice) => {
    const c = await ctx();
    const p = { ...BASE, granularity, rope, choice };
    const layer = makeLayer(c, p, 41);
    const tables = await build(c, layer);
    const step = positions(c.gpu, [N]);
    const q = upload(c.gpu, new Float32Array(Hq * d));
    const plan = selectDispatches(c.kernels, {
      q, tables, step, Hq, Hkv, d, invFreq: layer.invFreq, params: p, opts: OPTS,
    });
    const G = tables.groups, perGroup = (granularity === 'kv-head' && choice === 'per-head' ? Hq / Hkv : 1) * p.subspaces;
    const ref = toRef(await downloadTables(c.gpu, tables));
    const next = prng(43);
    for (let pos = N; pos < N + 3; pos++) {
      const qv = Float32Array.from({ length: Hq * d }, () => next() * 2 - 1);
      c.gpu.device.queue.writeBuffer(q, 0, qv);
      c.gpu.device.queue.writeBuffer(step, 0, new Uint32Array([pos]));
      runDispatches(c, plan.scoring);
      const ids = await readU32(c.gpu, plan.choice, G * perGroup * 4);
      const mults = new Float32Array(await readBuffer(c.gpu, plan.mults, G * perGroup * 4));
      const choice: Choice[][] = Array.from({ length: G }, (_, g) =>
        Array.from({ length: perGroup }, (_, i) => ({ list: ids[(g * perGroup + i) * 4], mult: mults[g * perGroup + i] })));
      const want = refChoose(qv, pos, ref, layer.ref);
      expect(choice.map((g) => g.map((x) => x.list))).toEqual(want.map((g) => g.map((x) => x.list)));
      choice.flat().forEach((x, i) => expect(Math.abs(x.mult / want.flat()[i].mult - 1)).toBeLessThan(1e-6));
      // From here on the reference takes the GPU's multipliers (f32 norms may differ in the last bit).
      const sums = new Int32Array(await readBuffer(c.gpu, plan.scores, G * N * 4));
      const wantSums = refGatherSum(ref, choice, N);
      expect(Array.from(sums)).toEqual(wantSums.flatMap((s) => Array.from(s)));
      expect(Math.max(...wantSums.map((s) => s.reduce((a, b) => Math.max(a, b), 0)))).toBeGreaterThan(2 ** 16); // the fixed-point scale uses its range
      runDispatches(c, plan.topK);
      await expectSelection(c, plan.selection, wantSums.map((s) => refTopK(s, OPTS, pos)));
    }
  });

  // Each sequence at its own position: its generated keys [N, pos] join its selection.
  it.each([['kv-head', 'post', 'per-head'], ['kv-head', 'pre', 'pooled'], ['query-head', 'pre', 'per-head']] as const)(
    'selects for a batch of sequences in one pass as for each alone (%s, %s RoPE, %s choice)', async (granularity, rope, choice) => {
    const c = await ctx();
    const p = { ...BASE, granularity, rope, choice };
    const layer = makeLayer(c, p, 61);
    const tables = await build(c, layer);
    const next = prng(67);
    const pos = [N, N + 2, N + 5];
    const qv = Float32Array.from({ length: pos.length * Hq * d }, () => next() * 2 - 1);
    const args = { tables, Hq, Hkv, d, invFreq: layer.invFreq, params: p, opts: OPTS };
    const batched = selectDispatches(c.kernels, { ...args, q: upload(c.gpu, qv), step: positions(c.gpu, pos), seqs: pos.length });
    runDispatches(c, batched.dispatches);
    const want: number[][] = [];
    for (const [b, at] of pos.entries()) {
      const one = selectDispatches(c.kernels, { ...args, q: upload(c.gpu, qv.subarray(b * Hq * d, (b + 1) * Hq * d)), step: positions(c.gpu, [at]) });
      runDispatches(c, one.dispatches);
      const counts = await readU32(c.gpu, one.selection.counts, tables.groups);
      const keys = await readU32(c.gpu, one.selection.sel, tables.groups * one.selection.kmax);
      for (let l = 0; l < tables.groups; l++) want.push(Array.from(keys.subarray(l * one.selection.kmax, l * one.selection.kmax + counts[l])));
    }
    expect(want.map((w) => w.filter((k) => k >= N).length)).toEqual(pos.flatMap((at) => new Array(tables.groups).fill(at + 1 - N)));
    await expectSelection(c, batched.selection, want);
  });

  it('layers that share one scratch select as each alone, replayed in turn; csaSelector shares it across a step\'s layers', async () => {
    const c = await ctx();
    const layers = [makeLayer(c, BASE, 71), makeLayer(c, BASE, 73)];
    const tables = [await build(c, layers[0]), await build(c, layers[1])];
    const q = upload(c.gpu, Float32Array.from({ length: Hq * d }, prng(79)).map((v) => v * 2 - 1));
    const step = positions(c.gpu, [N + 1]);
    const args = (l: number) => ({ q, tables: tables[l], step, Hq, Hkv, d, invFreq: layers[l].invFreq, params: BASE, opts: OPTS });
    const read = async (x: { sel: GPUBuffer; counts: GPUBuffer; kmax: number }) => {
      const counts = await readU32(c.gpu, x.counts, tables[0].groups);
      const keys = await readU32(c.gpu, x.sel, tables[0].groups * x.kmax);
      return Array.from(counts, (n, g) => Array.from(keys.subarray(g * x.kmax, g * x.kmax + n)));
    };
    const alone: number[][][] = [];
    for (const l of [0, 1]) {
      const plan = selectDispatches(c.kernels, args(l));
      runDispatches(c, plan.dispatches);
      alone.push(await read(plan.selection));
    }
    expect(alone[1]).not.toEqual(alone[0]);
    const first = selectDispatches(c.kernels, args(0));
    const second = selectDispatches(c.kernels, { ...args(1), scratch: first.scratch });
    expect(second.selection.sel).toBe(first.selection.sel);
    for (let round = 0; round < 2; round++) { // as a recorded step replays: each use leaves the scratch ready for the next
      runDispatches(c, first.dispatches);
      expect(await read(first.selection)).toEqual(alone[0]);
      runDispatches(c, second.dispatches);
      expect(await read(second.selection)).toEqual(alone[1]);
    }
    expect(() => selectDispatches(c.kernels, { ...args(1), seqs: 2, scratch: first.scratch })).toThrow(/scratch for 2 lists/);

    // csaSelector: layer 0 makes the scratch, later layers with the same query and positions reuse it,
    // another query (a batch's other sequence) gets its own, and layer 0 again (a new recording) a new one.
    const model = { cfg: { heads: Hq, kvHeads: Hkv, headDim: d }, kernels: c.kernels, invFreq: layers[0].invFreq, step } as unknown as Model;
    const select = csaSelector(model, [tables[0], tables[1], tables[0]], BASE, OPTS);
    const other = upload(c.gpu, new Float32Array(Hq * d));
    const s0 = select(0, q).selection.sel, o0 = select(0, other).selection.sel;
    expect(select(1, q).selection.sel).toBe(s0);
    expect(select(2, q).selection.sel).toBe(s0);
    expect(select(1, other).selection.sel).toBe(o0);
    expect(o0).not.toBe(s0);
    expect(select(0, q).selection.sel).not.toBe(s0);
  });

  it('layers built through one scratch (a prefill\'s) equal those built alone', async () => {
    const c = await ctx();
    const layers = [makeLayer(c, BASE, 83), makeLayer(c, BASE, 89)];
    const alone = [await downloadTables(c.gpu, await build(c, layers[0])), await downloadTables(c.gpu, await build(c, layers[1]))];
    expect(alone[1].centroids).not.toEqual(alone[0].centroids);
    const scratch = await buildScratch(c.gpu, buildArgs(layers[0]));
    for (const l of [0, 1, 0]) expect(await downloadTables(c.gpu, await build(c, layers[l], { scratch }))).toEqual(alone[l]);
    await expect(build(c, layers[1], { scratch, kmeansChunk: 64 })).rejects.toThrow(/scratch of another shape/);
    scratch.release();
  });

  it('builds queued back to back, as a prefill queues them, each behind its layer: one scratch, one query buffer rewritten between', async () => {
    const c = await ctx();
    const layers = [makeLayer(c, BASE, 83), makeLayer(c, BASE, 89)];
    const alone = [await downloadTables(c.gpu, await build(c, layers[0])), await downloadTables(c.gpu, await build(c, layers[1]))];
    const scratch = await buildScratch(c.gpu, buildArgs(layers[0]));
    // The prefill's queries buffer: the next layer's queries land in it once this layer's build is queued.
    const queries = upload(c.gpu, layers[0].ref.queries);
    const first = await build(c, { ...layers[0], queries }, { scratch });
    c.gpu.device.queue.writeBuffer(queries, 0, new Float32Array(layers[1].ref.queries));
    const second = await build(c, { ...layers[1], queries }, { scratch });
    expect(await downloadTables(c.gpu, first)).toEqual(alone[0]);
    expect(await downloadTables(c.gpu, second)).toEqual(alone[1]);
    scratch.release();
  });

  it('queries larger than one binding are read a slice of tokens at a time: the same tables', async () => {
    const c = await ctx();
    const layer = makeLayer(c, BASE, 33);
    const whole = await downloadTables(c.gpu, await build(c, layer));
    // One binding holds 156 tokens of queries (512 bytes each) but every other buffer: two slices.
    const small = new Kernels({ ...c.gpu, maxBinding: 80_000 });
    const sliced = await downloadTables(c.gpu, await build(c, layer, { kernels: small }));
    expect(sliced).toEqual(whole);
  });

  it('selects every key [0, pos] at sparsity 0 (one tile of TILE_KEYS keys)', async () => {
    const c = await ctx();
    const layer = makeLayer(c, BASE, 51);
    const tables = await build(c, layer, { tile: TILE_KEYS });
    const pos = N + 4;
    const opts = { ...OPTS, sparsity: 0 };
    const plan = selectDispatches(c.kernels, {
      q: upload(c.gpu, Float32Array.from({ length: Hq * d }, (_, i) => Math.sin(i))), tables, step: positions(c.gpu, [pos]),
      Hq, Hkv, d, invFreq: layer.invFreq, params: BASE, opts,
    });
    runDispatches(c, plan.dispatches);
    await expectSelection(c, plan.selection, Array.from({ length: Hkv }, () => Array.from({ length: pos + 1 }, (_, k) => k)));
  });

  it('GPU memory accounting: built and uploaded tables count while they live, scratch not after the build', async () => {
    const c = await ctx();
    const layer = makeLayer(c, BASE, 73);
    uploader(c.gpu); // its staging lives as long as the device: made first, outside the measure
    const before = c.gpu.memory.current;
    const size = (t: LayerTables) => [t.centroids, t.listEntry, t.listLen, t.listTiles, t.listBound, t.listFaults].reduce((a, b) => a + b.size, 0);
    const built = await build(c, layer);
    expect(c.gpu.memory.current - before).toBe(size(built));
    const uploaded = await uploadTables(c.kernels, await downloadTables(c.gpu, built), SMALL_TILE);
    expect(c.gpu.memory.current - before).toBe(size(built) + size(uploaded));
    destroyTables(c.gpu, built);
    destroyTables(c.gpu, uploaded);
    expect(c.gpu.memory.current).toBe(before);
  });

  it('tables survive download and upload', async () => {
    const c = await ctx();
    const layer = makeLayer(c, BASE, 71);
    const t = await build(c, layer);
    const data = await downloadTables(c.gpu, t);
    const back = await uploadTables(c.kernels, data, SMALL_TILE);
    expect(await listsSound(c.gpu, back)).toBe(true);
    expect(back.L).toBe(t.L);
    expect(await downloadTables(c.gpu, back)).toEqual(data);
    // The index made on upload is the build's.
    const lists = t.groups * t.m * t.C;
    expect(await readU32(c.gpu, back.listTiles, lists * (t.tiles + 1))).toEqual(await readU32(c.gpu, t.listTiles, lists * (t.tiles + 1)));
    expect(await readBuffer(c.gpu, back.listBound, lists * 4)).toEqual(await readBuffer(c.gpu, t.listBound, lists * 4));
  });

  it('sums many long lists exactly: 96 lists a step, up to 1,400 entries of a list in one tile', async () => {
    // 12 query heads x 8 subspaces chosen per step (more lists than the teams hold at once), lists
    // of 1,400 keys over 3,000: some lie wholly in the first 2048-key tile, others spread evenly.
    const c = await ctx();
    const n = 3000, width = 1400, hq = 12, m = 8, C = 3, dd = 32;
    const p = { ...BASE, subspaces: m, centroids: C };
    const next = prng(61);
    const lists = m * C;
    const listIdx = new Uint32Array(lists * width);
    for (let l = 0; l < lists; l++) {
      const span = l % 3 === 0 ? TILE_KEYS : n;
      const keys = new Set<number>();
      while (keys.size < width) keys.add(Math.floor(next() * span));
      listIdx.set([...keys].sort((a, b) => a - b), l * width);
    }
    const data: TableData = {
      groups: 1, N: n, m, C, ds: dd / m, L: width, width,
      centroids: Float32Array.from({ length: lists * (dd / m) }, () => next() * 2 - 1),
      listIdx, listScore: f32ToF16(Float32Array.from({ length: lists * width }, () => next() * 4 - 2)),
      listLen: new Uint32Array(lists).fill(width),
    };
    const tables = await uploadTables(c.kernels, data, TILE_KEYS);
    const q = upload(c.gpu, Float32Array.from({ length: hq * dd }, () => next() * 2 - 1));
    const plan = selectDispatches(c.kernels, {
      q, tables, step: positions(c.gpu, [n]), Hq: hq, Hkv: 1, d: dd, invFreq: upload(c.gpu, new Float32Array(dd / 2).fill(1)),
      params: p, opts: { ...OPTS, N: n },
    });
    runDispatches(c, plan.scoring);
    const perGroup = hq * m;
    const ids = await readU32(c.gpu, plan.choice, perGroup * 4);
    const mults = new Float32Array(await readBuffer(c.gpu, plan.mults, perGroup * 4));
    const choice: Choice[][] = [Array.from({ length: perGroup }, (_, i) => ({ list: ids[i * 4], mult: mults[i] }))];
    expect(new Set(choice[0].map((x) => x.list)).size).toBeGreaterThan(C); // lists of several subspaces and centroids
    const sums = new Int32Array(await readBuffer(c.gpu, plan.scores, n * 4));
    expect(Array.from(sums)).toEqual(Array.from(refGatherSum(toRef(data), choice, n)[0]));
  });

  it.each([5001, 300])('top-L lists of %i keys with heavy ties (tiles of 2048 keys, an odd count) match the reference', async (n) => {
    const c = await ctx();
    const rows = 3, L = Math.ceil(0.1 * n) + 7, words = Math.ceil(n / 2);
    const next = prng(91);
    // f16 values from 24 levels of both signs (ties everywhere), packed two a word as csa_partial_scores writes them.
    const values = Float32Array.from({ length: rows * n }, () => Math.floor(next() * 24 - 12) / 8);
    const bits = f32ToF16(values);
    const packed = new Uint32Array(rows * words);
    for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) packed[r * words + (i >> 1)] |= bits[r * n + i] << ((i & 1) * 16);
    const idx = upload(c.gpu, new Uint32Array(rows * L)), entry = upload(c.gpu, new Uint32Array(rows * L)), len = upload(c.gpu, new Uint32Array(rows));
    runDispatches(c, dispatchOf(c.kernels.get('csa_topl'), [upload(c.gpu, packed), idx, entry, len, uniform(c.gpu, [n, words, L, 0])], [rows]));
    const [gotIdx, gotEntry, gotLen] = await Promise.all([readU32(c.gpu, idx, rows * L), readU32(c.gpu, entry, rows * L), readU32(c.gpu, len, rows)]);
    expect(Array.from(gotLen)).toEqual([L, L, L]);
    for (let r = 0; r < rows; r++) {
      const want = topL(values.subarray(r * n, (r + 1) * n), L);
      expect(Array.from(gotIdx.subarray(r * L, (r + 1) * L))).toEqual(want);
      expect(Array.from(gotEntry.subarray(r * L, (r + 1) * L))).toEqual(want.map((k) => bits[r * n + k]));
    }
  });

  it('takes 4,096 keys a top-K workgroup unless the lists are many enough to keep 256 workgroups with more (8 sub-chunks at most)', () => {
    expect(topKSub(8, 131072)).toBe(1); // one sequence of Llama-3.1-8B at 128K: 256 workgroups
    expect(topKSub(8, 1048576)).toBe(8); // at 1M: 2,048 -> 256
    expect(topKSub(32, 32768)).toBe(1); // 4 sequences at 32K: 256
    expect(topKSub(32, 131072)).toBe(4); // 4 at 128K: 1,024 -> 256
    expect(topKSub(128, 32768)).toBe(4); // 16 sequences at 32K: 1,024 -> 256
    expect(topKSub(128, 131072)).toBe(8); // 16 at 128K: 4,096 -> 512
  });

  it.each([
    { sparsity: 0.9, sink: 4, window: 64 },
    { sparsity: 0.5, sink: 0, window: 0 },
    { sparsity: 0.99, sink: 16, window: 32 }, // sinks and window exceed K: nothing picked by score
  ].flatMap((o, i) => [{ ...o, n: 9000, sub: 1 }, { ...o, n: 20000, sub: 2 }, { ...o, n: 20000, sub: 4 }, ...(i === 0 ? [{ ...o, n: 40000, sub: 8 }] : [])]))(
    'top-K over several chunks with heavy ties matches the reference (%o)', async ({ n, sub, ...o }) => {
    const c = await ctx();
    // Chunks of sub x 4096 keys, the last one partial: 3 of 4096, 3 of 8192, 2 of 16384, 2 of 32768.
    const lists = 3, pos = n + 5;
    const opts = { ...o, N: n, maxNewTokens: MAX_NEW };
    const scores = upload(c.gpu, new Int32Array(lists * n));
    const top = topKDispatches(c.kernels, { scores, lists, step: positions(c.gpu, [pos]), opts, perQueryHead: false, sub });
    for (const d of top.dispatches) expect(d.grid).toEqual([Math.ceil(n / (4096 * sub)), lists]); // the sub-chunks asked for
    const next = prng(81);
    for (let round = 0; round < 2; round++) { // the second round checks that the first cleared its state
      const s = Int32Array.from({ length: lists * n }, () => Math.floor(next() * 40 - 10) * 4099 * (round + 1));
      c.gpu.device.queue.writeBuffer(scores, 0, s);
      runDispatches(c, top.dispatches);
      await expectSelection(c, top.selection, Array.from({ length: lists }, (_, l) => refTopK(s.subarray(l * n, (l + 1) * n), opts, pos)));
    }
  });
});

async function expectSelection(c: Ctx, sel: { sel: GPUBuffer; counts: GPUBuffer; kmax: number }, want: number[][]): Promise<void> {
  const counts = await readU32(c.gpu, sel.counts, want.length);
  const keys = await readU32(c.gpu, sel.sel, want.length * sel.kmax);
  expect(Array.from(counts)).toEqual(want.map((w) => w.length));
  want.forEach((w, l) => expect(Array.from(keys.subarray(l * sel.kmax, l * sel.kmax + w.length))).toEqual(w));
}
