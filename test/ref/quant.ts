/**
 * CPU reference of Q8 weights (src/ops/quant.ts, wgsl/include/q8.wgsl): blocks of 32 values along
 * a row, d = f16(max |w| / 127), q = round(w / d) in [-127, 127] (ties to even, as WGSL's round).
 */
import { f32ToF16, roundF16 } from '../../src/weights/f16.js';

export interface Q8 { q: Int8Array; scales: Float32Array } // scales: the f16 values, one per 32

export function quantizeQ8(w: Float32Array): Q8 {
  const blocks = w.length / 32;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(w[32 * b + i]));
    const d = roundF16([Math.fround(amax / 127)])[0];
    scales[b] = d;
    for (let i = 0; i < 32; i++) q[32 * b + i] = d > 0 ? Math.max(-127, Math.min(127, roundEven(w[32 * b + i] / d))) : 0;
  }
  return { q, scales };
}

/** The values a Q8 matrix holds: q·d. */
export function dequantizeQ8(m: Q8): Float32Array {
  return Float32Array.from(m.q, (v, i) => v * m.scales[Math.floor(i / 32)]);
}

/** The bytes of its two GPU buffers: int8 values, and f16 scales. */
export function q8Bytes(m: Q8): { data: Uint8Array; scales: Uint16Array } {
  return { data: new Uint8Array(m.q.buffer, m.q.byteOffset, m.q.byteLength), scales: f32ToF16(m.scales) };
}

function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
