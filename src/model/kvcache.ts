/**
 * The KV cache the model owns: per layer, K and V each [kvHeads, capacity, headDim] f16 (K after
 * RoPE), and how many positions hold keys and values.
 *
 * Nothing else keeps a position. Prefill and decode take the position they write and report the
 * rows written here (`wrote`); the cache only checks that writes leave no gap and remembers where
 * the written rows end. A write at `pos` makes rows past pos stale, as in gpt-fast: a question
 * prefilled at the context's end replaces the previous answer.
 *
 * One sequence today. Batched decoding will give each sequence its rows and its length (`wrote`
 * and `truncate` then name the sequence), and a decode step the position of each.
 */
import { check } from '../errors.js';
import { allocate, fmtBytes, type Gpu } from '../gpu/device.js';
import { readRanges } from '../gpu/kernels.js';
import { uploader } from '../gpu/uploader.js';
import { CACHE_PAD } from '../ops/attention.js';
import type { ModelConfig } from './config.js';

export type KvTensor = 'k' | 'v';
/** The model's shapes the cache depends on. */
export type KvShape = Pick<ModelConfig, 'layers' | 'kvHeads' | 'headDim'>;

export class KvCache {
  readonly k: GPUBuffer[] = [];
  readonly v: GPUBuffer[] = [];
  /** Positions [0, filled) hold keys and values. */
  private filled = 0;

  private constructor(private readonly gpu: Gpu, private readonly cfg: KvShape, readonly capacity: number) {}

  /** K and V buffers of `capacity` positions for every layer (padded for the tensor-core attention's tiles). */
  static async allocate(gpu: Gpu, cfg: KvShape, capacity: number): Promise<KvCache> {
    const cache = new KvCache(gpu, cfg, capacity);
    const bytes = (cfg.kvHeads * capacity + CACHE_PAD) * cfg.headDim * 2;
    check(bytes <= gpu.maxBinding, () => `a KV cache of ${capacity} tokens needs ${fmtBytes(bytes)} per layer and tensor; this GPU binds at most ${fmtBytes(gpu.maxBinding)}: lower the context length`, 'oom');
    for (let l = 0; l < cfg.layers; l++) {
      cache.k.push(await allocate(gpu, bytes, `K cache of layer ${l} (${capacity} tokens)`));
      cache.v.push(await allocate(gpu, bytes, `V cache of layer ${l} (${capacity} tokens)`));
    }
    return cache;
  }

  /** Positions [0, length) hold keys and values. */
  get length(): number {
    return this.filled;
  }

  /**
   * Rows [pos, pos + n) of every layer now hold keys and values: the cache holds [0, pos + n).
   * Called by whoever wrote them (the model's prefill and decode, a bundle's upload).
   */
  wrote(pos: number, n: number): void {
    this.checkWrite(pos, n);
    this.filled = pos + n;
  }

  /** Refuses a write of rows [pos, pos + n) that would leave a gap or run past the capacity. */
  checkWrite(pos: number, n: number): void {
    check(pos <= this.filled, `a write at position ${pos} would leave a gap after the cache's ${this.filled} positions`);
    check(pos + n <= this.capacity, `positions [${pos}, ${pos + n}) do not fit the KV cache's ${this.capacity}`, 'too-long');
  }

  /** Keeps positions [0, n): what came after (a discarded answer, steps run past a stop) is forgotten. */
  truncate(n: number): void {
    check(n >= 0 && n <= this.filled, `cannot truncate a cache of ${this.filled} positions to ${n}`);
    this.filled = n;
  }

  /** Rows [0, n) of layer l's K or V as [kvHeads, n, headDim] f16 bytes. */
  async readRows(l: number, which: KvTensor, n: number): Promise<Uint8Array> {
    const heads = Array.from({ length: this.cfg.kvHeads }, (_, h) => ({ offset: this.rowOffset(h, 0), size: n * this.rowBytes }));
    return new Uint8Array(await readRanges(this.gpu, this[which][l], heads));
  }

  /** Writes [kvHeads, n, headDim] f16 bytes to rows [0, n) of layer l's K or V (report them with `wrote`). */
  async writeRows(l: number, which: KvTensor, bytes: Uint8Array, n: number): Promise<void> {
    const size = n * this.rowBytes;
    for (let h = 0; h < this.cfg.kvHeads; h++) await uploader(this.gpu).write(this[which][l], this.rowOffset(h, 0), bytes.subarray(h * size, (h + 1) * size));
  }

  /** Bytes of one head's row at one position. */
  private get rowBytes(): number {
    return this.cfg.headDim * 2;
  }

  /** Where head h's row of position t starts in a layer's K or V. */
  private rowOffset(h: number, t: number): number {
    return (h * this.capacity + t) * this.rowBytes;
  }
}
