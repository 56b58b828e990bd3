/**
 * The KV cache's bookkeeping: writes report their rows, a write at a position makes later rows
 * stale, gaps are refused, truncate keeps a prefix; rows go up and come back in [heads, n, d].
 */
import { describe, expect, it } from 'vitest';
import { KvCache } from '../src/model/kvcache.js';
import { gpuContext } from './helpers/gpu.js';

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
});
