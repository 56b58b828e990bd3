/**
 * GPU memory accounting: gpu.memory counts every buffer csattn makes. An independent count, kept by
 * wrapping the device's createBuffer and each buffer's destroy, must agree with it at every point,
 * the high-water mark included, and a repeated job must leave `current` where it found it.
 */
import { describe, expect, it } from 'vitest';
import { collecting, createGpu, release, type Gpu } from '../src/gpu/device.js';
import { kernelParams } from '../src/gpu/kernels.js';
import { loadModel } from '../src/model/load.js';
import { Generator } from '../src/generate.js';
import { rmsnorm } from '../src/ops/dense.js';
import { roundF16 } from '../src/weights/f16.js';
import * as ref from './ref/dense.js';
import { gpuContext, rand, readF32, runDispatches, uploadF16, uploadF32 } from './helpers/gpu.js';

const MODEL = 'fixtures/models/tinylm';

/** Bytes in the device's buffers not yet destroyed, and their high-water mark, as the device sees them. */
function watchBuffers(gpu: Gpu): { now: number; high: number } {
  const count = { now: 0, high: 0 };
  const device = gpu.device;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = create(descriptor);
    const destroy = buffer.destroy.bind(buffer);
    let live = true;
    buffer.destroy = () => {
      if (live) count.now -= buffer.size;
      live = false;
      destroy();
    };
    count.now += buffer.size;
    count.high = Math.max(count.high, count.now);
    return buffer;
  };
  return count;
}

describe('GPU memory accounting', () => {
  it('the peak is the high-water mark of live buffers; a repeated job returns current to its start', async () => {
    const gpu = await createGpu();
    const seen = watchBuffers(gpu);
    const model = await loadModel(gpu, MODEL, { capacity: 256, chunkSize: 16 });
    const generator = new Generator(model);
    const job = async () => {
      // Three prefill chunks (hidden states allocated and released), kept queries, kept logits.
      await model.prefill(Array.from({ length: 40 }, (_, i) => (i * 37) % 8000), 0, { logits: 'all', keepQueries: true });
      await generator.generate([5, 6, 7], 40, { maxTokens: 4, temperature: 0, topP: 1, seed: 0, stopIds: [], keepLogits: true });
    };
    await job();
    expect(gpu.memory.current).toBe(seen.now);
    expect(gpu.memory.peak).toBe(seen.high);
    const start = gpu.memory.current;
    await job();
    expect(gpu.memory.current).toBe(start);
    expect(gpu.memory.peak).toBe(seen.high);
    // More than weights and KV cache: scratch, logits, uniforms and staging count too.
    const kv = model.cache.k.reduce((n, b) => n + 2 * b.size, 0);
    expect(gpu.memory.peak).toBeGreaterThan(kv + model.weightBytesPerToken());
    model.destroy();
    expect(gpu.memory.current).toBe(0);
  });
});

describe('prefill scratch', () => {
  it("a length borrows its power of two's buffers (at most the chunk's): prefills of 12 lengths keep 5 sets", async () => {
    const gpu = await createGpu();
    const model = await loadModel(gpu, MODEL, { capacity: 64, chunkSize: 12 });
    const lengths = Array.from({ length: 12 }, (_, i) => i + 1);
    for (const T of lengths) await model.prefill(Array.from({ length: T }, (_, i) => (i * 37 + T) % 8000), 0, { logits: 'none' });
    const sets = new Map(lengths.map((T) => [model.scratchFor(T).x, T]));
    expect([...sets.values()]).toEqual([1, 2, 4, 8, 12]); // the last length of each set: 3-4, 5-8, 9-12
    expect(model.scratchFor(9).x.size).toBe(12 * model.cfg.hidden * 4);
    expect(model.scratchFor(9).T).toBe(9);
    model.destroy();
  });
});

describe('kernel parameters in shared chunks (kernelParams)', () => {
  it("each dispatch reads its own; a scope's chunks go with its buffers, and a later scope gets fresh ones", async () => {
    const ctx = await gpuContext(true);
    const { gpu, kernels } = ctx;
    const seen = watchBuffers(gpu);
    const rows = 2, n = 96;
    const weight = uploadF16(gpu, roundF16(rand(n, 2)));
    const made: GPUBuffer[] = []; // one scope list for both jobs, emptied between them
    const job = async (seed: number) => {
      // 40 rmsnorms, each with its own width m (rows of m <= 86 from the same x): more than a first chunk holds.
      const x = rand(rows * n, seed, 3);
      const sizes = Array.from({ length: 40 }, (_, i) => 8 + 2 * i);
      const outs = sizes.map(() => uploadF32(gpu, new Float32Array(rows * n)));
      const ds = collecting(gpu, made, () => sizes.map((m, i) => rmsnorm(kernels, { x: uploadF32(gpu, x), weight, out: outs[i], rows, n: m, eps: 1e-5 })));
      const chunks = made.filter((b) => b.usage & GPUBufferUsage.UNIFORM);
      expect(chunks.length).toBe(2); // 16 in the first (4 KiB at 256-byte offsets), the rest in the second
      runDispatches(ctx, ds);
      for (const [i, m] of sizes.entries()) {
        const got = await readF32(gpu, outs[i], rows * m);
        const want = ref.rmsnorm(x.subarray(0, rows * m), roundF16(rand(n, 2)).subarray(0, m), m, 1e-5);
        // Row r of a dispatch starts at r * m of x (its own n): the reference over the same prefix.
        got.forEach((v, j) => expect(Math.abs(v - want[j])).toBeLessThanOrEqual(1e-5 * Math.abs(want[j]) + 1e-6));
      }
      for (const b of [...made.splice(0), ...outs]) release(gpu, b);
    };
    await job(3);
    const start = gpu.memory.current;
    await job(4); // the same scope list's chunks were released: new ones, not writes into destroyed ones
    expect(gpu.memory.current).toBe(start);
    expect(gpu.memory.current).toBe(seen.now);
    // Outside any scope: the device's chunk, one binding after the other at the offset alignment.
    const [a, b] = [kernelParams(gpu, [7, { f32: 0.5 }]), kernelParams(gpu, [1, 2, 3, 4, 5])];
    expect(b).toEqual({ buffer: a.buffer, offset: a.offset + gpu.device.limits.minUniformBufferOffsetAlignment, size: 32 });
  });
});
