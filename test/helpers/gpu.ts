/**
 * GPU test helpers. Every kernel test runs on both f16 paths: native shader-f16 (when the adapter
 * has it) and packed u32. A missing adapter fails the tests: it is never a silent skip.
 */
import { createGpu, type Gpu } from '../../src/gpu/device.js';
import { Kernels, readBuffer, record, submit, upload, type Dispatch } from '../../src/gpu/kernels.js';
import { f16ToF32, f32ToF16 } from '../../src/weights/f16.js';

export interface Ctx { gpu: Gpu; kernels: Kernels; mode: string }

const contexts = new Map<string, Promise<Ctx>>();

export function gpuContext(packedF16: boolean): Promise<Ctx> {
  const mode = packedF16 ? 'packed-f16' : 'native-f16';
  let c = contexts.get(mode);
  if (!c) {
    c = createGpu({ packedF16 }).then((gpu) => ({ gpu, kernels: new Kernels(gpu), mode }));
    contexts.set(mode, c);
  }
  return c;
}

/** Records the dispatches into one compute pass and submits it. */
export function runDispatches(c: Ctx, ds: Dispatch | Dispatch[]): void {
  submit(c.gpu, (pass) => record(pass, Array.isArray(ds) ? ds : [ds]));
}

/** The f16 modes this adapter can run: native only when it has shader-f16. */
export async function f16Modes(): Promise<boolean[]> {
  const native = await gpuContext(false);
  return native.gpu.f16 ? [false, true] : [true];
}

/** A seeded xorshift32 generator of numbers in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** Deterministic pseudo-random numbers in [-scale, scale). */
export function rand(n: number, seed = 1, scale = 1): Float32Array {
  const next = prng(seed);
  return Float32Array.from({ length: n }, () => (next() * 2 - 1) * scale);
}

export const uploadF32 = (gpu: Gpu, x: Float32Array) => upload(gpu, x);
export const uploadF16 = (gpu: Gpu, x: Float32Array) => upload(gpu, f32ToF16(x));
export const uploadU32 = (gpu: Gpu, x: ArrayLike<number>) => upload(gpu, Uint32Array.from(x));

export async function readF32(gpu: Gpu, b: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await readBuffer(gpu, b, n * 4));
}
export async function readF16(gpu: Gpu, b: GPUBuffer, n: number): Promise<Float32Array> {
  return f16ToF32(new Uint16Array(await readBuffer(gpu, b, n * 2)));
}
export async function readU32(gpu: Gpu, b: GPUBuffer, n: number): Promise<Uint32Array> {
  return new Uint32Array(await readBuffer(gpu, b, n * 4));
}

/** Largest |a - b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
