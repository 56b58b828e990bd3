import { describe, expect, it } from 'vitest';
import { Kernels, readBuffer, storage, upload } from '../src/gpu/kernels.js';
import { dequantize, quantize, rowBytes, type Matrix, type QuantFormat } from '../src/ops/quant.js';
import { f16ToF32, roundF16 } from '../src/weights/f16.js';
import * as ref from './ref/quant.js';
import { f16Modes, gpuContext, rand, readF16, runDispatches, uploadF16, type Ctx } from './helpers/gpu.js';

/** Rows of random f16 weights with a zero block, a wide block and f16's largest value. */
function weights(rows: number, cols: number): Float32Array {
  const w = rand(rows * cols, 11).map((v, i) => (i % 7 === 0 ? v * 40 : v) * 0.05);
  w.fill(0, cols, cols + 32); // row 1's first block
  w[3 * cols + 40] = 65504;
  return roundF16(w);
}

/** A GPU matrix's values q and scales (and offsets), read back. */
async function readQuantized(ctx: Ctx, m: Matrix, rows: number, cols: number): Promise<ref.Quantized> {
  if (m.format === 'f16') throw new Error('not quantized');
  const b = rowBytes(m.format, cols);
  const data = new Uint8Array(await readBuffer(ctx.gpu, m.data, b.data * rows));
  const q = m.format === 'q8' ? new Int8Array(data.buffer) : ref.unpackQ4(data);
  const halves = f16ToF32(new Uint16Array(await readBuffer(ctx.gpu, m.scales, b.scales * rows)));
  if (m.format === 'q8') return { format: m.format, block: 32, q, scales: halves, offsets: new Float32Array(halves.length) };
  return { format: m.format, block: 32, q, scales: halves.filter((_, i) => i % 2 === 0), offsets: halves.filter((_, i) => i % 2 === 1) };
}

/**
 * The GPU's q equals the reference's but where w / d lies within 1e-4 of a half step (the GPU
 * multiplies by an f32 1 / d, which may land a half-step value on either side): there it is 1 off.
 */
function expectSameValues(got: ref.Quantized, want: ref.Quantized, w: Float32Array): void {
  expect(Array.from(got.scales)).toEqual(Array.from(want.scales));
  expect(Array.from(got.offsets)).toEqual(Array.from(want.offsets));
  const bad = Array.from(got.q.keys()).filter((i) => {
    const b = Math.floor(i / 32);
    const r = (w[i] - want.offsets[b]) / want.scales[b];
    return got.q[i] !== want.q[i] && !(Math.abs(got.q[i] - want.q[i]) === 1 && Math.abs(Math.abs(r % 1) - 0.5) < 1e-4);
  });
  expect(bad.map((i) => [i, got.q[i], want.q[i], w[i]])).toEqual([]);
}

describe.each(await f16Modes())('quantized weights (packedF16=%s)', (packed) => {
  // Within half a step of the value (q4's values past the f16-rounded offset clamp to it: a 2^-11 slip).
  it.each(['q8', 'q4'] as const)('%s: scales and values as the CPU reference, every value within half a step', async (format) => {
    const ctx = await gpuContext(packed);
    const [rows, cols] = [37, 192];
    const w = weights(rows, cols);
    const m = await quantize(ctx.kernels, format, uploadF16(ctx.gpu, w), rows, cols, 'test');
    const got = await readQuantized(ctx, m, rows, cols);
    expectSameValues(got, ref.quantize(format, w), w);
    const values = ref.dequantize(got);
    const bound = (i: number) => got.scales[Math.floor(i / 32)] * 0.5 * (1 + 1e-3) + Math.abs(got.offsets[Math.floor(i / 32)]) * 2 ** -11;
    const worst = Array.from(values.keys()).filter((i) => !(Math.abs(values[i] - w[i]) <= bound(i)));
    expect(worst).toEqual([]);
    expect(Array.from(got.q.subarray(cols, cols + 32))).toEqual(new Array(32).fill(0)); // the zero block
  });

  it.each(['q8', 'q4'] as const)('%s: refuses rows that are not whole blocks', async (format: QuantFormat) => {
    const ctx = await gpuContext(packed);
    await expect(quantize(ctx.kernels, format, uploadF16(ctx.gpu, new Float32Array(80)), 1, 80, 'layer 0 o_proj'))
      .rejects.toThrow(new RegExp(`layer 0 o_proj: rows of 80 values cannot be quantized to ${format}.*--weights f16`));
  });

  it.each(['q8', 'q4'] as const)('%s: a matrix larger than a binding in row ranges', async (format) => {
    const ctx = await gpuContext(packed);
    // Rows of 96 values: 192 B of f16, 6 B of q8 scales (a row's scales start mid-word); binding
    // offsets aligned to 256 B fall every 128 rows (q4: 64), so a 32 KiB binding takes parts of 128 rows.
    const [rows, cols] = [300, 96];
    const w = weights(rows, cols);
    const small = new Kernels({ ...ctx.gpu, maxBinding: 32768 });
    const m = await quantize(small, format, uploadF16(ctx.gpu, w), rows, cols, 'test');
    expectSameValues(await readQuantized(ctx, m, rows, cols), ref.quantize(format, w), w);
    expect(rowBytes(format, cols)).toEqual(format === 'q8' ? { data: 96, scales: 6 } : { data: 48, scales: 12 });
  });

  it.each(['q8', 'q4'] as const)('%s: dequantize gives q·d rounded to f16', async (format) => {
    const ctx = await gpuContext(packed);
    const n = 32 * 21;
    const m = ref.quantize(format, weights(1, n));
    const bytes = ref.quantBytes(m);
    const out = storage(ctx.gpu, n * 2);
    runDispatches(ctx, dequantize(ctx.kernels, { format, data: upload(ctx.gpu, bytes.data), scales: upload(ctx.gpu, bytes.scales), out, values: n }));
    const got = await readF16(ctx.gpu, out, n);
    const want = roundF16(ref.dequantize(m));
    // Conversion to f16 rounds to nearest; packed mode's pack2x16float may round either way.
    const bad = Array.from(got.keys()).filter((i) => !(Math.abs(got[i] - want[i]) <= (packed ? Math.abs(want[i]) * 2 ** -10 : 0)));
    expect(bad.map((i) => [i, got[i], want[i]])).toEqual([]);
  });
});
