/**
 * CPU reference of the quantized weights (src/ops/quant.ts), blocks of 32 values along a row, each
 * with an f16 scale d (rounding ties to even, as WGSL's round):
 *   q8 (wgsl/include/q8.wgsl): d = f16(max |w| / 127), q = round(w / d) in [-127, 127];
 *   q4 (wgsl/include/q4.wgsl): m = the value of largest magnitude, d = f16(m / -8),
 *      q = clamp(round(w / d), -8, 7) (stored as the code q + 8).
 */
import { f32ToF16, roundF16 } from '../../src/weights/f16.js';
import type { QuantFormat } from '../../src/ops/quant.js';

/** A quantized matrix: each value's q (signed) and each block's scale (the f16 value). */
export interface Quantized { format: QuantFormat; q: Int8Array; scales: Float32Array }

export function quantize(format: QuantFormat, w: Float32Array): Quantized {
  const blocks = w.length / 32;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(blocks);
  const [lo, hi] = format === 'q8' ? [-127, 127] : [-8, 7];
  for (let b = 0; b < blocks; b++) {
    let m = 0;
    for (let i = 0; i < 32; i++) if (Math.abs(w[32 * b + i]) > Math.abs(m)) m = w[32 * b + i];
    const d = roundF16([Math.fround(format === 'q8' ? Math.abs(m) / 127 : m / -8)])[0];
    scales[b] = d;
    for (let i = 0; i < 32; i++) q[32 * b + i] = d !== 0 ? Math.max(lo, Math.min(hi, roundEven(w[32 * b + i] / d))) : 0;
  }
  return { format, q, scales };
}

/** The values a quantized matrix holds: q·d. */
export function dequantize(m: Quantized): Float32Array {
  return Float32Array.from(m.q, (v, i) => v * m.scales[Math.floor(i / 32)]);
}

/** The bytes of its two GPU buffers: the values' codes, and f16 scales. */
export function quantBytes(m: Quantized): { data: Uint8Array; scales: Uint16Array } {
  return { data: m.format === 'q8' ? new Uint8Array(m.q.buffer, m.q.byteOffset, m.q.byteLength) : packQ4(m.q), scales: f32ToF16(m.scales) };
}

/** 4-bit codes q + 8, eight to a u32: byte b of word i holds value 8i + b low, 8i + 4 + b high. */
export function packQ4(q: Int8Array): Uint8Array {
  const out = new Uint8Array(q.length / 2);
  for (let i = 0; i < q.length / 8; i++) {
    for (let b = 0; b < 4; b++) out[4 * i + b] = (q[8 * i + b] + 8) | ((q[8 * i + 4 + b] + 8) << 4);
  }
  return out;
}

/** The signed values of packed 4-bit codes. */
export function unpackQ4(data: Uint8Array): Int8Array {
  const q = new Int8Array(data.length * 2);
  for (let i = 0; i < q.length / 8; i++) {
    for (let b = 0; b < 4; b++) {
      q[8 * i + b] = (data[4 * i + b] & 15) - 8;
      q[8 * i + 4 + b] = (data[4 * i + b] >> 4) - 8;
    }
  }
  return q;
}

function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
