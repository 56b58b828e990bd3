import { describe, expect, it } from 'vitest';
import { Kernels } from '../src/gpu/kernels.js';
import { storage, upload } from '../src/gpu/kernels.js';
import { BATCH_MMA_FROM, batchHalvesBytes, batchMatmul, batchRow, halves, matmul, matvecHolds, matvecShape, MATVEC_MAX_T, MMA_LONG_FROM, type MatvecShape } from '../src/ops/dense.js';
import { BYTES_PER_WEIGHT, f16Matrix, type Matrix, type QuantFormat } from '../src/ops/quant.js';
import { roundF16 } from '../src/weights/f16.js';
import * as ref from './ref/dense.js';
import * as qref from './ref/quant.js';
import { f16Modes, gpuContext, rand, readF16, readF32, runDispatches, uploadF16, uploadF32, type Ctx } from './helpers/gpu.js';
import { perf } from './helpers/perf.js';

const U = 2 ** -24; // f32 unit roundoff

interface Case {
  T: number; K: number; N: number; bias?: boolean; accumulate?: boolean; swiglu?: boolean; norm?: boolean; shape?: MatvecShape;
  /** The batch product on tensor cores (batchMatmul), whatever matmul() would pick. */
  batch?: boolean;
  /**
   * Quantized weights (on the CPU), expanded for tiled products into buffers of this many rows.
   * exactX: x of whole multiples of 1/8 reaching ±127/8 in every block of 16, which the matvec's
   * int8 quantization of x (DOT4) holds exactly.
   */
  quant?: { format?: QuantFormat; expandRows?: number; exactX?: boolean };
}

const EPS = 1e-5;

/** Random inputs for a case, f16 tensors already rounded as they are uploaded. */
function inputs(c: Case, seed: number): ref.MatmulRef {
  const { T, K, N } = c;
  return {
    T, K, N,
    x: c.quant?.exactX ? rand(T * K, seed).map((v, i) => (i % 16 === 3 ? Math.sign(v) || 1 : Math.round(v * 127) / 127) * 127 / 8) : rand(T * K, seed),
    w: roundF16(rand(N * K, seed + 1)),
    w2: c.swiglu ? roundF16(rand(N * K, seed + 2)) : undefined,
    bias: c.bias ? roundF16(rand(N, seed + 3)) : undefined,
    y0: c.accumulate ? rand(T * N, seed + 4) : undefined,
    swiglu: c.swiglu,
  };
}

/**
 * Per-element error bound. Both sides multiply the same f32 activations by the same f16 weights;
 * only the rounding of the f32 products and sums (in any order) differs. The worst case is
 * (K + 1)·u·Σ|x·w| (Higham); rounding errors behave like independent random variables, giving
 * λ·√(K + 1)·u·Σ|x·w| with overwhelming probability for λ of a few (Higham & Mary 2019): we take
 * λ = 4, ~15× the largest error seen on lavapipe. The adds of bias and y0 cost an ulp each. With
 * SwiGLU, y = silu(g)·v: |silu'| ≤ 1.1, and silu's exp is within (3 + 2|g|) ulp (Vulkan's bound).
 */
function tolerance(a: ref.MatmulRef, lambda = 4, xError?: Float32Array): Float32Array {
  const abs = (v?: Float32Array) => v && v.map(Math.abs);
  const plain = { ...a, bias: undefined, y0: undefined, swiglu: false };
  const moved = (w: Float32Array) => (xError ? ref.matmul({ ...plain, x: xError, w: abs(w)! }) : new Float32Array(a.T * a.N));
  const dotError = (w: Float32Array) => {
    const m = moved(w);
    return ref.matmul({ ...plain, x: abs(a.x)!, w: abs(w)! }).map((s, i) => lambda * Math.sqrt(a.K + 1) * U * s + m[i]);
  };
  const g = ref.matmul(plain);
  const eg = dotError(a.w);
  const v = a.swiglu ? ref.matmul({ ...plain, w: a.w2! }) : g;
  const ev = a.swiglu ? dotError(a.w2!) : eg;
  return ref.matmul(a).map((y, i) => {
    let e = eg[i];
    if (a.swiglu) {
      e = 1.1 * eg[i] * Math.abs(v[i]) + Math.abs(ref.silu(g[i])) * ev[i] + (8 + 2 * Math.abs(g[i])) * U * Math.abs(y);
    }
    return e + 2 * U * (Math.abs(y) + Math.abs(a.bias?.[i % a.N] ?? 0)) + 1e-30;
  });
}

/**
 * Runs one case and compares it with the CPU product. On tensor cores x is rounded to f16 (the
 * reference takes the same x) and products are summed in f32 by the tensor cores, whose additions
 * may truncate rather than round (Blanchard et al. 2020): twice the unit roundoff, so λ = 8.
 */
async function checkOn(ctx: Ctx, c: Case, kernels = ctx.kernels, minDispatches = 1): Promise<string> {
  const gpu = ctx.gpu;
  const f16 = inputs(c, c.T * 1000 + c.N);
  const normW = roundF16(rand(c.K, 7).map((v) => 1 + 0.5 * v));
  const y = uploadF32(gpu, f16.y0 ?? new Float32Array(c.T * c.N));
  // Q8: the values the product sees are q·d, as f16 where a tiled product expands them.
  const tiled = c.T > MATVEC_MAX_T;
  const weight = (w: Float32Array): [Matrix, Float32Array] => {
    if (!c.quant) return [f16Matrix(uploadF16(gpu, w)), w];
    const q = qref.quantize(c.quant.format ?? 'q8', w);
    const bytes = qref.quantBytes(q);
    return [{ format: q.format, data: upload(gpu, bytes.data), scales: upload(gpu, bytes.scales) }, tiled ? roundF16(qref.dequantize(q)) : qref.dequantize(q)];
  };
  const [w, wv] = weight(f16.w);
  const [w2, w2v] = f16.w2 ? weight(f16.w2) : [];
  const a = { ...f16, w: wv, w2: w2v };
  const expandInto = c.quant && [0, 1].map(() => storage(gpu, (c.quant!.expandRows ?? c.N) * c.K * 2));
  const args = {
    x: uploadF32(gpu, a.x), w, w2,
    bias: a.bias && uploadF16(gpu, a.bias), y, T: c.T, K: c.K, N: c.N, accumulate: c.accumulate, swiglu: c.swiglu,
    norm: c.norm ? { weight: uploadF16(gpu, normW), eps: EPS } : undefined, expandInto, halves: storage(gpu, batchHalvesBytes(c.K)),
  };
  const ds = c.batch ? batchMatmul(kernels, args) : matmul(kernels, args, c.shape ?? matvecShape({ ...c, w }));
  expect(ds.length).toBeGreaterThanOrEqual(minDispatches);
  runDispatches(ctx, ds);
  const got = await readF32(gpu, y, c.T * c.N);
  const onTensorCores = ds.some((d) => d.kernel.name.startsWith('matmul_mma') || d.kernel.name.startsWith('matmul_batch_mma'));
  const x = onTensorCores ? roundF16(a.x) : a.x;
  // A fused norm is the product with the normalised x, whose scale rsqrt(mean(x²) + eps) the GPU
  // gets from an f32 sum of K squares (relative error <= K·u; 4·√K·u with λ = 4 as below). A batch
  // product on tensor cores rounds the normalised x to f16.
  // The GPU's normalised value sits within a relative 8(√K + 1)·u of the reference's, so where that
  // straddles an f16 rounding boundary its f16 may be a step away: that step enters as x's error.
  const exactNormed = c.norm && ref.rmsnorm(onTensorCores ? a.x : x, normW, c.K, EPS);
  const normed = exactNormed ? { ...a, x: onTensorCores ? roundF16(exactNormed) : exactNormed } : { ...a, x };
  const slack = 8 * (Math.sqrt(c.K) + 1) * U;
  const f16Steps = exactNormed && onTensorCores ? exactNormed.map((v) => Math.abs(roundF16(new Float32Array([v * (1 + slack), v * (1 - slack)])).reduce((p, q) => p - q))) : undefined;
  const want = ref.matmul(normed);
  // With int8 products (DOT4) the matvec also quantizes x per column block (16 values for Q8, 32
  // for Q4): each value moves by at
  // most half a step, amax/127/2 (none with exactX), and a product by Σ|w|·that at most.
  const dot4 = c.quant && !tiled && kernels.gpu.int8Dot;
  const xError = dot4 ? (c.quant!.exactX ? new Float32Array(normed.x.length) : halfSteps(normed.x, c.quant!.format === 'q4' ? 32 : 16)) : f16Steps;
  const tol = tolerance(normed, onTensorCores ? 8 : 4, xError).map((t, i) => t + (c.norm ? 4 * Math.sqrt(c.K) * U * Math.abs(want[i] - (normed.y0?.[i] ?? 0) - (normed.bias?.[i % c.N] ?? 0)) : 0));
  const bad = Array.from(got.keys()).filter((i) => !(Math.abs(got[i] - want[i]) <= tol[i]));
  expect(bad.slice(0, 5).map((i) => [i, got[i], want[i], tol[i]])).toEqual([]);
  const products = c.swiglu ? 2 : 1;
  await perf(ctx, `T=${c.T} K=${c.K} N=${c.N}${['bias', 'accumulate', 'swiglu', 'norm', 'quant'].filter((f) => c[f as keyof Case]).map((f) => ` ${f}`).join('')}`, ds,
    { bytes: products * c.N * c.K * BYTES_PER_WEIGHT[c.quant?.format ?? (c.quant ? 'q8' : 'f16')] + c.T * (c.K + c.N) * 4, flops: 2 * products * c.T * c.K * c.N });
  return ds[ds.length - 1]!.kernel.name;
}

/** Half the int8 quantization step of each value's block (1.001x for the f32 arithmetic). */
function halfSteps(x: Float32Array, block: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < x.length; b += block) {
    let amax = 0;
    for (let i = b; i < b + block; i++) amax = Math.max(amax, Math.abs(x[i]));
    out.fill((amax / 127 / 2) * 1.001, b, b + block);
  }
  return out;
}

describe.each(await f16Modes())('matmul (packedF16=%s)', (packed) => {
  const check = async (c: Case, kernels?: Kernels, minDispatches = 1) => {
    const ctx = await gpuContext(packed);
    await checkOn(ctx, c, kernels ?? ctx.kernels, minDispatches);
  };

  // T = 1, 3, 8 take the matvec kernel, 9 and more the tiled one; K = 200 and N = 77 leave partial
  // tiles (64 × 64 × 32) and a partial row group.
  const Ts = [1, 3, MATVEC_MAX_T, MATVEC_MAX_T + 1, 37, 130];
  it.each(Ts)('T = %i: y = x·Wᵀ', (T) => check({ T, K: 200, N: 77 }));
  it.each(Ts)('T = %i: + bias', (T) => check({ T, K: 200, N: 77, bias: true }));
  it.each(Ts)('T = %i: accumulate', (T) => check({ T, K: 200, N: 77, accumulate: true }));
  it.each(Ts)('T = %i: swiglu + accumulate', (T) => check({ T, K: 200, N: 77, swiglu: true, accumulate: true }));
  it.each(Ts)('T = %i: swiglu', (T) => check({ T, K: 200, N: 77, swiglu: true }));

  it.each([1, 3, MATVEC_MAX_T])('T = %i: RMSNorm fused in front (plain, swiglu, bias + accumulate)', async (T) => {
    await check({ T, K: 200, N: 77, norm: true });
    await check({ T, K: 200, N: 77, norm: true, swiglu: true });
    await check({ T, K: 2056, N: 13, norm: true, bias: true, accumulate: true });
  });

  it('a fused RMSNorm is refused past the matvec sizes', async () => {
    await expect(check({ T: MATVEC_MAX_T + 1, K: 200, N: 77, norm: true })).rejects.toThrow(/fused RMSNorm needs T/);
  });

  it.each([1, 37])('T = %i: weights larger than a binding are split by rows', async (T) => {
    const { gpu } = await gpuContext(packed);
    // 8 KiB bindings hold 20 rows of K = 200; offsets aligned to 256 B give 16-row parts: 5 of them.
    const small = new Kernels({ ...gpu, maxBinding: 8192 });
    await check({ T, K: 200, N: 77, swiglu: true, accumulate: true }, small, 5);
    await check({ T, K: 200, N: 77, bias: true }, small, 5);
  });

  it.each([1, 5])('T = %i: matvec without subgroups', async (T) => {
    const { gpu } = await gpuContext(packed);
    const plain = new Kernels({ ...gpu, subgroups: false });
    await check({ T, K: 2056, N: 13, swiglu: true }, plain);
    await check({ T, K: 24, N: 9, bias: true, accumulate: true }, plain);
  });

  // The shapes scripts/bench/matvec.mjs sweeps: K = 2056 leaves a tail of column blocks after the
  // unrolled ones for every workgroup size, N = 13 a partial row group.
  it.each([
    { rows: 1, wg: 64, unroll: 4 }, { rows: 2, wg: 128, unroll: 8 }, { rows: 4, wg: 256, unroll: 2 }, { rows: 8, wg: 64, unroll: 2 }, { rows: 4, wg: 32, unroll: 2 },
  ])('matvec cut as $rows rows, $wg threads, $unroll blocks in flight', async (shape) => {
    await check({ T: 1, K: 2056, N: 13, swiglu: true, norm: true, shape });
    await check({ T: 1, K: 2056, N: 13, accumulate: true, shape });
    await check({ T: 2, K: 2056, N: 13, bias: true, shape });
  });

  it('cuts the f16 matvec of 2-8 tokens into one or two subgroups a workgroup, two blocks in flight', async () => {
    expect(matvecShape({ T: 2, K: 4096 })).toEqual({ rows: 2, wg: 32, unroll: 2 });
    expect(matvecShape({ T: 4, K: 14336 })).toEqual({ rows: 4, wg: 64, unroll: 2 });
    expect(matvecShape({ T: 8, K: 14336, swiglu: true })).toEqual({ rows: 2, wg: 64, unroll: 2 });
    // One token, and quantized weights, keep their cut.
    expect(matvecShape({ T: 1, K: 4096 })).toEqual({ rows: 4, wg: 128, unroll: 1 });
    expect(matvecShape({ T: 2, K: 4096, w: { format: 'q8' } })).toEqual({ rows: 4, wg: 128, unroll: 1 });
    await check({ T: 3, K: 8200, N: 13, accumulate: true });
    await check({ T: 7, K: 2056, N: 13, swiglu: true, norm: true });
  });

  it('takes any cut of at most 40 sums a thread, and refuses one past them', async () => {
    // 4 rows x 8 tokens + 8 norm sums, and 2 x 8 rows x 2 tokens of gate and up: 40 and 32 sums.
    await check({ T: 8, K: 2056, N: 13, norm: true, shape: { rows: 4, wg: 32, unroll: 2 } });
    await check({ T: 2, K: 2056, N: 13, swiglu: true, shape: { rows: 8, wg: 64, unroll: 1 } });
    expect(matvecHolds({ T: 8, swiglu: true, norm: true }, { rows: 2, wg: 32, unroll: 2 })).toBe(true); // 40
    expect(matvecHolds({ T: 8, swiglu: true, norm: true }, { rows: 3, wg: 32, unroll: 2 })).toBe(false); // 56
    expect(matvecHolds({ T: 8 }, { rows: 8, wg: 32, unroll: 2 })).toBe(false); // 64 stores for 32 threads
    const { gpu, kernels } = await gpuContext(packed);
    const b = uploadF32(gpu, new Float32Array(16 * 8));
    expect(() => matmul(kernels, { x: b, w: f16Matrix(b), y: b, T: 8, K: 8, N: 8, swiglu: true, w2: f16Matrix(b) }, { rows: 4, wg: 64, unroll: 1 })).toThrow(/4 rows x 8 tokens/);
  });

  it('decode-sized K and a grid of more than 65535 workgroups', async () => {
    await check({ T: 1, K: 4096, N: 33 });
    await check({ T: 1, K: 8, N: 4 * 65535 + 13 });
  });

  it('rejects K that is not a multiple of 8', async () => {
    const { gpu, kernels } = await gpuContext(packed);
    const b = uploadF32(gpu, new Float32Array(16));
    expect(() => matmul(kernels, { x: b, w: f16Matrix(b), y: b, T: 1, K: 12, N: 1 })).toThrow(/multiple of 8/);
  });

  // Quantized weights: read as blocks by the matvec, expanded to f16 for the tiled products (K = 320:
  // ten blocks of 32, five of the Q8 matvec's pairs of column blocks per row).
  // (T = 8 is left out: its kernels take 10 s each to compile on lavapipe.)
  it.each([1, 3, MATVEC_MAX_T + 1, 37])('T = %i: Q8 weights, plain, bias + accumulate, swiglu', async (T) => {
    await check({ T, K: 320, N: 77, quant: {} });
    await check({ T, K: 320, N: 77, quant: {}, bias: true, accumulate: true });
    await check({ T, K: 320, N: 77, quant: {}, swiglu: true });
  });
  it.each([1, MATVEC_MAX_T + 1])('T = %i: Q4 weights, bias + accumulate, swiglu', async (T) => {
    await check({ T, K: 320, N: 77, quant: { format: 'q4' }, bias: true, accumulate: true });
    await check({ T, K: 320, N: 77, quant: { format: 'q4' }, swiglu: true });
  });
  it.each([1, 2])('T = %i: Q8 and Q4 weights with RMSNorm fused in front', async (T) => {
    await check({ T, K: 2112, N: 13, quant: {}, norm: true, swiglu: true });
    await check({ T, K: 2112, N: 13, quant: {}, norm: true, bias: true });
    await check({ T, K: 2112, N: 13, quant: { format: 'q4' }, norm: true, swiglu: true });
  });
  it('quantized weights: int8 products (DOT4) where the compiler has them, else f32 ones; x that int8 holds exactly', async () => {
    const { gpu } = await gpuContext(packed);
    expect(gpu.int8Dot).toBe(true); // lavapipe's and NVIDIA's Dawn both have packed_4x8_integer_dot_product
    const plain = new Kernels({ ...gpu, int8Dot: false });
    for (const kernels of [undefined, plain]) {
      for (const format of ['q8', 'q4'] as const) {
        await check({ T: 1, K: 2112, N: 13, quant: { format, exactX: true }, swiglu: true }, kernels);
        await check({ T: 3, K: 320, N: 77, quant: { format, exactX: true }, bias: true, accumulate: true }, kernels);
        await check({ T: 1, K: 320, N: 77, quant: { format }, norm: true }, kernels);
      }
    }
  });
  it.each(['q8', 'q4'] as const)('%s weights split by rows: by the binding size (matvec) and by the expansion buffers (tiled)', async (format) => {
    const { gpu } = await gpuContext(packed);
    // Rows of K = 320 values: Q8's 320 B and 20 B of scales align every 64 rows, and 32 KiB
    // bindings hold 102 rows: N = 150 comes in parts of 64, 64 and 22 rows. Q4's 160 B and 40 B
    // align every 32 rows, and 8 KiB hold 51: parts of 32 rows. The tiled product with buffers of
    // 64 rows to expand into comes in parts of 64, 64 and 22 (a dequantization before each part).
    const small = new Kernels({ ...gpu, maxBinding: format === 'q8' ? 32768 : 8192 });
    await check({ T: 1, K: 320, N: 150, quant: { format }, swiglu: true }, small, 3);
    await check({ T: 37, K: 320, N: 150, quant: { format, expandRows: 64 }, accumulate: true }, undefined, 3 * 2);
    await check({ T: 37, K: 320, N: 150, quant: { format, expandRows: 64 }, swiglu: true }, undefined, 3 * 3);
    // K = 96: three blocks a row, so rows' scales start mid-word; 128-row parts.
    await check({ T: 1, K: 96, N: 300, quant: { format }, bias: true }, new Kernels({ ...gpu, maxBinding: format === 'q8' ? 16384 : 8192 }), 3);
    await check({ T: 37, K: 96, N: 150, quant: { format, expandRows: 128 } }, undefined, 2 * 2);
  });
});

// Prefill products run on tensor cores where the device has them (an H100 does, lavapipe does not:
// there the plain tiled kernel must be chosen), and so do a decode batch's of 9 to 16 tokens, in
// tiles of their own where K is a multiple of 16 and there are at least 32 rows, x through
// halves.wgsl (with the RMSNorm fused). Partial tiles of 64 tokens x 64 rows x 32 k, from
// MMA_LONG_FROM tokens 128 x 128 (batches: 16 tokens x 32 (16) rows x 256 k, the last tile
// moved back over the one before), and
// weights split by rows, as above (a batch's last range of too few rows widened over the one before).
const native = await gpuContext(false);
describe(`matmul for prefill and decode batches (${native.gpu.tensorCores ? 'tensor cores' : 'no tensor cores on this device: the plain kernel'})`, () => {
  const kernel = ({ T, K }: { T: number; K: number }) => (!native.gpu.tensorCores ? 'matmul' : T <= 16 && K % 16 === 0 ? 'matmul_batch_mma' : 'matmul_mma');
  it.each([MATVEC_MAX_T + 1, 16, 37, 130, MMA_LONG_FROM + 3])('T = %i: plain, bias, accumulate, swiglu (+ accumulate)', async (T) => {
    for (const K of [200, 208]) {
      for (const c of [{}, { bias: true }, { accumulate: true }, { swiglu: true }, { swiglu: true, accumulate: true }]) {
        expect(await checkOn(native, { T, K, N: 77, ...c })).toBe(kernel({ T, K }));
      }
    }
    expect(await checkOn(native, { T, K: 1040, N: 300 })).toBe(kernel({ T, K: 1040 }));
    if (kernel({ T, K: 208 }) === 'matmul_batch_mma') {
      expect(await checkOn(native, { T, K: 208, N: 77, norm: true })).toBe('matmul_batch_mma');
      expect(await checkOn(native, { T, K: 1040, N: 300, swiglu: true, norm: true })).toBe('matmul_batch_mma');
    }
  });
  // Products of f16 weights go to tensor cores from BATCH_MMA_FROM tokens, below the matvec's
  // MATVEC_MAX_T; one token fewer stays on the matvec.
  it('T = BATCH_MMA_FROM - 1 and BATCH_MMA_FROM: the matvec, then the batch product', async () => {
    const tc = native.gpu.tensorCores;
    for (const c of [{ K: 1040, N: 300, swiglu: true, norm: true }, { K: 208, N: 77, bias: true, accumulate: true }]) {
      expect(await checkOn(native, { T: BATCH_MMA_FROM - 1, ...c })).toMatch(/^matvec/);
      expect(await checkOn(native, { T: BATCH_MMA_FROM, ...c })).toMatch(tc ? /^matmul_batch_mma/ : /^matvec/);
    }
  });
  it.each([12, 70])('T = %i: weights larger than a binding are split by rows', async (T) => {
    const small = new Kernels({ ...native.gpu, maxBinding: 8192 });
    expect(await checkOn(native, { T, K: 200, N: 77, swiglu: true, accumulate: true }, small, 5)).toBe(kernel({ T, K: 200 }));
    expect(await checkOn(native, { T, K: 200, N: 77, bias: true }, small, 5)).toBe(kernel({ T, K: 200 }));
    const parts = new Kernels({ ...native.gpu, maxBinding: 32768 });
    expect(await checkOn(native, { T, K: 208, N: 400, swiglu: true, accumulate: true }, parts, 5)).toBe(kernel({ T, K: 208 }));
    // Ranges of 72 rows and a last of 10, which a batch product binds from 24 rows earlier.
    expect(await checkOn(native, { T, K: 208, N: 370, accumulate: true, ...(kernel({ T, K: 208 }) === 'matmul_batch_mma' ? { norm: true } : {}) }, parts, 6)).toBe(kernel({ T, K: 208 }));
  });
  // The batch product asked for directly (as the benchmarks compare it with the matvec), at 2 and 9
  // tokens; a device without tensor cores refuses it.
  it('batchMatmul at 2 and 9 tokens', async () => {
    if (!native.gpu.tensorCores) {
      await expect(checkOn(native, { T: 9, K: 1040, N: 300, batch: true })).rejects.toThrow(/is no batch product on this GPU/);
      return;
    }
    for (const T of [2, 9]) {
      for (const c of [{}, { bias: true, accumulate: true }, { swiglu: true, norm: true }]) {
        expect(await checkOn(native, { T, K: 1040, N: 300, ...c, batch: true })).toBe('matmul_batch_mma');
      }
    }
  });
  it.each([9, 16])('T = %i: decode-sized K, Q8 weights expanded to f16 first', async (T) => {
    expect(await checkOn(native, { T, K: 4096, N: 96, swiglu: true, accumulate: true })).toBe(kernel({ T, K: 4096 }));
    expect(await checkOn(native, { T, K: 512, N: 200, quant: { format: 'q8' } })).toBe(kernel({ T, K: 512 }));
  });
});

// A decode batch's x on its way to the tensor cores (halves.wgsl): f16 of x, or of RMSNorm(x) · w,
// in 16 rows padded with zeros to a multiple of 256 values (K = 2600: three workgroups a row, the
// last one partly past the padding). Within an f16 step of the exact value
// (the GPU rounds an f32 value, which may sit across a rounding boundary from the double).
describe.each(await f16Modes())('halves (packedF16=%s)', (packed) => {
  it.each([{ T: 3, K: 40 }, { T: 16, K: 520 }, { T: 5, K: 2600 }])('T = $T, K = $K, with and without the RMSNorm', async ({ T, K }) => {
    const ctx = await gpuContext(packed);
    const { gpu, kernels } = ctx;
    const x = rand(T * K, 11, 3);
    const normW = roundF16(rand(K, 12).map((v) => 1 + 0.5 * v));
    const KP = batchRow(K);
    for (const norm of [false, true]) {
      const out = storage(gpu, batchHalvesBytes(K));
      runDispatches(ctx, halves(kernels, { x: uploadF32(gpu, x), out, T, K, norm: norm ? { weight: uploadF16(gpu, normW), eps: EPS } : undefined }));
      const got = await readF16(gpu, out, 16 * KP);
      const v = norm ? ref.rmsnorm(x, normW, K, EPS) : x;
      const want = Float32Array.from({ length: 16 * KP }, (_, i) => (Math.floor(i / KP) < T && i % KP < K ? v[Math.floor(i / KP) * K + (i % KP)] : 0));
      const bad = Array.from(got.keys()).filter((i) => !(Math.abs(got[i] - want[i]) <= Math.abs(want[i]) * 2 ** -10 * 1.01 + 2 ** -24));
      expect(bad.slice(0, 5).map((i) => [i, got[i], want[i]])).toEqual([]);
    }
  });
});
