import { describe, expect, it } from 'vitest';
import { createGpu } from '../src/gpu/device.js';
import { Kernels, storage, uniform, upload, type Dispatch } from '../src/gpu/kernels.js';
import { CACHE_PAD, attentionDecode, attentionDecodeBatch, attentionPrefill, decodeCut, expandKv, type DecodeCut, type SparseSelection } from '../src/ops/attention.js';
import { unionScratch } from '../src/ops/union.js';
import { roundF16 } from '../src/weights/f16.js';
import { f16Modes, gpuContext, maxAbsDiff, rand, readF16, readF32, runDispatches, uploadF16, uploadF32, uploadU32, type Ctx } from './helpers/gpu.js';
import { perf } from './helpers/perf.js';
import { allKeys, batchDecodeAttentionRef, decodeAttentionRef, prefillAttentionRef, type CacheShape } from './ref/attention.js';
import * as qref from './ref/quant.js';

// Tolerance. Outputs are convex combinations of V values in [-1, 1]. The GPU rounds nothing to f16
// beyond the cache, which the reference sees exactly as the GPU does, so what remains is f32 vs f64
// arithmetic: scores are f32 dot products of <= 256 terms (relative error ~ d·2^-24 ≈ 1.5e-5 of a
// score of size <= 10, i.e. <= 1.5e-4 in a logit, at most ~1.5e-4 relative in a weight; typically
// sqrt(d)·2^-24 ≈ 1e-6), plus exp2 (a few ulp; Vulkan allows 3 + 2|x| ulp, |x| < 40 here) and f32
// sums of a few thousand weights (~1e-6 relative). Observed differences are <= 1.7e-6 (lavapipe and
// an H100); 5e-5 leaves room for less precise exp2 hardware while a wrong key, mask or weight moves
// outputs by >= 1e-3.
const TOL = 5e-5;

interface Mode { name: string; ctx: () => Promise<Ctx> }
const f16Paths: Mode[] = (await f16Modes()).map((packed) => ({ name: packed ? 'packed f16' : 'native f16', ctx: () => gpuContext(packed) }));
// Prefill uses no subgroup operations; decode also runs its path for devices without subgroups.
let plain: Promise<Ctx> | undefined;
const noSubgroups: Mode = {
  name: 'packed f16, no subgroups',
  ctx: () => (plain ??= createGpu({ packedF16: true, noSubgroups: true }).then((gpu) => ({ gpu, kernels: new Kernels(gpu), mode: 'no-subgroups' }))),
};

/** A random f16 cache [Hkv, capacity, d] (every slot filled: keys past the context must be ignored). */
function cache(s: CacheShape, seed: number) {
  return roundF16(rand(s.Hkv * s.capacity * s.d, seed));
}

/** Queries spread enough that the softmax is far from uniform (score std ≈ 2). */
function queries(n: number, seed: number) {
  return rand(n, seed, 6);
}

function setPos(c: Ctx, step: GPUBuffer, pos: number) {
  c.gpu.device.queue.writeBuffer(step, 0, new Uint32Array([pos, 0, 0, 0]));
}

async function runAndRead(c: Ctx, ds: Dispatch[], out: GPUBuffer, n: number) {
  runDispatches(c, ds);
  return readF32(c.gpu, out, n);
}

function shape(Hq: number, Hkv: number, d: number, capacity: number): CacheShape {
  return { Hq, Hkv, d, capacity, scale: 1 / Math.sqrt(d) };
}

/** Perf mode's work of attention for T queries from position pos0: q, out, the K/V rows read, the two products. */
function attentionWork(s: CacheShape, T: number, pos0: number) {
  const keys = T * pos0 + (T * (T + 1)) / 2; // over the T queries
  return { bytes: 2 * T * s.Hq * s.d * 4 + 2 * s.Hkv * (pos0 + T) * s.d * 2, flops: 4 * s.Hq * s.d * keys };
}

const prefillCases = [[6, 2], [4, 4]].flatMap(([Hq, Hkv]) => [64, 128].flatMap((d) =>
  [1, 5, 70].flatMap((T) => [0, 33].map((pos0) => ({ Hq, Hkv, d, T, pos0 })))));
// Odd shapes: two-f16 words (d = 6), the smaller key tile of d > 128 with 8 heads per workgroup.
prefillCases.push({ Hq: 4, Hkv: 2, d: 6, T: 21, pos0: 40 }, { Hq: 8, Hkv: 1, d: 256, T: 19, pos0: 30 });

describe.each(f16Paths)('attention prefill ($name)', (mode) => {
  it.each(prefillCases)('Hq=$Hq Hkv=$Hkv d=$d T=$T pos0=$pos0', async ({ Hq, Hkv, d, T, pos0 }) => {
    const c = await mode.ctx();
    const s = { ...shape(Hq, Hkv, d, pos0 + T + 3), T, pos0 };
    const q = queries(T * Hq * d, 1), k = cache(s, 2), v = cache(s, 3);
    const out = storage(c.gpu, T * Hq * d * 4);
    const ds = attentionPrefill(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, k), vCache: uploadF16(c.gpu, v), out, step: uniform(c.gpu, [pos0]) });
    const got = await runAndRead(c, [ds], out, T * Hq * d);
    expect(maxAbsDiff(got, prefillAttentionRef(q, k, v, s))).toBeLessThan(TOL);
    await perf(c, `Hq=${Hq} Hkv=${Hkv} d=${d} T=${T} pos0=${pos0}`, [ds], attentionWork(s, T, pos0));
  });
});

// Model caches carry CACHE_PAD spare rows, which lets the prefill use tensor cores (subgroup
// matrices: an H100 has them, lavapipe does not, and there the plain kernel must be chosen). On
// tensor cores Q is rounded to f16 after scaling and P to f16, as FlashAttention does: the
// reference takes the same f16 Q, so what remains is P's rounding (2^-11 of each weight, outputs
// of |v| <= 1: <= 5e-4) on top of TOL.
const TOL_MMA = 5e-4 + TOL;
const native = await gpuContext(false);
// Keys scaled up along the context (ramp: up to 1 + ramp times) make later tiles' scores beat the
// earlier ones by far more than 2^8, so the tensor-core kernel's lazily raised max must move (and O
// be rescaled) many times; a score std of ~2 would hardly move it after the first tile.
const paddedCases = [
  ...prefillCases.filter((c) => c.d % 16 === 0 && c.d <= 128).map((c) => ({ ...c, ramp: 0 })),
  { Hq: 32, Hkv: 8, d: 128, T: 70, pos0: 400, ramp: 0 },
  { Hq: 32, Hkv: 8, d: 128, T: 70, pos0: 400, ramp: 8 },
  { Hq: 4, Hkv: 4, d: 64, T: 5, pos0: 300, ramp: 8 },
];
describe(`attention prefill over padded caches (${native.gpu.tensorCores ? 'tensor cores' : 'no tensor cores on this device: the plain kernel'})`, () => {
  it.each(paddedCases)('Hq=$Hq Hkv=$Hkv d=$d T=$T pos0=$pos0 ramp=$ramp', async ({ Hq, Hkv, d, T, pos0, ramp }) => {
    const c = native;
    const s = { ...shape(Hq, Hkv, d, pos0 + T + 3), T, pos0 };
    const q = queries(T * Hq * d, 1), v = cache(s, 3);
    const k = roundF16(cache(s, 2).map((x, i) => x * (1 + (ramp * (Math.floor(i / d) % s.capacity)) / s.capacity)));
    // Spare rows past the last head hold finite junk the kernel must weigh by zero.
    const padded = (x: Float32Array) => Float32Array.from([...x, ...rand(CACHE_PAD * d, 4)]);
    const out = storage(c.gpu, T * Hq * d * 4);
    const ds = attentionPrefill(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, roundF16(padded(k))), vCache: uploadF16(c.gpu, roundF16(padded(v))), out, step: uniform(c.gpu, [pos0]) });
    const got = await runAndRead(c, [ds], out, T * Hq * d);
    await perf(c, `Hq=${Hq} Hkv=${Hkv} d=${d} T=${T} pos0=${pos0} ramp=${ramp}`, [ds], attentionWork(s, T, pos0));
    if (!c.gpu.tensorCores) {
      expect(ds.kernel.name).toBe('attention_prefill');
      expect(maxAbsDiff(got, prefillAttentionRef(q, k, v, s))).toBeLessThan(TOL);
      return;
    }
    expect(ds.kernel.name).toBe('attention_prefill_mma');
    const log2Scale = s.scale * Math.LOG2E;
    const q16 = roundF16(q.map((x) => x * Math.fround(log2Scale))).map((x) => x / log2Scale);
    expect(maxAbsDiff(got, prefillAttentionRef(q16, k, v, s))).toBeLessThan(TOL_MMA);
  });
});

describe.each([...f16Paths, noSubgroups])('attention decode ($name)', (mode) => {
  it.each([
    { Hq: 6, Hkv: 2, d: 64 }, { Hq: 6, Hkv: 2, d: 128 }, { Hq: 4, Hkv: 4, d: 128 },
    { Hq: 8, Hkv: 1, d: 256 }, { Hq: 4, Hkv: 2, d: 6 },
    // Llama-3.1-8B's heads with many splits (68 of 64 keys per KV group; 99 from 6,336 keys).
    { Hq: 32, Hkv: 8, d: 128, capacity: 4300 },
  ])('dense Hq=$Hq Hkv=$Hkv d=$d: one recording replayed as the context grows', async ({ Hq, Hkv, d, capacity = 2053 }) => {
    const c = await mode.ctx();
    const s = shape(Hq, Hkv, d, capacity);
    const q = queries(Hq * d, 4), k = cache(s, 5), v = cache(s, 6);
    const out = storage(c.gpu, Hq * d * 4);
    const step = uniform(c.gpu, [0]);
    const ds = attentionDecode(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, k), vCache: uploadF16(c.gpu, v), out, step });
    for (const n of [1, 7, 300, 2000, capacity]) {
      setPos(c, step, n - 1);
      const got = await runAndRead(c, ds, out, Hq * d);
      expect(maxAbsDiff(got, decodeAttentionRef(q, k, v, s, () => allKeys(n))), `n_kv=${n}`).toBeLessThan(TOL);
    }
    await perf(c, `Hq=${Hq} Hkv=${Hkv} d=${d} n_kv=${capacity}`, ds, attentionWork(s, 1, capacity - 1));
  });

  it.each([false, true])('sparse lists (perQueryHead=%s) with unsorted keys, counts < kmax, garbage past counts', async (perQueryHead) => {
    const c = await mode.ctx();
    const s = shape(6, 2, 128, 1600);
    const n = 1500, kmax = 400;
    const lists = perQueryHead ? s.Hq : s.Hkv;
    const counts = [399, 1, 250, 128, 129, 333].slice(0, lists);
    const keys = counts.map((count, i) => shuffled(allKeys(n), 10 + i).slice(0, count));
    const q = queries(s.Hq * s.d, 7), k = cache(s, 8), v = cache(s, 9);
    const sel: SparseSelection = { sel: uploadU32(c.gpu, packLists(keys, kmax)), counts: uploadU32(c.gpu, counts), kmax, perQueryHead };
    const out = storage(c.gpu, s.Hq * s.d * 4);
    const ds = attentionDecode(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, k), vCache: uploadF16(c.gpu, v), out, step: uniform(c.gpu, [n - 1]), sparse: sel });
    const got = await runAndRead(c, ds, out, s.Hq * s.d);
    const listOf = (h: number) => (perQueryHead ? h : Math.floor(h / (s.Hq / s.Hkv)));
    expect(maxAbsDiff(got, decodeAttentionRef(q, k, v, s, (h) => keys[listOf(h)]))).toBeLessThan(TOL);
  });

  // The cuts scripts/bench/attention.mjs sweeps: threads, tile, heads per workgroup and splits.
  it.each([
    { hpw: 4, wg: 256, tk: 64, splits: 5 }, { hpw: 2, wg: 128, tk: 32, splits: 9 },
    { hpw: 1, wg: 128, tk: 16, splits: 1 }, { hpw: 4, wg: 256, tk: 32, splits: 13 },
  ])('cut hpw=$hpw wg=$wg tk=$tk splits=$splits, dense and sparse', async (cut: DecodeCut) => {
    const c = await mode.ctx();
    const s = shape(8, 2, 128, 450);
    const n = 400, kmax = 300;
    const q = queries(s.Hq * s.d, 31), k = cache(s, 32), v = cache(s, 33);
    const keys = [0, 1].map((i) => shuffled(allKeys(n), 40 + i).slice(0, 250 + i * 50));
    const sparse: SparseSelection = { sel: uploadU32(c.gpu, packLists(keys, kmax)), counts: uploadU32(c.gpu, keys.map((l) => l.length)), kmax, perQueryHead: false };
    const gpuIn = { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, k), vCache: uploadF16(c.gpu, v), step: uniform(c.gpu, [n - 1]) };
    for (const sp of [undefined, sparse]) {
      const out = storage(c.gpu, s.Hq * s.d * 4);
      expect(decodeCut({ ...s, sparse: sp }).wg).toBe(128);
      const got = await runAndRead(c, attentionDecode(c.kernels, { ...gpuIn, out, sparse: sp }, cut), out, s.Hq * s.d);
      const want = decodeAttentionRef(q, k, v, s, (h) => (sp ? keys[Math.floor(h / 4)] : allKeys(n)));
      expect(maxAbsDiff(got, want), sp ? 'sparse' : 'dense').toBeLessThan(TOL);
    }
  });

  // attention_decode_stream's cuts (decode over f16 rows, dense or a list a KV head): lanes a key, keys
  // a step, threads, splits, and PIPE (the next step's loads issued before this step's arithmetic);
  // refused where the device's subgroups are too small.
  it.each([
    { Hq: 8, d: 64, wg: 64, splits: 3, stream: { lanes: 4, keys: 1 }, pipe: false }, { Hq: 8, d: 128, wg: 128, splits: 7, stream: { lanes: 8, keys: 4 }, pipe: false },
    { Hq: 4, d: 128, wg: 256, splits: 1, stream: { lanes: 8, keys: 2 }, pipe: false }, { Hq: 4, d: 256, wg: 128, splits: 5, stream: { lanes: 8, keys: 2 }, pipe: false },
    { Hq: 8, d: 128, wg: 64, splits: 4, stream: { lanes: 8, keys: 2 }, pipe: true },
  ])('streamed d=$d, $stream.lanes lanes and $stream.keys keys, $wg threads, $splits splits, pipelined $pipe: dense and sparse', async ({ Hq, d, wg, splits, stream, pipe }) => {
    const c = await mode.ctx();
    const s = shape(Hq, 2, d, 450);
    const q = queries(s.Hq * s.d, 34), k = cache(s, 35), v = cache(s, 36);
    const out = storage(c.gpu, s.Hq * s.d * 4);
    const step = uniform(c.gpu, [0]);
    const cut: DecodeCut = { hpw: Hq / 2, wg, splits, stream, defines: pipe ? ['PIPE'] : [] };
    const gpuIn = { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, k), vCache: uploadF16(c.gpu, v), out, step };
    if (c.gpu.subgroupSize < stream.lanes) {
      expect(() => attentionDecode(c.kernels, gpuIn, cut)).toThrow(/no streamed decode/);
      return;
    }
    const ds = attentionDecode(c.kernels, gpuIn, cut);
    for (const n of [1, 33, 400, 450]) {
      setPos(c, step, n - 1);
      const got = await runAndRead(c, ds, out, s.Hq * s.d);
      expect(maxAbsDiff(got, decodeAttentionRef(q, k, v, s, () => allKeys(n))), `n_kv=${n}`).toBeLessThan(TOL);
    }
    const kmax = 300;
    const keys = [0, 1].map((i) => shuffled(allKeys(420), 50 + i).slice(0, 299 - 290 * i));
    const sparse: SparseSelection = { sel: uploadU32(c.gpu, packLists(keys, kmax)), counts: uploadU32(c.gpu, keys.map((l) => l.length)), kmax, perQueryHead: false };
    const got = await runAndRead(c, attentionDecode(c.kernels, { ...gpuIn, sparse }, cut), out, s.Hq * s.d);
    expect(maxAbsDiff(got, decodeAttentionRef(q, k, v, s, (h) => keys[Math.floor(h / (Hq / 2))])), 'sparse').toBeLessThan(TOL);
  });

  it('a sparse list holding every key equals dense decode', async () => {
    const c = await mode.ctx();
    const s = shape(6, 2, 64, 400);
    const n = 300, kmax = 320;
    const q = uploadF32(c.gpu, queries(s.Hq * s.d, 11));
    const k = uploadF16(c.gpu, cache(s, 12)), v = uploadF16(c.gpu, cache(s, 13));
    const step = uniform(c.gpu, [n - 1]);
    const decode = async (sparse?: SparseSelection) => {
      const out = storage(c.gpu, s.Hq * s.d * 4);
      return runAndRead(c, attentionDecode(c.kernels, { ...s, q, kCache: k, vCache: v, out, step, sparse }), out, s.Hq * s.d);
    };
    const everyKey = [0, 1].map((i) => shuffled(allKeys(n), 20 + i));
    const sparse = await decode({ sel: uploadU32(c.gpu, packLists(everyKey, kmax)), counts: uploadU32(c.gpu, [n, n]), kmax, perQueryHead: false });
    // Only the order of f32 sums differs (the splits cut the keys differently).
    expect(maxAbsDiff(sparse, await decode())).toBeLessThan(1e-5);
  });
});

/**
 * A random q8 cache (src/model/kvcache.ts) [Hkv, capacity, d]: int8 rows, each with an f16-valued
 * scale (test/ref/quant.ts, one block a row), and the values they hold, which the reference attends.
 */
function q8Cache(c: Ctx, s: CacheShape, seed: number) {
  const r = qref.quantize('q8', rand(s.Hkv * s.capacity * s.d, seed), s.d);
  return { data: upload(c.gpu, new Uint8Array(r.q.buffer)), scale: uploadF32(c.gpu, r.scales), values: qref.dequantize(r) };
}

// Decode over int8 rows: the same kernel with KV_Q8 words (so the same tolerance: the reference sees
// the values q·scale exactly, and the GPU's int8 · f32 products are exact before the f32 sums).
describe.each(f16Paths)('attention decode over a q8 KV cache ($name)', (mode) => {
  async function inputs(c: Ctx, s: CacheShape, seed: number) {
    const k = q8Cache(c, s, seed + 1), v = q8Cache(c, s, seed + 2);
    const q = queries(s.Hq * s.d, seed);
    const gpuIn = { ...s, q: uploadF32(c.gpu, q), kCache: k.data, vCache: v.data, scales: { k: k.scale, v: v.scale } };
    return { q, k, v, gpuIn };
  }

  it.each([{ Hq: 6, Hkv: 2, d: 64 }, { Hq: 32, Hkv: 8, d: 128, capacity: 1100 }])(
    'dense Hq=$Hq Hkv=$Hkv d=$d as the context grows', async ({ Hq, Hkv, d, capacity = 700 }) => {
      const c = await mode.ctx();
      const s = shape(Hq, Hkv, d, capacity);
      const { q, k, v, gpuIn } = await inputs(c, s, 50);
      const out = storage(c.gpu, Hq * d * 4);
      const step = uniform(c.gpu, [0]);
      const ds = attentionDecode(c.kernels, { ...gpuIn, out, step });
      for (const n of [1, 300, capacity]) {
        setPos(c, step, n - 1);
        const got = await runAndRead(c, ds, out, Hq * d);
        expect(maxAbsDiff(got, decodeAttentionRef(q, k.values, v.values, s, () => allKeys(n))), `n_kv=${n}`).toBeLessThan(TOL);
      }
    });

  it.each([false, true])('sparse lists (perQueryHead=%s), and a non-default cut of a shared list', async (perQueryHead) => {
    const c = await mode.ctx();
    const s = shape(8, 2, 128, 450);
    const n = 400, kmax = 300;
    const { q, k, v, gpuIn } = await inputs(c, s, 60);
    const lists = perQueryHead ? s.Hq : s.Hkv;
    const keys = Array.from({ length: lists }, (_, i) => shuffled(allKeys(n), 70 + i).slice(0, 100 + 25 * i));
    const sparse: SparseSelection = { sel: uploadU32(c.gpu, packLists(keys, kmax)), counts: uploadU32(c.gpu, keys.map((l) => l.length)), kmax, perQueryHead };
    const listOf = (h: number) => (perQueryHead ? h : Math.floor(h / (s.Hq / s.Hkv)));
    for (const cut of perQueryHead ? [undefined] : [undefined, { hpw: 2, wg: 128, tk: 16, splits: 5 }]) {
      const out = storage(c.gpu, s.Hq * s.d * 4);
      const got = await runAndRead(c, attentionDecode(c.kernels, { ...gpuIn, out, step: uniform(c.gpu, [n - 1]), sparse }, cut), out, s.Hq * s.d);
      expect(maxAbsDiff(got, decodeAttentionRef(q, k.values, v.values, s, (h) => keys[listOf(h)])), JSON.stringify(cut)).toBeLessThan(TOL);
    }
  });
});

// A batch of B sequences over one context (src/ops/attention.ts, BatchRows): rows [0, ctx) shared,
// sequence b's positions p >= ctx at rows p + (b + 1)·room. Every row of the cache holds random
// values, so a key read from the wrong row (another sequence's, the staging rows) shows.
describe.each([...f16Paths, noSubgroups])('batched attention decode ($name)', (mode) => {
  const rows = { ctx: 300, room: 40 };
  const own = (pos: number) => Array.from({ length: pos - rows.ctx + 1 }, (_, i) => rows.ctx + i);
  it.each([
    { Hq: 6, Hkv: 2, d: 64, B: 3 }, { Hq: 8, Hkv: 2, d: 128, B: 5 }, { Hq: 4, Hkv: 2, d: 6, B: 2 }, { Hq: 4, Hkv: 4, d: 64, B: 1 },
  ])('full Hq=$Hq Hkv=$Hkv d=$d B=$B: the context once for all, each its own rows, one recording replayed', async ({ Hq, Hkv, d, B }) => {
    const c = await mode.ctx();
    const s = shape(Hq, Hkv, d, rows.ctx + (B + 1) * rows.room);
    const q = queries(B * Hq * d, 90), k = cache(s, 91), v = cache(s, 92);
    const out = storage(c.gpu, B * Hq * d * 4);
    const positions = uploadU32(c.gpu, new Array(B).fill(rows.ctx));
    const ds = attentionDecodeBatch(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, k), vCache: uploadF16(c.gpu, v), out, B, rows, positions });
    // A batch of one reads its context as one sequence does: streamed where subgroups allow.
    if (B === 1) expect(ds[0].kernel.name).toBe(c.gpu.subgroupSize >= 8 ? 'attention_decode_stream' : 'attention_decode');
    for (const step of [0, 1, 17]) {
      // Sequences at different lengths: b's own keys [ctx, pos_b], the last one the whole room.
      const pos = Array.from({ length: B }, (_, b) => (b === B - 1 ? rows.ctx + rows.room - 1 : rows.ctx + ((step * (b + 3)) % rows.room)));
      c.gpu.device.queue.writeBuffer(positions, 0, Uint32Array.from(pos));
      const got = await runAndRead(c, ds, out, B * Hq * d);
      const want = batchDecodeAttentionRef(q, k, v, s, rows, B, (b) => [...allKeys(rows.ctx), ...own(pos[b])]);
      expect(maxAbsDiff(got, want), `positions ${pos}`).toBeLessThan(TOL);
    }
  });

  it.each([[false, false], [true, false], [false, true], [true, true]])('sparse: each sequence its own list of context and own positions (perQueryHead=%s, one selection for the batch=%s)', async (perQueryHead, whole) => {
    const c = await mode.ctx();
    const B = 3, kmax = 200;
    const s = shape(6, 2, 64, rows.ctx + (B + 1) * rows.room);
    const q = queries(B * s.Hq * s.d, 93), k = cache(s, 94), v = cache(s, 95);
    const pos = [rows.ctx, rows.ctx + 9, rows.ctx + rows.room - 1];
    const lists = perQueryHead ? s.Hq : s.Hkv;
    const keys = pos.map((p, b) => Array.from({ length: lists }, (_, i) => shuffled([...shuffled(allKeys(rows.ctx), 100 + 10 * b + i).slice(0, 60 + 7 * i), ...own(p)], 200 + b)));
    const selection = (ls: number[][]): SparseSelection => ({ sel: uploadU32(c.gpu, packLists(ls, kmax)), counts: uploadU32(c.gpu, ls.map((l) => l.length)), kmax, perQueryHead });
    // One selection: the sequences' lists one after another.
    const sparse = whole ? selection(keys.flat()) : keys.map(selection);
    const out = storage(c.gpu, B * s.Hq * s.d * 4);
    const ds = attentionDecodeBatch(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, k), vCache: uploadF16(c.gpu, v), out, B, rows, positions: uploadU32(c.gpu, pos), sparse });
    const listOf = (h: number) => (perQueryHead ? h : Math.floor(h / (s.Hq / s.Hkv)));
    const got = await runAndRead(c, ds, out, B * s.Hq * s.d);
    expect(maxAbsDiff(got, batchDecodeAttentionRef(q, k, v, s, rows, B, (b, h) => keys[b][listOf(h)]))).toBeLessThan(TOL);
  });

  it('mixed: sequences of full attention and of selections of different sizes, one reduce', async () => {
    const c = await mode.ctx();
    const B = 3;
    const s = shape(6, 2, 64, rows.ctx + (B + 1) * rows.room);
    const q = queries(B * s.Hq * s.d, 101), k = cache(s, 102), v = cache(s, 103);
    const pos = [rows.ctx + 3, rows.ctx + 20, rows.ctx + 7];
    // Sequence 1 attends everything; 0 and 2 a list per KV head, of 100 and 900 entries at most (1 and 4 splits).
    const lists = [0, 2].map((b, i) => Array.from({ length: s.Hkv }, (_, h) => [...shuffled(allKeys(rows.ctx), 300 + 10 * b + h).slice(0, 50 + 200 * i), ...own(pos[b])]));
    const sel = (ls: number[][], kmax: number): SparseSelection => ({ sel: uploadU32(c.gpu, packLists(ls, kmax)), counts: uploadU32(c.gpu, ls.map((l) => l.length)), kmax, perQueryHead: false });
    const sparse = [sel(lists[0], 100), null, sel(lists[1], 900)];
    const out = storage(c.gpu, B * s.Hq * s.d * 4);
    const ds = attentionDecodeBatch(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, k), vCache: uploadF16(c.gpu, v), out, B, rows, positions: uploadU32(c.gpu, pos), sparse });
    const got = await runAndRead(c, ds, out, B * s.Hq * s.d);
    const keysOf = (b: number, h: number) => (b === 1 ? [...allKeys(rows.ctx), ...own(pos[1])] : lists[b / 2][Math.floor(h / 3)]);
    expect(maxAbsDiff(got, batchDecodeAttentionRef(q, k, v, s, rows, B, keysOf))).toBeLessThan(TOL);
  });

  it('full over a q8 cache', async () => {
    const c = await mode.ctx();
    const B = 3;
    const s = shape(8, 2, 64, rows.ctx + (B + 1) * rows.room);
    const kq = q8Cache(c, s, 96), vq = q8Cache(c, s, 97);
    const q = queries(B * s.Hq * s.d, 98);
    const pos = [rows.ctx + 5, rows.ctx, rows.ctx + 30];
    const out = storage(c.gpu, B * s.Hq * s.d * 4);
    const ds = attentionDecodeBatch(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: kq.data, vCache: vq.data, scales: { k: kq.scale, v: vq.scale }, out, B, rows, positions: uploadU32(c.gpu, pos) });
    const got = await runAndRead(c, ds, out, B * s.Hq * s.d);
    expect(maxAbsDiff(got, batchDecodeAttentionRef(q, kq.values, vq.values, s, rows, B, (b) => [...allKeys(rows.ctx), ...own(pos[b])]))).toBeLessThan(TOL);
  });
});

// With tensor cores and 16 or more (sequence, head) rows per KV head, a batch's context part runs on
// them (attention_prefill_mma, BATCH: split partials); elsewhere the plain kernel. Queries are chosen
// so that Q·scale·log2 e is f16-exact, as both paths then see the same Q: what remains on tensor
// cores is P's rounding to f16 (TOL_MMA). A ramp makes later keys' scores beat earlier ones by far,
// so that the lazy max of every split moves.
describe(`batched attention over padded caches (${native.gpu.tensorCores ? 'tensor cores' : 'no tensor cores on this device: the plain kernel'})`, () => {
  const rows = { ctx: 700, room: 24 };
  it.each([
    { Hq: 32, Hkv: 8, d: 128, B: 4, ramp: 0 }, { Hq: 32, Hkv: 8, d: 128, B: 17, ramp: 8 }, { Hq: 8, Hkv: 2, d: 64, B: 8, ramp: 8 }, { Hq: 8, Hkv: 2, d: 64, B: 2, ramp: 0 },
    { Hq: 8, Hkv: 2, d: 64, B: 33, ramp: 8 }, // 132 rows a KV head: more than one 128-row workgroup
  ])('full Hq=$Hq Hkv=$Hkv d=$d B=$B ramp=$ramp', async ({ Hq, Hkv, d, B, ramp }) => {
    const c = native;
    const s = shape(Hq, Hkv, d, rows.ctx + (B + 1) * rows.room);
    const log2Scale = Math.fround(s.scale * Math.LOG2E);
    const q = Float32Array.from(roundF16(queries(B * Hq * d, 110).map((x) => x * log2Scale)), (x) => x / log2Scale);
    const k = roundF16(cache(s, 111).map((x, i) => x * (1 + (ramp * (Math.floor(i / d) % s.capacity)) / s.capacity)));
    const v = cache(s, 112);
    const padded = (x: Float32Array) => roundF16(Float32Array.from([...x, ...rand(CACHE_PAD * d, 113)]));
    const pos = Array.from({ length: B }, (_, b) => rows.ctx + ((5 * b) % rows.room));
    const out = storage(c.gpu, B * Hq * d * 4);
    const ds = attentionDecodeBatch(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, padded(k)), vCache: uploadF16(c.gpu, padded(v)), out, B, rows, positions: uploadU32(c.gpu, pos) });
    const got = await runAndRead(c, ds, out, B * Hq * d);
    const want = batchDecodeAttentionRef(q, k, v, s, rows, B, (b) => [...allKeys(rows.ctx), ...Array.from({ length: pos[b] - rows.ctx + 1 }, (_, i) => rows.ctx + i)]);
    const mma = c.gpu.tensorCores && B >= 2 && (B * Hq) / Hkv >= 8;
    expect(ds[0].kernel.name).toBe(mma ? 'attention_prefill_mma' : 'attention_decode');
    expect(maxAbsDiff(got, want)).toBeLessThan(mma ? TOL_MMA : TOL);
  });

  // One selection for the batch, with a union scratch: on tensor cores, unions of up to 16 sequences
  // (G = 4: B = 17 makes two) or 32 (G = 1: B = 35 makes two), whose rows are chosen by one to all of
  // them (a core every sequence takes, and each one's picks); elsewhere each selection alone. Every
  // list holds all of its sequence's own positions, as the union path requires. Run twice over one
  // scratch: the first run's unions must leave nothing behind.
  it.each([{ Hq: 32, Hkv: 8, d: 128, B: 17 }, { Hq: 8, Hkv: 8, d: 64, B: 35 }, { Hq: 8, Hkv: 2, d: 64, B: 2 }])(
    'sparse, one selection for the batch as unions: Hq=$Hq Hkv=$Hkv d=$d B=$B', async ({ Hq, Hkv, d, B }) => {
      const c = native;
      const s = shape(Hq, Hkv, d, rows.ctx + (B + 1) * rows.room);
      const log2Scale = Math.fround(s.scale * Math.LOG2E);
      const q = Float32Array.from(roundF16(queries(B * Hq * d, 120).map((x) => x * log2Scale)), (x) => x / log2Scale);
      const k = cache(s, 121), v = cache(s, 122);
      const padded = (x: Float32Array) => roundF16(Float32Array.from([...x, ...rand(CACHE_PAD * d, 123)]));
      const pos = Array.from({ length: B }, (_, b) => rows.ctx + ((7 * b) % rows.room));
      const lists = Array.from({ length: B * Hkv }, (_, i) => {
        const b = Math.floor(i / Hkv), h = i % Hkv;
        const core = shuffled(allKeys(rows.ctx), 500 + h).slice(0, 40);
        const picks = shuffled(allKeys(rows.ctx), 600 + i).slice(0, 20 + ((13 * i) % 90));
        return shuffled([...new Set([...core, ...picks]), ...Array.from({ length: pos[b] - rows.ctx + 1 }, (_, j) => rows.ctx + j)], 700 + i);
      });
      const kmax = Math.max(...lists.map((l) => l.length)) + 5;
      const sparse: SparseSelection = { sel: uploadU32(c.gpu, packLists(lists, kmax)), counts: uploadU32(c.gpu, lists.map((l) => l.length)), kmax, perQueryHead: false };
      const out = storage(c.gpu, B * Hq * d * 4);
      const union = unionScratch(c.gpu, Hkv, rows.ctx);
      const ds = attentionDecodeBatch(c.kernels, { ...s, q: uploadF32(c.gpu, q), kCache: uploadF16(c.gpu, padded(k)), vCache: uploadF16(c.gpu, padded(v)), out, B, rows, positions: uploadU32(c.gpu, pos), sparse, union });
      const want = batchDecodeAttentionRef(q, k, v, s, rows, B, (b, h) => lists[b * Hkv + Math.floor(h / (Hq / Hkv))]);
      const unions = ds.filter((x) => x.kernel.name === 'attention_prefill_mma').length;
      expect(unions).toBe(c.gpu.tensorCores ? Math.ceil(B / Math.min(32, 64 / (Hq / Hkv), B)) : 0);
      for (const run of [1, 2]) expect(maxAbsDiff(await runAndRead(c, ds, out, B * Hq * d), want), `run ${run}`).toBeLessThan(c.gpu.tensorCores ? TOL_MMA : TOL);
    });
});

describe('expandKv: a q8 layer back to f16 rows', () => {
  it('expands rows [0, step.pos + T), or a fixed row count, and nothing past them', async () => {
    const c = await gpuContext(true);
    const s = shape(2, 2, 64, 300);
    const k = q8Cache(c, s, 80), v = q8Cache(c, s, 81);
    const bytes = (s.Hkv * s.capacity + CACHE_PAD) * s.d * 2;
    const step = uniform(c.gpu, [0]);
    for (const [pos, T, rows] of [[100, 7, undefined], [0, 1, 250]] as const) {
      const out = { k: storage(c.gpu, bytes), v: storage(c.gpu, bytes) };
      setPos(c, step, pos);
      runDispatches(c, expandKv(c.kernels, { kCache: k.data, vCache: v.data, scales: { k: k.scale, v: v.scale }, out, step, Hkv: s.Hkv, d: s.d, capacity: s.capacity, T, rows }));
      const n = rows ?? pos + T;
      for (const [name, x] of [['k', k], ['v', v]] as const) {
        const want = roundF16(x.values).map((val, i) => (i % (s.capacity * s.d) < n * s.d ? val : 0));
        expect(maxAbsDiff(await readF16(c.gpu, out[name], want.length), want), `${name}, ${n} rows`).toBe(0);
      }
    }
  });
});

/** Lists padded to kmax with out-of-range positions, which the kernel must never read. */
function packLists(lists: number[][], kmax: number): Uint32Array {
  const out = new Uint32Array(lists.length * kmax);
  lists.forEach((l, i) => {
    out.set(l, i * kmax);
    for (let j = l.length; j < kmax; j++) out[i * kmax + j] = j % 2 ? 0xffffffff : 1_000_000 + j;
  });
  return out;
}

/** A deterministic permutation (Fisher–Yates driven by `rand`). */
function shuffled(xs: number[], seed: number): number[] {
  const r = rand(xs.length, seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(((r[i] + 1) / 2) * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
