/**
 * The KV cache the model owns: per layer, K and V each [kvHeads, capacity, headDim] (K after RoPE),
 * and how many positions hold keys and values.
 *
 * Two formats (`--kv`): f16, or q8: int8 rows with one scale per (head, position) (the value is
 * q · scale, scale = f16(max |row| / 127)), which halves what full attention reads and what a
 * bundle holds. A q8 cache keeps its scales in f32 words [kvHeads, capacity] (each row written by
 * its own workgroup, so no two share a word) and one layer's K and V as f16 beside it, where kernels
 * that read f16 rows (the tensor-core prefill attention, table builds) get a layer expanded.
 *
 * Nothing else keeps a position. Prefill and decode take the position they write and report the
 * rows written here (`wrote`); the cache only checks that writes leave no gap and remembers where
 * the written rows end. A write at `pos` makes rows past pos stale, as in gpt-fast: a question
 * prefilled at the context's end replaces the previous answer.
 *
 * A batch of sequences after one context (src/ops/attention.ts, BatchRows) keeps the context at
 * rows [0, ctx) and sequence b's positions p >= ctx at rows p + (b + 1)·room: a question is
 * prefilled at its positions (rows [ctx, ctx + room), as a single sequence's), then moved to its
 * sequence's rows (copyRows). `length` stays the context's; the batch (src/batch.ts) keeps each
 * sequence's own length.
 */
import { check } from '../errors.js';
import { allocate, fmtBytes, release, type Gpu } from '../gpu/device.js';
import { readRanges, storage, type Op } from '../gpu/kernels.js';
import { uploader } from '../gpu/uploader.js';
import { CACHE_PAD, type KvScales } from '../ops/attention.js';
import { f16ToF32, f32ToF16 } from '../weights/f16.js';
import type { ModelConfig } from './config.js';

export const KV_FORMATS = ['f16', 'q8'] as const;
export type KvFormat = (typeof KV_FORMATS)[number];
export type KvTensor = 'k' | 'v';
/** The model's shapes the cache depends on. */
export type KvShape = Pick<ModelConfig, 'layers' | 'kvHeads' | 'headDim'>;

/** One layer's cache as the kernels bind it. */
export interface KvLayer { kCache: GPUBuffer; vCache: GPUBuffer; scales?: KvScales }

export class KvCache {
  readonly k: GPUBuffer[] = [];
  readonly v: GPUBuffer[] = [];
  /** q8: each layer's scales, f32 [kvHeads, capacity] for K and for V. */
  readonly scales: KvScales[] = [];
  /** Positions [0, filled) hold keys and values. */
  private filled = 0;
  private staging: GPUBuffer | null = null;

  private constructor(
    private readonly gpu: Gpu,
    private readonly cfg: KvShape,
    readonly capacity: number,
    readonly format: KvFormat,
    /** q8: one layer's K and V as f16 [kvHeads, capacity, headDim] (+ CACHE_PAD rows), for kernels that read f16. */
    readonly expanded: { k: GPUBuffer; v: GPUBuffer } | null,
  ) {}

  /** K and V buffers of `capacity` positions for every layer (an f16 cache padded for the tensor-core attention's tiles). */
  static async allocate(gpu: Gpu, cfg: KvShape, capacity: number, format: KvFormat = 'f16'): Promise<KvCache> {
    check(format === 'f16' || cfg.headDim % 8 === 0, `--kv q8 needs a head dim divisible by 8; this model's is ${cfg.headDim}`);
    const f16Bytes = (cfg.kvHeads * capacity + CACHE_PAD) * cfg.headDim * 2;
    const bytes = format === 'f16' ? f16Bytes : cfg.kvHeads * capacity * cfg.headDim;
    check(f16Bytes <= gpu.maxBinding, () => `a KV cache of ${capacity} tokens needs ${fmtBytes(f16Bytes)} per layer and tensor; this GPU binds at most ${fmtBytes(gpu.maxBinding)}: lower the context length`, 'oom');
    const f16Layer = async (what: string) => allocate(gpu, f16Bytes, `${what} of one layer as f16`);
    const cache = new KvCache(gpu, cfg, capacity, format, format === 'q8' ? { k: await f16Layer('K'), v: await f16Layer('V') } : null);
    for (let l = 0; l < cfg.layers; l++) {
      cache.k.push(await allocate(gpu, bytes, `K cache of layer ${l} (${capacity} tokens)`));
      cache.v.push(await allocate(gpu, bytes, `V cache of layer ${l} (${capacity} tokens)`));
      if (format === 'q8') {
        const scale = (what: string) => allocate(gpu, cfg.kvHeads * capacity * 4, `${what} scales of layer ${l}`);
        cache.scales.push({ k: await scale('K'), v: await scale('V') });
      }
    }
    return cache;
  }

  /** Layer l's buffers as the attention and RoPE kernels take them. */
  layer(l: number): KvLayer {
    return { kCache: this.k[l], vCache: this.v[l], scales: this.scales[l] };
  }

  /** Bytes one position takes in one layer, K and V together (what attention reads per key). */
  get bytesPerPosition(): number {
    const { kvHeads, headDim: d } = this.cfg;
    return 2 * kvHeads * (this.format === 'f16' ? 2 * d : d + 4);
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

  /**
   * Copies of rows [from, from + n) to rows [to, to + n) of every layer and head (K, V and a q8
   * cache's scales), through a staging buffer (a copy may not stay inside one buffer); run them in order.
   */
  copyRows(from: number, to: number, n: number): Op[] {
    check(n >= 1 && from + n <= this.capacity && to + n <= this.capacity && (to >= from + n || from >= to + n), `cannot copy rows [${from}, ${from + n}) to [${to}, ${to + n})`);
    const staging = this.stagingFor(n);
    const copies: Op[] = [];
    const move = (buffer: GPUBuffer, rowBytes: number) => {
      const size = n * rowBytes;
      const at = (h: number, row: number) => (h * this.capacity + row) * rowBytes;
      for (let h = 0; h < this.cfg.kvHeads; h++) copies.push({ copy: { src: buffer, srcOffset: at(h, from), dst: staging, dstOffset: h * size, size } });
      for (let h = 0; h < this.cfg.kvHeads; h++) copies.push({ copy: { src: staging, srcOffset: h * size, dst: buffer, dstOffset: at(h, to), size } });
    };
    for (let l = 0; l < this.cfg.layers; l++) {
      for (const t of ['k', 'v'] as const) {
        move(this[t][l], this.rowBytes);
        if (this.format === 'q8') move(this.scales[l][t], 4);
      }
    }
    return copies;
  }

  /** A buffer for n rows of every head of one layer's K or V (made, or grown, on use). */
  private stagingFor(n: number): GPUBuffer {
    const size = this.cfg.kvHeads * n * Math.max(this.rowBytes, 4);
    if (!this.staging || this.staging.size < size) {
      if (this.staging) release(this.gpu, this.staging);
      this.staging = storage(this.gpu, size, 'KV rows being moved');
    }
    return this.staging;
  }

  /** Rows [0, n) of layer l's K or V as [kvHeads, n, headDim] bytes (f16, or int8 for q8). */
  async readRows(l: number, which: KvTensor, n: number): Promise<Uint8Array> {
    return this.readHeads(this[which][l], this.rowBytes, n);
  }

  /** Writes [kvHeads, n, headDim] bytes (f16, or int8 for q8) to rows [0, n) of layer l's K or V (report them with `wrote`). */
  async writeRows(l: number, which: KvTensor, bytes: Uint8Array, n: number): Promise<void> {
    await this.writeHeads(this[which][l], this.rowBytes, bytes, n);
  }

  /** q8: the scales of rows [0, n) of layer l's K or V as f16 [kvHeads, n] (what a bundle stores: they are f16 values). */
  async readScales(l: number, which: KvTensor, n: number): Promise<Uint8Array> {
    const f32 = new Float32Array((await this.readHeads(this.scaleOf(l, which), 4, n)).buffer);
    return new Uint8Array(f32ToF16(f32).buffer);
  }

  /** q8: writes f16 [kvHeads, n] scales to rows [0, n) of layer l's K or V. */
  async writeScales(l: number, which: KvTensor, f16: Uint8Array, n: number): Promise<void> {
    const halves = new Uint16Array(f16.slice().buffer);
    await this.writeHeads(this.scaleOf(l, which), 4, new Uint8Array(f16ToF32(halves).buffer), n);
  }

  private scaleOf(l: number, which: KvTensor): GPUBuffer {
    check(this.format === 'q8', 'an f16 KV cache has no scales');
    return this.scales[l][which];
  }

  private async readHeads(buffer: GPUBuffer, rowBytes: number, n: number): Promise<Uint8Array> {
    const heads = Array.from({ length: this.cfg.kvHeads }, (_, h) => ({ offset: h * this.capacity * rowBytes, size: n * rowBytes }));
    return new Uint8Array(await readRanges(this.gpu, buffer, heads));
  }

  private async writeHeads(buffer: GPUBuffer, rowBytes: number, bytes: Uint8Array, n: number): Promise<void> {
    const size = n * rowBytes;
    for (let h = 0; h < this.cfg.kvHeads; h++) await uploader(this.gpu).write(buffer, h * this.capacity * rowBytes, bytes.subarray(h * size, (h + 1) * size));
  }

  /** Bytes of one head's row at one position. */
  private get rowBytes(): number {
    return this.cfg.headDim * (this.format === 'f16' ? 2 : 1);
  }
}
