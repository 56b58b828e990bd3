/**
 * CPU reference of the quantized weights (src/ops/quant.ts), blocks of 32 values along a row, each
 * with an f16 scale d (rounding ties to even, as WGSL's round):
 *   q8 (wgsl/include/q8.wgsl): d = f16(max |w| / 127), q = round(w / d) in [-127, 127];
 *   q4 (wgsl/include/q4.wgsl): from the least value m and the largest M, d = f16((M - m) / 15),
 *      offset m' = f16(m), q = clamp(round((w - m') / d), 0, 15).
 */
import { f32ToF16, roundF16 } from '../../src/weights/f16.js';
import type { QuantFormat } from '../../src/ops/quant.js';

/** A quantized matrix: each value's q and each block's scale and offset (the f16 values; q8: 0). */
export interface Quantized { format: QuantFormat; block: number; q: Int8Array; scales: Float32Array; offsets: Float32Array }

/** `block`: values per block (a q8 KV cache's blocks are its rows). */
export function quantize(format: QuantFormat, w: Float32Array, block = 32): Quantized {
  const blocks = w.length / block;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(blocks);
  const offsets = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const values = w.subarray(block * b, block * b + block);
    const [lo, hi] = [Math.min(...values), Math.max(...values)];
    const f16 = (x: number) => roundF16([Math.fround(x)])[0];
    const d = f16(format === 'q8' ? Math.max(-lo, hi) / 127 : (hi - lo) / 15);
    const m = format === 'q8' ? 0 : f16(lo);
    const [qmin, qmax] = format === 'q8' ? [-127, 127] : [0, 15];
    scales[b] = d;
    offsets[b] = m;
    for (let i = 0; i < block; i++) q[block * b + i] = d > 0 ? Math.max(qmin, Math.min(qmax, roundEven((values[i] - m) / d))) : 0;
  }
  return { format, block, q, scales, offsets };
}

/** The values a quantized matrix holds: q·d (+ m). */
export function dequantize(m: Quantized): Float32Array {
  return Float32Array.from(m.q, (v, i) => v * m.scales[Math.floor(i / m.block)] + m.offsets[Math.floor(i / m.block)]);
}

/** The bytes of its two GPU buffers: the values' codes, and the f16 scales (q4: scale, offset pairs). */
export function quantBytes(m: Quantized): { data: Uint8Array; scales: Uint16Array } {
  if (m.format === 'q8') return { data: new Uint8Array(m.q.buffer, m.q.byteOffset, m.q.byteLength), scales: f32ToF16(m.scales) };
  return { data: packQ4(m.q), scales: f32ToF16(Array.from(m.scales).flatMap((d, b) => [d, m.offsets[b]])) };
}

/** 4-bit codes, eight to a u32: byte b of word i holds value 8i + b low, 8i + 4 + b high. */
export function packQ4(q: Int8Array): Uint8Array {
  const out = new Uint8Array(q.length / 2);
  for (let i = 0; i < q.length / 8; i++) {
    for (let b = 0; b < 4; b++) out[4 * i + b] = q[8 * i + b] | (q[8 * i + 4 + b] << 4);
  }
  return out;
}

/** The codes of packed 4-bit codes. */
export function unpackQ4(data: Uint8Array): Int8Array {
  const q = new Int8Array(data.length * 2);
  for (let i = 0; i < q.length / 8; i++) {
    for (let b = 0; b < 4; b++) {
      q[8 * i + b] = data[4 * i + b] & 15;
      q[8 * i + 4 + b] = data[4 * i + b] >> 4;
    }
  }
  return q;
}

function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
