/**
 * GPU memory accounting: gpu.memory counts every buffer csattn makes. An independent count, kept by
 * wrapping the device's createBuffer and each buffer's destroy, must agree with it at every point,
 * the high-water mark included, and a repeated job must leave `current` where it found it.
 */
import { describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../src/gpu/device.js';
import { loadModel } from '../src/model/load.js';
import { Generator } from '../src/generate.js';

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
