/**
 * The transformer's forward pass on the GPU, top to bottom, over its weights (ModelWeights: read by
 * load.ts, or random from synth.ts) and its KV cache.
 *
 *   x = embed(tokens)
 *   for each layer:
 *     h = rmsnorm(x)                      ; input_layernorm
 *     q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ (+b)  ; Qwen2 has biases
 *     q, k = rope(norm?(q)), rope(norm?(k)); Qwen3 normalises heads first; k, v → cache
 *     x += attention(q, cache) · Woᵀ
 *     h = rmsnorm(x)                      ; post_attention_layernorm
 *     x += (silu(h·Wgᵀ) ⊙ h·Wuᵀ) · Wdᵀ     ; SwiGLU MLP
 *   logits = rmsnorm(x) · Wlmᵀ            ; tied models reuse the embedding
 *
 * Prefill runs layer-major over chunks of the prompt: all chunks through layer 0, then layer 1, …
 * so that one layer's queries can be handed to the CSAttention table builder before the next
 * layer overwrites them, and peak memory stays one layer of queries plus the hidden states.
 * Decode replays one recorded list of dispatches per token; only the `step` uniform (the position)
 * changes, and the sampled token goes straight from the sampler to the next embedding on the GPU.
 *
 * A batch (batchOps, decodeBatch) is B sequences after one context decoding together: their next
 * tokens are the B rows of one step, so the products read each weight once for all of them; RoPE,
 * attention and the sampler take each row's position from the batch (kvcache.ts has its rows).
 *
 * Positions are arguments: prefill(ids, pos) and decode(step, pos) write the K/V rows of the
 * positions they are given and report them to the KV cache (kvcache.ts), which alone keeps how far
 * the written rows go. Only the Model writes the `step` uniform, from the position it is given.
 */
import { check } from '../errors.js';
import { allocate, collecting, destroyGpu, oneShot, release, type Gpu } from '../gpu/device.js';
import { Kernels, encodeOps, positions, storage, upload, readBuffer, type Dispatch, type Op } from '../gpu/kernels.js';
import { type ModelConfig, ropeInvFreq } from './config.js';
import * as ops from '../ops/dense.js';
import { attentionDecode, attentionDecodeBatch, attentionPrefill, expandKv, type BatchRows } from '../ops/attention.js';
import { KvCache, type KvFormat } from './kvcache.js';
import { pushAll } from '../arrays.js';
import { BYTES_PER_WEIGHT, lmHeadFormat, type Matrix, type WeightFormat } from '../ops/quant.js';

/** One layer's weights on the GPU: matrices in the model's weight format, norms and biases f16. */
export interface LayerWeights {
  ln1: GPUBuffer; ln2: GPUBuffer;
  /** q_proj, k_proj and v_proj stacked by rows ([(heads + 2·kvHeads)·d, hidden]): one product. */
  wqkv: Matrix; wo: Matrix;
  bqkv?: GPUBuffer;
  qNorm?: GPUBuffer; kNorm?: GPUBuffer;
  gate: Matrix; up: Matrix; down: Matrix;
}

/**
 * Every weight the forward pass reads, on the GPU: read from a checkpoint by load.ts:loadModel, or
 * made at random by synth.ts:syntheticModel. The embedding stays f16 (a decode step reads one row
 * of it); the LM head is a matrix like the others (a quantized copy of the embedding in tied models).
 */
export interface ModelWeights {
  format: WeightFormat;
  layers: LayerWeights[];
  embed: GPUBuffer;
  lmHead: Matrix;
  norm: GPUBuffer;
}

/**
 * Prefill chunk in tokens. Long chunks keep the tensor cores busy (8B shape at 32K on an H100, with
 * the kernels of the time: 730 tokens/s at 2048, 687 at 512, 525 at 256); the scratch activations
 * grow by (2·hidden + 3·heads·d + 2·kvHeads·d + intermediate)·4 bytes a token, 144 KiB for an 8B model.
 */
export const DEFAULT_CHUNK_SIZE = 2048;

/** Per-chunk scratch activations, sized for T tokens. */
interface Scratch {
  T: number;
  /** The model's (scratchFor: ops over it are cached), or a batch's (its step is recorded once, by its owner). */
  shared: boolean;
  x: GPUBuffer; h: GPUBuffer; qkv: GPUBuffer; q: GPUBuffer; att: GPUBuffer; mlp: GPUBuffer;
  ids: GPUBuffer;
  /** [T, vocab] f32, made on first use: a long chunk's logits are large (1 GB at T = 2048, vocab 128K) and most prefills want one row. */
  logits: GPUBuffer | null;
}

export type { Op };

/** Attention of one layer for a decode step: reads q [Hq, d], writes out [Hq, d]. */
export type DecodeAttention = (layer: number, q: GPUBuffer, out: GPUBuffer) => Op[];

/**
 * B sequences decoding together after the context in the cache (model.batch): each step embeds
 * next[b] at positions[b] for every b. Its K/V rows follow BatchRows (kvcache.ts); its scratch
 * is its own, so a question prefilled between two steps leaves the next tokens alone.
 */
export interface Batch {
  B: number;
  rows: BatchRows;
  /** u32 [B + 1]: each sequence's position this step, then the history row its tokens go to (decodeBatch writes it). */
  positions: GPUBuffer;
  /** u32 [B]: the tokens the next step embeds (the sampler writes them; seed a new sequence's with its first token). */
  next: GPUBuffer;
  scratch: Scratch;
}

export interface PrefillOptions {
  /**
   * Called once each layer's work is queued, with that layer's post-RoPE queries f32 [n, Hq, d]
   * (only if keepQueries): work it queues runs before the next layer's, which overwrites them.
   */
  onLayer?: (layer: number, queries: GPUBuffer) => Promise<void>;
  keepQueries?: boolean;
  /** 'last': logits of the last token; 'all': every position; 'keep': the last token's left on the GPU in logitsOf(scratchFor(1)); 'none'. */
  logits?: 'last' | 'all' | 'keep' | 'none';
  onProgress?: (doneTokenLayers: number, totalTokenLayers: number) => void;
}

export interface ModelOptions {
  /** KV cache positions. */
  capacity: number;
  /** Prefill chunk (tokens per pass). */
  chunkSize?: number;
  /** The format the weight matrices are held in (load.ts quantizes f16 checkpoints at load). */
  weights?: WeightFormat;
  /** The KV cache's format (kvcache.ts). */
  kv?: KvFormat;
}

/**
 * Refuses a KV cache longer than the model's positions. Loaders call it before reading weights, so
 * a context that cannot run fails before gigabytes are uploaded.
 */
export function checkContext(cfg: ModelConfig, capacity: number): void {
  check(capacity <= cfg.maxPositions, `a context of ${capacity} tokens exceeds the model's max_position_embeddings (${cfg.maxPositions})`, 'too-long');
  check(!cfg.slidingWindow || capacity <= cfg.slidingWindow, `a context of ${capacity} tokens exceeds the model's sliding window (${cfg.slidingWindow}), which csattn does not implement`, 'too-long');
}

export class Model {
  readonly invFreq: GPUBuffer;
  /**
   * The position uniform every position-dependent kernel reads: bind it, never write it (prefill,
   * decode, execute and setPosition do, from the position they are given).
   */
  readonly step: GPUBuffer;
  private scratch = new Map<number, Scratch>();
  private opsCache = new Map<string, Op[]>();
  /** f16 buffers the tiled products expand quantized weights into (made on first use). */
  private expandBuffers: GPUBuffer[] | null = null;
  private halvesBuffer: GPUBuffer | null = null;

  private constructor(
    readonly gpu: Gpu,
    readonly kernels: Kernels,
    readonly cfg: ModelConfig,
    readonly weights: ModelWeights,
    readonly cache: KvCache,
    readonly chunkSize: number,
  ) {
    this.invFreq = upload(gpu, ropeInvFreq(cfg), 'rope inv_freq');
    this.step = positions(gpu, [0], 'step');
  }

  /**
   * The model of `cfg` over `weights` (already on `gpu`), with a KV cache of opts.capacity positions.
   * `kernels`: the loader's, so the pipelines it compiled are reused.
   */
  static async create(gpu: Gpu, cfg: ModelConfig, weights: ModelWeights, opts: ModelOptions, kernels = new Kernels(gpu)): Promise<Model> {
    checkContext(cfg, opts.capacity);
    const cache = await KvCache.allocate(gpu, cfg, opts.capacity, opts.kv);
    return new Model(gpu, kernels, cfg, weights, cache, opts.chunkSize ?? DEFAULT_CHUNK_SIZE);
  }

  /** KV cache positions. */
  get capacity(): number {
    return this.cache.capacity;
  }

  // -------------------------------------------------------------------------------------------
  // Prefill

  /**
   * Runs `ids` at positions [pos0, pos0 + n) through the model, layer-major in chunks, and writes
   * their keys and values to those rows of the cache (which then holds [0, pos0 + n): pos0 = 0
   * starts a new sequence). Returns the requested logits (f32, [rows, vocab]).
   */
  async prefill(ids: number[], pos0: number, opts: PrefillOptions = {}): Promise<Float32Array | null> {
    const n = ids.length;
    check(n > 0, 'nothing to prefill: the prompt has no tokens');
    check(pos0 + n <= this.capacity, `the prompt needs ${pos0 + n} positions but the KV cache holds ${this.capacity}`, 'too-long');
    this.cache.checkWrite(pos0, n);
    const { hidden: H, heads, headDim: d } = this.cfg;
    const chunks: { start: number; T: number; x: GPUBuffer }[] = [];
    for (let start = 0; start < n; start += this.chunkSize) {
      const T = Math.min(this.chunkSize, n - start);
      chunks.push({ start, T, x: await allocate(this.gpu, T * H * 4, `hidden states of tokens ${start}..${start + T}`) });
    }
    const queries = opts.keepQueries ? await allocate(this.gpu, n * heads * d * 4, `queries of ${n} tokens`) : null;
    const total = n * this.cfg.layers;
    let behind: Promise<void> = Promise.resolve();
    try {
      // x = embed(tokens), chunk by chunk into each chunk's own hidden states.
      for (const c of chunks) {
        const s = this.scratchFor(c.T);
        this.gpu.device.queue.writeBuffer(s.ids, 0, Uint32Array.from(ids.slice(c.start, c.start + c.T)));
        oneShot(this.gpu, () => this.embedOps(s, c.x), (o) => this.execute(o));
      }
      for (let l = 0; l < this.cfg.layers; l++) {
        for (const c of chunks) {
          // x = layer_l(x) for the chunk at its positions: its hidden states through the scratch,
          // its K/V into the cache rows, its queries kept for onLayer.
          const s = this.scratchFor(c.T);
          const keep: Op[] = queries ? [{ copy: { src: s.q, srcOffset: 0, dst: queries, dstOffset: c.start * heads * d * 4, size: c.T * heads * d * 4 } }] : [];
          const ops = [copy(c.x, s.x, c.T * H * 4), ...this.layerPrefillOps(l, c.T), ...keep, copy(s.x, c.x, c.T * H * 4)];
          await this.kernels.ready();
          this.execute(ops, pos0 + c.start);
          opts.onProgress?.(l * n + c.start + c.T, total);
        }
        if (queries && opts.onLayer) await opts.onLayer(l, queries);
        // The CPU records a layer while the GPU runs the one before, never further ahead: the GPU
        // does not wait on recording, and a failure surfaces a layer late.
        await behind;
        behind = this.sync();
        behind.catch(() => {}); // awaited next layer
      }
      await behind;
      this.cache.wrote(pos0, n);
      return await this.prefillLogits(chunks, opts.logits ?? 'last');
    } finally {
      for (const c of chunks) release(this.gpu, c.x);
      if (queries) release(this.gpu, queries);
    }
  }

  private async prefillLogits(chunks: { start: number; T: number; x: GPUBuffer }[], which: PrefillOptions['logits']): Promise<Float32Array | null> {
    if (which === 'none') return null;
    const V = this.cfg.vocab;
    const H = this.cfg.hidden;
    if (which !== 'all') {
      const c = chunks[chunks.length - 1];
      const s = this.scratchFor(1);
      this.execute([copy(c.x, s.x, H * 4, (c.T - 1) * H * 4), ...this.headOps(s)]);
      return which === 'keep' ? null : new Float32Array(await readBuffer(this.gpu, this.logitsOf(s), V * 4));
    }
    const out = new Float32Array(chunks.reduce((a, c) => a + c.T, 0) * V);
    for (const c of chunks) {
      const s = this.scratchFor(c.T);
      this.execute([copy(c.x, s.x, c.T * H * 4), ...this.headOps(s)]);
      out.set(new Float32Array(await readBuffer(this.gpu, this.logitsOf(s), c.T * V * 4)), c.start * V);
    }
    return out;
  }

  /** One layer over a chunk of T tokens held in scratch.x, with full causal attention (public for profiling). */
  layerPrefillOps(l: number, T: number): Op[] {
    return this.cached(`prefill:${l}:${T}`, () => {
      const s = this.scratchFor(T);
      const { heads, kvHeads, headDim: d } = this.cfg;
      const kv = this.f16Kv(l, T);
      const attention = attentionPrefill(this.kernels, {
        q: s.q, kCache: kv.k, vCache: kv.v, out: s.att, step: this.step,
        T, Hq: heads, Hkv: kvHeads, d, capacity: this.capacity, scale: 1 / Math.sqrt(d),
      });
      return this.layerOps(l, s, [...kv.ops, attention]);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Decode

  /**
   * The dispatches of one decode step, recorded once and replayed by decode(step, pos): embed
   * next[0] at position pos, run every layer with `attention`, and write the chosen token to
   * next[0] and history[pos + 1].
   */
  decodeOps(attention: DecodeAttention, sampler: (logits: GPUBuffer) => Dispatch): Op[] {
    const s = this.scratchFor(1);
    const ops: Op[] = this.embedOps(s, s.x); // x = embed(next token)
    for (let l = 0; l < this.cfg.layers; l++) pushAll(ops, this.layerOps(l, s, attention(l, s.q, s.att))); // x = layer_l(x)
    pushAll(ops, this.headOps(s)); // logits = rmsnorm(x) · Wlmᵀ
    ops.push(sampler(this.logitsOf(s))); // next token → next[0] and history[pos + 1]
    return ops;
  }

  /**
   * Runs a recorded decode step (decodeOps, and any ops after it) at position `pos`: embeds `token`,
   * or else the token the previous step sampled into nextToken, writes its K/V at pos and samples
   * the next token. Returns at once: steps queue on the GPU, each reading the position it was given.
   */
  decode(step: Op[], pos: number, token?: number): void {
    this.cache.checkWrite(pos, 1);
    if (token !== undefined) this.gpu.device.queue.writeBuffer(this.nextToken, 0, Uint32Array.of(token));
    this.execute(step, pos);
    this.cache.wrote(pos, 1);
  }

  /**
   * A batch of B sequences after the context at positions [0, ctx) of the cache, each with `room`
   * positions of its own (question and answer): the cache needs ctx + (B + 1)·room positions
   * (kvcache.ts). Its buffers belong to the caller's scope (collecting), like the step it records
   * with batchOps.
   */
  batch(ctx: number, B: number, room: number): Batch {
    check(Number.isInteger(B) && B >= 1, `a batch needs at least one sequence, got ${B}`);
    check(ctx >= 1 && ctx <= this.cache.length, `a batch after ${ctx} positions of a cache holding ${this.cache.length}`);
    check(ctx + (B + 1) * room <= this.capacity, `a batch of ${B} with ${room} positions each after ${ctx} needs ${ctx + (B + 1) * room}; the KV cache holds ${this.capacity}`, 'too-long');
    const scratch = this.newScratch(B, false);
    scratch.logits = this.logitsOf(scratch);
    return { B, rows: { ctx, room }, positions: storage(this.gpu, (B + 1) * 4, 'batch positions'), next: scratch.ids, scratch };
  }

  /**
   * The dispatches of one step of a batch, recorded once and replayed by decodeBatch: embed next[b]
   * at positions[b], run every layer with `attention` (q and out [B, Hq, d]) and write each chosen
   * token to next[b] and its history row. The products take the B rows together, so each weight is
   * read once a step for all of them.
   */
  batchOps(batch: Batch, attention: DecodeAttention, sampler: (logits: GPUBuffer) => Dispatch): Op[] {
    const s = batch.scratch;
    const ops: Op[] = this.embedOps(s, s.x); // x = embed(next tokens)
    for (let l = 0; l < this.cfg.layers; l++) pushAll(ops, this.layerOps(l, s, attention(l, s.q, s.att), batch)); // x = layer_l(x)
    pushAll(ops, this.headOps(s)); // logits = rmsnorm(x) · Wlmᵀ
    ops.push(sampler(this.logitsOf(s))); // next tokens → next[b] and the history row
    return ops;
  }

  /**
   * Runs a recorded batch step (batchOps, and any ops after it) with sequence b at positions[b]
   * (>= the context's length, inside its room), embedding tokens[b] where given (else what the
   * previous step sampled into next[b]), its tokens going to row `historyRow` of the sampler's
   * history. Returns at once.
   */
  decodeBatch(batch: Batch, step: Op[], positions: number[], historyRow: number, tokens: (number | undefined)[] = []): void {
    const { ctx, room } = batch.rows;
    check(positions.length === batch.B && positions.every((p) => p >= ctx && p < ctx + room), `batch positions ${positions} outside [${ctx}, ${ctx + room})`);
    this.gpu.device.queue.writeBuffer(batch.positions, 0, Uint32Array.from([...positions, historyRow]));
    tokens.forEach((t, b) => { if (t !== undefined) this.gpu.device.queue.writeBuffer(batch.next, b * 4, Uint32Array.of(t)); });
    this.execute(step);
  }

  /** Full attention for a batch: the context's rows once for every sequence, then each one's own (ops/attention.ts). */
  batchAttention(batch: Batch): DecodeAttention {
    const { heads, kvHeads, headDim: d } = this.cfg;
    return (l, q, out) => attentionDecodeBatch(this.kernels, {
      q, ...this.cache.layer(l), out, B: batch.B, rows: batch.rows, positions: batch.positions,
      Hq: heads, Hkv: kvHeads, d, capacity: this.capacity, scale: 1 / Math.sqrt(d),
    });
  }

  /** Dense split-K flash-decoding over the whole cache. */
  readonly fullAttention: DecodeAttention = (l, q, out) => {
    const { heads, kvHeads, headDim: d } = this.cfg;
    return attentionDecode(this.kernels, {
      q, ...this.cache.layer(l), out, step: this.step,
      Hq: heads, Hkv: kvHeads, d, capacity: this.capacity, scale: 1 / Math.sqrt(d),
    });
  };

  /**
   * Layer l's K and V as f16 rows for kernels that read f16 (prefill attention, table builds, the
   * oracle): an f16 cache's own buffers, or, for a q8 cache, the cache's f16 pair, which the
   * returned ops fill with rows [0, rows ?? step.pos + T) of the layer (run them before the reader;
   * the pair holds one layer at a time).
   */
  f16Kv(l: number, T: number, rows?: number): { ops: Op[]; k: GPUBuffer; v: GPUBuffer } {
    const scales = this.cache.scales[l], expanded = this.cache.expanded;
    if (!scales || !expanded) return { ops: [], k: this.cache.k[l], v: this.cache.v[l] };
    const { kvHeads: Hkv, headDim: d } = this.cfg;
    const expand = expandKv(this.kernels, { kCache: this.cache.k[l], vCache: this.cache.v[l], scales, out: expanded, step: this.step, Hkv, d, capacity: this.capacity, T, rows });
    return { ops: [expand], ...expanded };
  }

  /** Layer l's keys of positions [0, n) as f16 rows, now (for a table build): valid until the next f16Kv. */
  f16Keys(l: number, n: number): GPUBuffer {
    check(n >= 1 && n <= this.capacity, `f16Keys: ${n} rows of a cache of ${this.capacity}`);
    let k!: GPUBuffer;
    oneShot(this.gpu, () => this.f16Kv(l, 0, n), (kv) => {
      this.execute(kv.ops);
      k = kv.k;
    });
    return k;
  }

  /** The token buffer the decode step embeds (next[0]); seed it with the last prompt token's successor. */
  get nextToken(): GPUBuffer {
    return this.scratchFor(1).ids;
  }

  // -------------------------------------------------------------------------------------------
  // Shared pieces

  /**
   * The body of layer l over the T tokens of s.x, with `attention` (reading s.q, writing s.att) in
   * the middle. Each RMSNorm is fused into the product after it at decode sizes (see normed).
   */
  private layerOps(l: number, s: Scratch, attention: Op[], batch?: Batch): Op[] {
    const w = this.weights.layers[l];
    const { hidden: H, heads, kvHeads, headDim: d, intermediate: I, eps } = this.cfg;
    const k = this.kernels;
    const T = s.T;
    const qkvN = (heads + 2 * kvHeads) * d;
    const attnNorm = this.normed(s, w.ln1, w.wqkv, qkvN); // input_layernorm
    const mlpNorm = this.normed(s, w.ln2, w.gate, I); // post_attention_layernorm
    const halves = this.halves(T);
    return [
      // qkv = rmsnorm(x) · Wqkvᵀ (+ b): q, k and v in one product.
      ...attnNorm.ops, // a prefill chunk's rmsnorm into s.h; at decode it happens inside the matvec
      ...ops.matmul(k, { ...attnNorm.input, w: w.wqkv, bias: w.bqkv, y: s.qkv, T, K: H, N: qkvN, expandInto: this.expandInto(T), halves }),
      // q, k = rope(q), rope(k) at positions step.pos + t, or a batch's positions[t] (Qwen3
      // RMS-normalises each head first); k and v are written to those positions' rows of the cache
      // (f16, or int8 with a scale a row).
      ops.ropeKv(k, {
        qkv: s.qkv, q: s.q, ...this.cache.layer(l), invFreq: this.invFreq,
        step: this.step, T, Hq: heads, Hkv: kvHeads, d, capacity: this.capacity,
        qkNorm: w.qNorm && w.kNorm ? { q: w.qNorm, k: w.kNorm, eps } : undefined,
        batch: batch && { positions: batch.positions, rows: batch.rows },
      }),
      // att = softmax(q · Kᵀ / √d) · V over the cache (all keys, or a sparse selection; a q8
      // layer's rows are first expanded to f16 for a prefill chunk's tensor-core attention).
      ...attention,
      // Residual: x += att · Woᵀ.
      ...ops.matmul(k, { x: s.att, w: w.wo, y: s.x, T, K: heads * d, N: H, ...RESIDUAL_ADD, expandInto: this.expandInto(T), halves }),
      // mlp = silu(h · Wgᵀ) ⊙ (h · Wuᵀ), h = rmsnorm(x): gate and up in one product (SwiGLU).
      ...mlpNorm.ops, // likewise
      ...ops.matmul(k, { ...mlpNorm.input, w: w.gate, w2: w.up, y: s.mlp, T, K: H, N: I, swiglu: true, expandInto: this.expandInto(T), halves }),
      // Residual: x += mlp · Wdᵀ.
      ...ops.matmul(k, { x: s.mlp, w: w.down, y: s.x, T, K: I, N: H, ...RESIDUAL_ADD, expandInto: this.expandInto(T), halves }),
    ];
  }

  /**
   * RMSNorm of s.x with `weight` as the input of the next product (of w, N rows). At decode sizes the
   * product normalises its input rows as it reads them (no ops, `norm` in the input: the matvec, or
   * a batch's x on its way to f16); a longer chunk (prefill) gets one rmsnorm kernel into s.h, which
   * the tiled product then reads.
   */
  private normed(s: Scratch, weight: GPUBuffer, w: Matrix, N: number): { ops: Op[]; input: Pick<ops.MatmulArgs, 'x' | 'norm'> } {
    const { hidden: H, eps } = this.cfg;
    if (ops.fusesNorm(this.gpu, { T: s.T, K: H, N, w })) return { ops: [], input: { x: s.x, norm: { weight, eps } } };
    return { ops: [ops.rmsnorm(this.kernels, { x: s.x, weight, out: s.h, rows: s.T, n: H, eps })], input: { x: s.h } };
  }

  /** Embeds s.ids (T tokens) into `out`. */
  private embedOps(s: Scratch, out: GPUBuffer): Op[] {
    return ops.embedding(this.kernels, { ids: s.ids, table: this.weights.embed, out, T: s.T, H: this.cfg.hidden });
  }

  /** logits = rmsnorm(x) · Wlmᵀ over every row of s.x (the final norm fused into the LM head at decode). */
  private headOps(s: Scratch): Op[] {
    const build = () => {
      const { hidden: H, vocab: V } = this.cfg;
      const n = this.normed(s, this.weights.norm, this.weights.lmHead, V); // model.norm
      const product = { ...n.input, w: this.weights.lmHead, y: this.logitsOf(s), T: s.T, K: H, N: V, expandInto: this.expandInto(s.T), halves: this.halves(s.T) };
      return [...n.ops, ...ops.matmul(this.kernels, product)];
    };
    return s.shared ? this.cached(`head:${s.T}`, build) : build();
  }

  /** The logits of a scratch's rows (made on first use). */
  logitsOf(s: Scratch): GPUBuffer {
    const V = this.cfg.vocab;
    check(s.T * V * 4 <= this.gpu.maxBinding, `logits of ${s.T} tokens exceed the GPU's binding size: use a smaller chunk`, 'oom');
    const make = () => storage(this.gpu, s.T * V * 4, `logits [${s.T}]`);
    return (s.logits ??= s.shared ? collecting(this.gpu, null, make) : make());
  }

  /**
   * The scratch of T-token work. Lengths borrow the buffers of their power of two (at most the
   * chunk): a scratch of each length kept for good grew with every question and last chunk of
   * another length (an eval on Llama-3.1-8B: ~150 KB a row, GBs over LongBench records); only the
   * lazily made logits stay per length.
   */
  scratchFor(T: number): Scratch {
    let s = this.scratch.get(T);
    if (!s) {
      const rows = T < this.chunkSize ? Math.min(2 ** Math.ceil(Math.log2(T)), this.chunkSize) : T;
      // The model keeps what it makes lazily: never collected by a caller's scope (oneShot, a Generator).
      s = rows === T ? collecting(this.gpu, null, () => this.newScratch(T, true)) : { ...this.scratchFor(rows), T, logits: null };
      this.scratch.set(T, s);
    }
    return s;
  }

  private newScratch(T: number, shared: boolean): Scratch {
    const { hidden: H, heads, kvHeads, headDim: d, intermediate: I } = this.cfg;
    const what = shared ? `${T}` : `batch of ${T}`;
    const f32 = (n: number, name: string) => storage(this.gpu, n * 4, `${name} [${what}]`);
    return {
      T, shared,
      x: f32(T * H, 'x'), h: f32(T * H, 'h'), qkv: f32(T * (heads + 2 * kvHeads) * d, 'qkv'), q: f32(T * heads * d, 'q'),
      att: f32(T * heads * d, 'att'), mlp: f32(T * I, 'mlp'),
      ids: storage(this.gpu, T * 4, 'ids'), logits: null,
    };
  }

  /** The f16 copy of x a decode batch's products on tensor cores read (ops.batchProduct), made on first use. */
  private halves(T: number): GPUBuffer | undefined {
    if (!ops.batchTokens(this.gpu, T, this.weights.format)) return undefined;
    const { hidden: H, heads, headDim: d, intermediate: I } = this.cfg;
    return (this.halvesBuffer ??= collecting(this.gpu, null, () => storage(this.gpu, ops.batchHalvesBytes(Math.max(H, heads * d, I)), 'a batch\'s x as f16')));
  }

  /**
   * Where a tiled product (T > MATVEC_MAX_T) expands quantized weights: two f16 buffers the size of the
   * largest layer matrix (gate and up side by side); the LM head is expanded a row range at a time.
   */
  private expandInto(T: number): GPUBuffer[] | undefined {
    if (this.weights.format === 'f16' || T <= ops.MATVEC_MAX_T) return undefined;
    const { hidden: H, heads, kvHeads, headDim: d, intermediate: I } = this.cfg;
    const bytes = 2 * Math.max(H * (heads + 2 * kvHeads) * d, heads * d * H, H * I);
    return (this.expandBuffers ??= collecting(this.gpu, null, () => [0, 1].map((i) => storage(this.gpu, bytes, `quantized weights as f16 (${i})`))));
  }

  private cached(key: string, build: () => Op[]): Op[] {
    let o = this.opsCache.get(key);
    if (!o) this.opsCache.set(key, (o = collecting(this.gpu, null, build)));
    return o;
  }

  /**
   * Points the `step` uniform at `pos` for the ops submitted next, leaving the cache alone: for ops
   * encoded outside execute (the profiler's replays); everything else passes the position to
   * prefill, decode or execute.
   */
  setPosition(pos: number): void {
    this.gpu.device.queue.writeBuffer(this.step, 0, Uint32Array.of(pos, 0, 0, 0));
  }

  /**
   * Encodes ops (compute passes split at copies) and submits them; with `pos`, position-dependent
   * kernels among them read that position (the sampler after a prefill reads the last prompt token's).
   */
  execute(list: Op[], pos?: number): void {
    if (pos !== undefined) this.setPosition(pos);
    const enc = this.gpu.device.createCommandEncoder();
    encodeOps(enc, list);
    this.gpu.device.queue.submit([enc.finish()]);
  }

  /** Waits for all submitted work; throws a recorded GPU failure. */
  async sync(): Promise<void> {
    await this.gpu.device.queue.onSubmittedWorkDone();
    if (this.gpu.failure) throw this.gpu.failure;
  }

  /** Bytes the decode step reads from weights (for bandwidth figures). */
  weightBytesPerToken(): number {
    const { hidden: H, heads, kvHeads, headDim: d, intermediate: I, vocab: V, layers } = this.cfg;
    const format = this.weights.format;
    return BYTES_PER_WEIGHT[format] * layers * (H * (heads + 2 * kvHeads) * d + heads * d * H + 3 * H * I) + BYTES_PER_WEIGHT[lmHeadFormat(format)] * V * H;
  }

  destroy(): void {
    destroyGpu(this.gpu);
  }
}

/** A product added into its output (y += x · Wᵀ): the residual adds onto the hidden states s.x. */
const RESIDUAL_ADD = { accumulate: true } as const;

function copy(src: GPUBuffer, dst: GPUBuffer, size: number, srcOffset = 0): Op {
  return { copy: { src, srcOffset, dst, dstOffset: 0, size } };
}
