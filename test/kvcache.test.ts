/**
 * The KV cache's bookkeeping: writes report their rows, a write at a position makes later rows
 * stale, gaps are refused, truncate keeps a prefix; rows go up and come back in [heads, n, d].
 */
import { describe, expect, it } from 'vitest';
import { KvCache } from '../src/model/kvcache.js';
import { gpuContext } from './helpers/gpu.js';
import { f32ToF16 } from '../src/weights/f16.js';

const SHAPE = { layers: 2, kvHeads: 2, headDim: 4 };

describe('KvCache', () => {
  it('keeps how far the written rows go, refuses gaps and overflow', async () => {
    const { gpu } = await gpuContext(true);
    const cache = await KvCache.allocate(gpu, SHAPE, 8);
    expect(cache.length).toBe(0);
    cache.wrote(0, 5);
    expect(cache.length).toBe(5);
    cache.wrote(5, 1);
    expect(cache.length).toBe(6);
    cache.wrote(3, 2); // a question at 3 replaces what came after
    expect(cache.length).toBe(5);
    expect(() => cache.wrote(6, 1)).toThrow(/gap/);
    expect(() => cache.wrote(5, 4)).toThrow(/do not fit/);
    cache.truncate(2);
    expect(cache.length).toBe(2);
    expect(() => cache.truncate(3)).toThrow(/truncate/);
  });

  it('reads back the rows it wrote, per head', async () => {
    const { gpu } = await gpuContext(true);
    const cache = await KvCache.allocate(gpu, SHAPE, 8);
    const n = 3;
    const rows = Uint8Array.from({ length: SHAPE.kvHeads * n * SHAPE.headDim * 2 }, (_, i) => i % 251);
    await cache.writeRows(1, 'v', rows, n);
    expect(await cache.readRows(1, 'v', n)).toEqual(rows);
  });

  it('q8: int8 rows and f16 scales go up and come back; a head dim not divisible by 8 is refused', async () => {
    const { gpu } = await gpuContext(true);
    const shape = { layers: 2, kvHeads: 2, headDim: 16 };
    const cache = await KvCache.allocate(gpu, shape, 8, 'q8');
    expect(cache.bytesPerPosition).toBe(2 * 2 * (16 + 4));
    const n = 3;
    const rows = Uint8Array.from({ length: 2 * n * 16 }, (_, i) => (i * 37) % 256);
    const scales = new Uint8Array(f32ToF16([0.5, 1 / 127, 3e-5, 2, 65504, 0]).buffer);
    await cache.writeRows(0, 'k', rows, n);
    await cache.writeScales(0, 'k', scales, n);
    expect(await cache.readRows(0, 'k', n)).toEqual(rows);
    expect(await cache.readScales(0, 'k', n)).toEqual(scales);
    await expect(KvCache.allocate(gpu, { ...shape, headDim: 12 }, 8, 'q8')).rejects.toThrow(/--kv q8 needs a head dim divisible by 8; this model's is 12/);
  });
});
