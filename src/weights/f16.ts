/** Half-precision conversions on the CPU (Node 20 has no Float16Array). */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round-to-nearest-even f32 -> f16 bits. */
export function toF16Bits(x: number): number {
  f32[0] = x;
  return f16FromF32Bits(u32[0]);
}

/** toF16Bits on the raw bit pattern of an f32: lets bulk loops skip the scratch round trip. */
export function f16FromF32Bits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> 0
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) { r = 0; e++; if (e >= 0x1f) return sign | 0x7c00; }
  }
  return sign | (e << 10) | r;
}

export function fromF16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function f32ToF16(src: ArrayLike<number>): Uint16Array {
  if (src instanceof Float32Array) return f32BitsToF16(new Uint32Array(src.buffer, src.byteOffset, src.length));
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toF16Bits(src[i]);
  return out;
}

export function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = fromF16Bits(src[i]);
  return out;
}

/** f32 bit patterns -> f16 bits (the fast path for large arrays). */
export function f32BitsToF16(bits: Uint32Array): Uint16Array {
  const out = new Uint16Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16FromF32Bits(bits[i]);
  return out;
}

/** Round-to-nearest-even f32 bits -> bf16 bits (NaN stays NaN). */
export function bf16FromF32Bits(b: number): number {
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = bf16FromF32Bits(bits[i]);
  return out;
}

/** bf16 -> f16 bits, rounding once (bf16 widens to f32 exactly). */
export function bf16ToF16(src: Uint16Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16FromF32Bits(src[i] << 16);
  return out;
}

/** bf16 is the top half of an f32: widening is exact. */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

/** Rounds every value to the nearest f16 (what storing it as f16 does). */
export function roundF16(src: ArrayLike<number>): Float32Array {
  return f16ToF32(f32ToF16(src));
}
