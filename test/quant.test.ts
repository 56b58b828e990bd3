import { describe, expect, it } from 'vitest';
import { Kernels, readBuffer, storage, upload } from '../src/gpu/kernels.js';
import { dequantizeQ8, quantizeQ8, rowBytes } from '../src/ops/quant.js';
import { f16ToF32, roundF16 } from '../src/weights/f16.js';
import * as ref from './ref/quant.js';
import { f16Modes, gpuContext, rand, readF16, runDispatches, uploadF16 } from './helpers/gpu.js';

/** Rows of random f16 weights with a zero block, a wide block and f16's largest value. */
function weights(rows: number, cols: number): Float32Array {
  const w = rand(rows * cols, 11).map((v, i) => (i % 7 === 0 ? v * 40 : v) * 0.05);
  w.fill(0, cols, cols + 32); // row 1's first block
  w[3 * cols + 40] = 65504;
  return roundF16(w);
}

/**
 * The GPU's q equals the reference's but where w / d lies within 1e-4 of a half step (the GPU
 * multiplies by an f32 1 / d, which may land a half-step value on either side): there it is 1 off.
 */
function expectSameValues(q: Int8Array, want: ref.Q8, w: Float32Array): void {
  const bad = Array.from(q.keys()).filter((i) => {
    const r = w[i] / want.scales[Math.floor(i / 32)];
    return q[i] !== want.q[i] && !(Math.abs(q[i] - want.q[i]) === 1 && Math.abs(Math.abs(r % 1) - 0.5) < 1e-4);
  });
  expect(bad.map((i) => [i, q[i], want.q[i], w[i]])).toEqual([]);
}

describe.each(await f16Modes())('q8 weights (packedF16=%s)', (packed) => {
  it('quantize: scales and values as the CPU reference, every value within half a step', async () => {
    const ctx = await gpuContext(packed);
    const [rows, cols] = [37, 192];
    const w = weights(rows, cols);
    const m = await quantizeQ8(ctx.kernels, uploadF16(ctx.gpu, w), rows, cols, 'test');
    expect(m.format).toBe('q8');
    const q = new Int8Array(await readBuffer(ctx.gpu, m.data, rows * cols));
    const scales = f16ToF32(new Uint16Array(await readBuffer(ctx.gpu, m.format === 'q8' ? m.scales : m.data, (rows * cols) / 16)));
    const want = ref.quantizeQ8(w);
    expect(Array.from(scales)).toEqual(Array.from(want.scales));
    expectSameValues(q, want, w);
    const got = ref.dequantizeQ8({ q, scales });
    const worst = Array.from(got.keys()).filter((i) => !(Math.abs(got[i] - w[i]) <= scales[Math.floor(i / 32)] * 0.5 * (1 + 1e-3)));
    expect(worst).toEqual([]);
    expect(Array.from(q.subarray(cols, cols + 32))).toEqual(new Array(32).fill(0)); // the zero block
  });

  it('quantize: refuses rows that are not whole pairs of blocks', async () => {
    const ctx = await gpuContext(packed);
    await expect(quantizeQ8(ctx.kernels, uploadF16(ctx.gpu, new Float32Array(80)), 1, 80, 'layer 0 o_proj')).rejects.toThrow(/layer 0 o_proj: rows of 80 values cannot be quantized to q8.*--weights f16/);
  });

  it('quantize: a matrix larger than a binding in row ranges', async () => {
    const ctx = await gpuContext(packed);
    // Rows of 96 values: 192 B of f16, 6 B of scales (a row's scales start mid-word); binding
    // offsets aligned to 256 B fall every 128 rows, so a 32 KiB binding takes parts of 128 rows.
    const [rows, cols] = [300, 96];
    const w = weights(rows, cols);
    const small = new Kernels({ ...ctx.gpu, maxBinding: 32768 });
    const m = await quantizeQ8(small, uploadF16(ctx.gpu, w), rows, cols, 'test');
    const q = new Int8Array(await readBuffer(ctx.gpu, m.data, rows * cols));
    expectSameValues(q, ref.quantizeQ8(w), w);
    expect(rowBytes('q8', cols)).toEqual({ data: 96, scales: 6 });
    const scales = f16ToF32(new Uint16Array(await readBuffer(ctx.gpu, m.format === 'q8' ? m.scales : m.data, (rows * cols) / 16)));
    expect(Array.from(scales)).toEqual(Array.from(ref.quantizeQ8(w).scales));
  });

  it('dequantize: q·d rounded to f16', async () => {
    const ctx = await gpuContext(packed);
    const n = 32 * 21;
    const m = ref.quantizeQ8(weights(1, n));
    const bytes = ref.q8Bytes(m);
    const out = storage(ctx.gpu, n * 2);
    runDispatches(ctx, dequantizeQ8(ctx.kernels, { data: upload(ctx.gpu, bytes.data), scales: upload(ctx.gpu, bytes.scales), out, values: n }));
    const got = await readF16(ctx.gpu, out, n);
    const want = roundF16(ref.dequantizeQ8(m));
    // Conversion to f16 rounds to nearest; packed mode's pack2x16float may round either way.
    const bad = Array.from(got.keys()).filter((i) => !(Math.abs(got[i] - want[i]) <= (packed ? Math.abs(want[i]) * 2 ** -10 : 0)));
    expect(bad.map((i) => [i, got[i], want[i]])).toEqual([]);
  });
});
