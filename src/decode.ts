/**
 * CSAttention's online phase: load a bundle into GPU buffers once, then answer questions. Each
 * question is prefilled over the stored context with full attention; every generated token then
 * attends to the keys CSAttention selects (sinks, recent window, the question and answer so far,
 * and the top-scoring context keys).
 */
import { check } from './errors.js';
import { loadModel } from './model/load.js';
import type { Batch, Model, DecodeAttention, Op } from './model/model.js';
import { loadConfig } from './model/config.js';
import { Tokenizer } from './tokenizer.js';
import { Generator, textSink, type Generation, type SamplingOptions } from './generate.js';
import { readAhead } from './weights/safetensors.js';
import { Bundle, checkSameModel, modelIdentity, weightFormatOf, type ModelIdentity } from './bundle.js';
import type { WeightFormat } from './ops/quant.js';
import type { KvFormat } from './model/kvcache.js';
import type { SelectOptions } from './attention/csa/select.js';
import { destroyTables, listsSound, uploadTables, type Choice, type CsaParams, type LayerTables, type TableData } from './attention/csa/tables.js';
import { methodOf, type AttentionKind, type Method } from './attention/methods.js';
import type { BatchSelector, LoadedContext, PreparedMethod, Selector } from './attention/method.js';
import { CACHE_PAD, attentionDecode, attentionDecodeBatch, unionPays, unionSeqs, unionsRun, type BatchDecodeArgs } from './ops/attention.js';
import { UNION_MAX_SHARE, unionProbe, unionProbeBytes, unionScratch, unionShare, type UnionScratch } from './ops/union.js';
import { BATCH_MMA_TOKENS, MATVEC_MAX_T } from './ops/dense.js';
import { collecting, createGpu, release, type Gpu } from './gpu/device.js';
import { positions, storage } from './gpu/kernels.js';
import { BatchGenerator, type BatchAttention, type BatchPrompt, type BatchRun, type BatchSampling } from './batch.js';
import { questionIds } from './template.js';
import type { Logger } from './log.js';
import type { Question } from './questions.js';
import { mapInOrder, maxOf } from './arrays.js';

export interface SparseOptions {
  sparsity: number;
  /** Attention-sink tokens always attended (inside the budget). */
  sink: number;
  /** Most recent context tokens always attended (inside the budget). */
  window: number;
}

export const DEFAULT_SPARSE: SparseOptions = { sparsity: 0.95, sink: 4, window: 64 };

export interface Answer extends Generation {
  questionTokens: number;
  attention: AttentionKind;
  /** Context keys each generated token attends to: K = round((1 - sparsity) N) for a sparse method, N for full. */
  contextKeysPerStep: number;
  /** Keys attended per step on average, question and answer tokens included (each layer and KV head). */
  keysPerStep: number;
  /** Bytes of K and V one decode step reads per layer-sum (for bandwidth figures). */
  kvBytesPerStep: number;
}

/**
 * Sinks and window are counted inside the budget K and may take at most half of it (scaled down
 * proportionally on short contexts), so that every method still selects half its keys by score.
 */
export function fitForced(sp: SparseOptions, N: number): { sink: number; window: number } {
  const K = Math.round((1 - sp.sparsity) * N);
  const forced = sp.sink + sp.window;
  if (2 * forced <= K) return { sink: sp.sink, window: sp.window };
  const f = K / 2 / forced;
  return { sink: Math.floor(sp.sink * f), window: Math.floor(sp.window * f) };
}

/** Selection over a context of N keys in a cache of `capacity` positions. */
export function selectOptions(sp: SparseOptions, N: number, capacity: number): SelectOptions {
  const { sink, window } = fitForced(sp, N);
  return { sparsity: sp.sparsity, sink, window, N, maxNewTokens: capacity - N };
}

export class Session {
  private generator: Generator;
  private attentions = new Map<string, DecodeAttention>();
  private prepared = new Map<Method, PreparedMethod>();

  private constructor(
    readonly bundle: Bundle,
    readonly model: Model,
    readonly tok: Tokenizer,
    readonly tables: LayerTables[],
    /** The bundle's CSA parameters, with the centroid choice this session decodes with. */
    readonly csa: CsaParams,
    readonly loadMs: number,
    private readonly ownsModel: boolean,
  ) {
    this.generator = new Generator(model);
  }

  get contextTokens(): number {
    return this.bundle.tokens;
  }

  /**
   * Opens `bundlePath` for `modelDir`: checks that the bundle was made with this model, then
   * streams the KV cache and the tables into GPU buffers. `room` = question + answer positions;
   * `opts.loaded` a model (and its tokenizer) to use instead of loading them, `opts.gpu` the GPU to load it on (else one
   * is made), `opts.log` a logger for the GPU's start-up.
   */
  /**
   * `weights`: the format to run the matrices in, and `choice`: CSA's centroid choice (a decode-time
   * setting); by default the bundle's.
   */
  static async open(bundlePath: string, modelDir: string, room: number, opts: { loaded?: { model: Model; identity: ModelIdentity; tok: Tokenizer }; weights?: WeightFormat; choice?: Choice; log?: Logger; gpu?: Gpu } = {}): Promise<Session> {
    const { loaded, log } = opts;
    const t0 = performance.now();
    const bundle = await Bundle.open(bundlePath);
    try {
      const tok = loaded?.tok ?? (await Tokenizer.load(modelDir));
      const N = bundle.tokens;
      // Refuse a bundle of another model before loading any weights.
      const weights = opts.weights ?? weightFormatOf(bundle.meta.model);
      checkSameModel(bundle.meta.model, loaded?.identity ?? (await modelIdentity(modelDir, loadConfig(modelDir), weights)), bundlePath, modelDir);
      const model = loaded?.model ?? (await loadModel(opts.gpu ?? (await createGpu({ log })), modelDir, { capacity: N + room, weights, kv: bundle.meta.kv }));
      check(model.cache.format === bundle.meta.kv, `${bundlePath} holds a ${bundle.meta.kv} KV cache; the loaded model's is ${model.cache.format}`);
      check(model.capacity >= N + room, `the bundle's ${N} tokens and ${room} more do not fit the loaded model's cache (${model.capacity})`, 'too-long');
      const s = bundle.meta.shape;
      check(s.layers === model.cfg.layers && s.kvHeads === model.cfg.kvHeads && s.headDim === model.cfg.headDim,
        `${bundlePath}: bundle shapes do not match the model`, 'wrong-model');
      const tables = await loadContext(model, bundle);
      const params = { ...bundle.meta.csa, choice: opts.choice ?? bundle.meta.csa.choice };
      return new Session(bundle, model, tok, tables, params, performance.now() - t0, !loaded);
    } catch (e) {
      await bundle.close();
      throw e;
    }
  }

  /** Answers one question from the stored context (which is left as it was for the next one). */
  async answer(question: string, attention: AttentionKind, sparse: SparseOptions, o: SamplingOptions,
    onToken?: (id: number) => boolean | void): Promise<Answer> {
    const ids = this.questionIds(question, o.maxTokens, this.model.capacity - this.contextTokens);
    const att = attention === 'full' ? this.model.fullAttention : await this.sparseAttention(attention, sparse);
    const key = attention === 'full' ? 'full' : `${attention}:${sparse.sparsity}:${sparse.sink}:${sparse.window}`;
    return this.answerOf(await this.generate(ids, o, att, key, onToken), ids.length, attention, sparse);
  }

  /**
   * Answers the questions with up to B of them decoding together (src/batch.ts), each with `room`
   * positions for itself and its answer (the session's cache must hold B + 1 rooms after the
   * context). Every sequence samples as `o` says; each question stops on its own (`onToken(i, id)`
   * true: a stop string). Answers reach `onAnswer` as they finish, by question index.
   */
  async answerBatch(questions: string[], attention: AttentionKind, sparse: SparseOptions, o: SamplingOptions, B: number, room: number,
    onAnswer: (i: number, a: Answer) => void, onToken?: (i: number, id: number) => boolean | void): Promise<void> {
    const batch = await this.batch(new Array(B).fill({ attention, sparse }), o, room);
    try {
      await batch.answer(questions.map((question, i) => ({ question, maxTokens: o.maxTokens, stopIds: o.stopIds, onToken: onToken && ((id: number) => onToken(i, id)) })), onAnswer);
    } finally {
      batch.close();
    }
  }

  /**
   * A batch over the context whose sequence b attends as slots[b] says (full attention, or a method
   * at a budget), each with `room` positions; close it after use.
   */
  async batch(slots: SlotAttention[], o: BatchSampling, room: number): Promise<SessionBatch> {
    const m = this.model;
    const made: GPUBuffer[] = [];
    const batch = collecting(m.gpu, made, () => m.batch(this.contextTokens, slots.length, room));
    const attention = await this.batchAttention(batch, slots, room);
    const generator = collecting(m.gpu, made, () => new BatchGenerator(m, batch, o, attention));
    return new SessionBatch(this, generator, made, slots, room);
  }

  /**
   * How a batch attends: full attention for all; one selection pass for all when they share a
   * method and budget and the method selects batches (CSA's tables); else each sequence its own.
   */
  private async batchAttention(batch: Batch, slots: SlotAttention[], room: number): Promise<BatchAttention> {
    const m = this.model;
    const [first] = slots;
    if (first.attention !== 'full' && slots.every((s) => s.attention === first.attention && sameBudget(s.sparse, first.sparse))) {
      const batchSelector = (await this.prepare(first.attention)).batchSelector;
      if (batchSelector) return batchSelectAttention(m, batch, batchSelector(selectOptions(first.sparse, this.contextTokens, this.contextTokens + room)));
    }
    const selects = await mapInOrder(slots.length, async (b): Promise<Selector | null> => {
      const { attention, sparse } = slots[b];
      return attention === 'full' ? null : this.selector(attention, sparse, room);
    });
    return selects.every((s) => s === null) ? m.batchAttention(batch) : sparseBatchAttention(m, batch, selects);
  }

  /** A question's tokens after the context, checked against the `room` it may take with its answer. */
  questionIds(question: string, maxTokens: number, room: number): number[] {
    check(question.trim().length > 0, 'the question is empty');
    const ids = questionIds(this.tok, this.bundle.meta.template, question);
    check(ids.length + maxTokens <= room,
      `the question (${ids.length} tokens) and ${maxTokens} new tokens need ${ids.length + maxTokens} positions after the context; the session has room for ${room}`, 'too-long');
    return ids;
  }

  /** A generation as an Answer: what it attended per step. */
  answerOf(r: Generation, questionTokens: number, attention: AttentionKind, sparse: SparseOptions): Answer {
    const N = this.contextTokens;
    const contextKeys = attention === 'full' ? N : Math.round((1 - sparse.sparsity) * N);
    const keys = contextKeys + questionTokens + r.ids.length / 2;
    return {
      ...r, questionTokens, attention, contextKeysPerStep: contextKeys, keysPerStep: keys,
      kvBytesPerStep: this.model.cfg.layers * this.model.cache.bytesPerPosition * keys,
    };
  }

  /**
   * Generates after the stored context with `attention`, whose recorded step the session keeps
   * under `key`. The prompt goes right after the context, over the previous answer's rows.
   */
  async generate(ids: number[], o: SamplingOptions, attention: DecodeAttention, key: string,
    onToken?: (id: number) => boolean | void): Promise<Generation> {
    return this.generator.generate(ids, this.contextTokens, o, onToken, attention, key);
  }

  /**
   * The per-layer key selection of `method` at the budget of `sp`: dispatches that fill a Selection
   * from the query of the current step, for a sequence of at most `room` positions after the
   * context (by default all the cache has). What the method builds over the context is built once.
   */
  async selector(method: Method, sp: SparseOptions, room = this.model.capacity - this.contextTokens): Promise<Selector> {
    return (await this.prepare(method)).selector(selectOptions(sp, this.contextTokens, this.contextTokens + room));
  }

  /** `method` ready on this context: built on first use, then kept until close. */
  async prepare(method: Method): Promise<PreparedMethod> {
    let p = this.prepared.get(method);
    if (!p) this.prepared.set(method, (p = await methodOf(method).prepare(this.loadedContext())));
    return p;
  }

  private loadedContext(): LoadedContext {
    return { model: this.model, N: this.contextTokens, tables: this.tables, params: this.csa };
  }

  /** Sparse attention for every layer: select, then attend exactly over the selected keys. */
  private async sparseAttention(method: Method, sp: SparseOptions): Promise<DecodeAttention> {
    const key = `${method}:${sp.sparsity}:${sp.sink}:${sp.window}`;
    let att = this.attentions.get(key);
    if (att) return att;
    att = sparseAttention(this.model, await this.selector(method, sp));
    this.attentions.set(key, att);
    return att;
  }

  async close(): Promise<void> {
    await this.bundle.close();
    this.generator.destroy(); // its token history and recorded steps: a loaded model outlives the session
    for (const t of this.tables) destroyTables(this.model.gpu, t);
    for (const p of this.prepared.values()) p.destroy();
    if (this.ownsModel) this.model.destroy();
  }
}

/** Sparse attention for every layer: select, then attend exactly over the selected keys. */
export function sparseAttention(m: Model, select: Selector): DecodeAttention {
  const { heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
  return (l, q, out) => {
    const s = select(l, q);
    return [
      ...s.dispatches,
      ...attentionDecode(m.kernels, {
        q, ...m.cache.layer(l), out, step: m.step, Hq, Hkv, d,
        capacity: m.capacity, scale: 1 / Math.sqrt(d), sparse: s.selection,
      }),
    ];
  };
}

/** How a sequence of a batch attends. */
export interface SlotAttention { attention: AttentionKind; sparse: SparseOptions }

/** A question for a SessionBatch: its text, where it may run and how it stops (BatchPrompt). */
export type BatchQuestion = { question: string } & Omit<BatchPrompt, 'ids'>;

/** A batch over a session's context (Session.batch): answers questions, each in a slot of its attention. */
export class SessionBatch {
  constructor(private readonly session: Session, private readonly generator: BatchGenerator, private readonly made: GPUBuffer[],
    readonly slots: SlotAttention[], readonly room: number) {}

  /** Answers the questions (src/batch.ts: refills, stops); each Answer reaches onAnswer by index, in the order they finish. */
  async answer(questions: BatchQuestion[], onAnswer: (i: number, a: Answer) => void): Promise<BatchRun> {
    const prompts = questions.map(({ question, ...p }) => ({ ...p, ids: this.session.questionIds(question, p.maxTokens, this.room) }));
    return this.generator.run(prompts, (i, g) => {
      // A question pinned to a slot has that slot's attention; one that is not, the batch's (all slots alike).
      const s = this.slots[prompts[i].slot ?? 0];
      onAnswer(i, this.session.answerOf(g, prompts[i].ids.length, s.attention, s.sparse));
    });
  }

  close(): void {
    this.generator.destroy();
    for (const b of this.made) release(this.session.model.gpu, b);
  }
}

function sameBudget(a: SparseOptions, b: SparseOptions): boolean {
  return a.sparsity === b.sparsity && a.sink === b.sink && a.window === b.window;
}

/**
 * Sparse attention for a batch whose sequences select in one pass (each at its position), then
 * attend their selections together. On tensor cores and where a union can pay (unionPays), in two
 * forms between which the batch switches as it runs: the union of their context keys, each row read
 * once for the batch (ops/union.ts, its scratch shared by the layers), and each one's own rows; or
 * each selection by itself. The middle layer's union of the first sequences is built in both forms
 * as a probe: the batch attends as unions while that union holds at most UNION_MAX_SHARE of the
 * keys its selections chose (questions about one text pick mostly the same keys; unrelated ones do not).
 */
export function batchSelectAttention(m: Model, batch: Batch, select: BatchSelector): BatchAttention {
  const { heads: Hq, kvHeads: Hkv } = m.cfg;
  const selected = (l: number, q: GPUBuffer) => select(l, q, batch.positions, batch.B);
  const each = (s: ReturnType<BatchSelector>, l: number, q: GPUBuffer, out: GPUBuffer) => [...s.dispatches, ...attendSelected(m, batch, l, q, out, s.selection)];
  const unites = (l: number, sp: { perQueryHead: boolean }) => unionsRun(m.kernels, { ...m.cache.layer(l), Hkv, d: m.cfg.headDim, capacity: m.capacity, B: batch.B }, sp);
  // Asked before any selection, of lists per KV head: whether this batch's cache could take unions at
  // all (each layer asks again of its own selection).
  if (!(unionPays(Hq, Hkv, batch.B, batch.rows.ctx) && unites(0, { perQueryHead: false }))) return (l, q, out) => each(selected(l, q), l, q, out);
  // Made with the first form's step (so the step's owner collects them); the second reuses them.
  let union: UnionScratch | undefined;
  let probe: GPUBuffer | undefined;
  const selections: ReturnType<BatchSelector>[] = [];
  const seqs = unionSeqs(Hq / Hkv, batch.B);
  const probed = m.cfg.layers >> 1;
  const form = (unions: boolean): DecodeAttention => (l, q, out) => {
    const s = (selections[l] ??= selected(l, q));
    // A selection per query head is never attended as unions: both forms are then the same, unprobed.
    if (!unites(l, s.selection)) return each(s, l, q, out);
    union ??= unionScratch(m.gpu, Hkv, batch.rows.ctx);
    probe ??= storage(m.gpu, unionProbeBytes(Hkv, seqs), 'union probe');
    const ops = [...s.dispatches, ...attendSelected(m, batch, l, q, out, s.selection, unions ? union : undefined)];
    return l === probed ? [...ops, ...unionProbe(m.kernels, s.selection, union, seqs, probe)] : ops;
  };
  return {
    forms: [form(true), form(false)],
    names: ['unions', 'each'],
    probe: () => probe,
    measure: (data) => unionShare(new Uint32Array(data), Hkv),
    choose: (share, current) => (share === null ? current : share <= UNION_MAX_SHARE ? 0 : 1),
  };
}

/** Layer l's attention of a batch over its selections (batchSelectAttention's, or one per sequence). */
function attendSelected(m: Model, batch: Batch, l: number, q: GPUBuffer, out: GPUBuffer, sparse: BatchDecodeArgs['sparse'], union?: UnionScratch): Op[] {
  const { heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
  return attentionDecodeBatch(m.kernels, {
    q, ...m.cache.layer(l), out, B: batch.B, rows: batch.rows, positions: batch.positions, Hq, Hkv, d,
    capacity: m.capacity, scale: 1 / Math.sqrt(d), sparse, union,
  });
}

/**
 * Sparse attention for a batch (ops/attention.ts): each sequence's selector reads its own query and
 * position (copied out of the batch's before use), then each attends its own selection; a
 * sequence without a selector (null) attends every key.
 */
export function sparseBatchAttention(m: Model, batch: Batch, selects: (Selector | null)[]): DecodeAttention {
  const bytes = m.cfg.heads * m.cfg.headDim * 4;
  // Made with the step that first asks (so the step's owner collects them).
  let seqs: { q: GPUBuffer; step: GPUBuffer }[] | null = null;
  return (l, q, out) => {
    seqs ??= Array.from({ length: batch.B }, () => ({ q: storage(m.gpu, bytes, 'a sequence\'s query'), step: positions(m.gpu, [0], 'a sequence\'s position') }));
    // The positions reach the selectors' uniforms once a step, before layer 0 reads them.
    const feed = seqs.flatMap((s, b): Op[] => [
      { copy: { src: q, srcOffset: b * bytes, dst: s.q, dstOffset: 0, size: bytes } },
      ...(l === 0 ? [{ copy: { src: batch.positions, srcOffset: b * 4, dst: s.step, dstOffset: 0, size: 4 } }] : []),
    ]);
    const selections = seqs.map((s, b) => selects[b]?.(l, s.q, s.step) ?? null);
    return [
      ...feed,
      ...selections.flatMap((s) => s?.dispatches ?? []),
      ...attendSelected(m, batch, l, q, out, selections.map((s) => s?.selection ?? null)),
    ];
  };
}

/**
 * Streams the bundle's KV cache and tables into the model's cache and GPU tables; the model's cache
 * then holds the context. A layer's tensors are read together while the previous layer goes to the
 * GPU (disk reads run off the main thread, uploads on it).
 */
export async function loadContext(model: Model, bundle: Bundle): Promise<LayerTables[]> {
  const N = bundle.tokens;
  const tables: LayerTables[] = [];
  for await (const layer of readAhead(model.cfg.layers, (l) => readLayer(bundle, l))) {
    const l = tables.length;
    await model.cache.writeRows(l, 'k', layer.k, N);
    await model.cache.writeRows(l, 'v', layer.v, N);
    if (layer.scales) {
      await model.cache.writeScales(l, 'k', layer.scales.k, N);
      await model.cache.writeScales(l, 'v', layer.scales.v, N);
    }
    tables.push(await uploadTables(model.kernels, layer.tables));
  }
  model.cache.wrote(0, N);
  await model.sync();
  const bad = (await Promise.all(tables.map((t) => listsSound(model.gpu, t)))).indexOf(false);
  if (bad >= 0) tables.forEach((t) => destroyTables(model.gpu, t));
  check(bad < 0, `${bundle.path}: layer ${bad} has a list out of key order or past the context: the bundle is corrupt`, 'format');
  return tables;
}

interface LayerBytes { k: Uint8Array; v: Uint8Array; scales?: { k: Uint8Array; v: Uint8Array }; tables: TableData }

/** Reads layer l's K and V ([kvHeads, N, d] f16, or int8 and their f16 scales) and tables, all reads in flight together. */
async function readLayer(bundle: Bundle, l: number): Promise<LayerBytes> {
  const s = bundle.meta.shape;
  const c = bundle.meta.csa;
  const q8 = bundle.meta.kv === 'q8';
  const [k, v, listLen, centroids, listIdx, listScore, kScale, vScale] = await Promise.all([
    bundle.read(`L${l}.k`), bundle.read(`L${l}.v`), bundle.read(`L${l}.list_len`),
    bundle.read(`L${l}.centroids`), bundle.read(`L${l}.list_idx`), bundle.read(`L${l}.list_score`),
    ...(q8 ? [bundle.read(`L${l}.k_scale`), bundle.read(`L${l}.v_scale`)] : []),
  ]);
  const lens = new Uint32Array(aligned(listLen).buffer);
  check(lens.every((x) => x <= s.L), `${bundle.path}: layer ${l} has a list longer than ${s.L}: the bundle is corrupt`, 'format');
  const tables: TableData = {
    groups: s.groups, N: bundle.tokens, m: c.subspaces, C: c.centroids, ds: s.headDim / c.subspaces, L: s.L, width: s.L,
    centroids: new Float32Array(aligned(centroids).buffer),
    listIdx: new Uint32Array(aligned(listIdx).buffer),
    listScore: new Uint16Array(aligned(listScore).buffer),
    listLen: lens,
  };
  return { k, v, scales: q8 ? { k: kScale, v: vScale } : undefined, tables };
}

/** The bytes in an ArrayBuffer of their own (reads return such; anything else is copied). */
function aligned(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
}

export interface DecodeJob {
  bundle: string;
  modelDir: string;
  questions: Question[];
  attention: AttentionKind;
  sparse: SparseOptions;
  /** Sampling as a user sets it; the tokenizer adds its end-of-sequence ids. */
  sampling: Omit<SamplingOptions, 'stopIds'>;
  /** Where the answer's text streams as it is generated (none: only the results). */
  stream?: (text: string) => void;
  /** The weight matrices' format (default: the one the bundle was prefilled with). */
  weights?: WeightFormat;
  /** CSA's centroid choice (default: the bundle's). */
  choice?: Choice;
  /** Questions decoded together (default: defaultBatch); told to onBatch once the bundle is loaded. */
  batch?: number;
  onBatch?: (batch: number) => void;
  log: Logger;
}

/** What `csattn decode` reports of one answer. */
export interface AnswerResult {
  id: string; text: string; ids: number[]; stopReason: Generation['stopReason']; attention: AttentionKind; sparsity: number; weights: WeightFormat; kv: KvFormat;
  contextTokens: number; questionTokens: number; loadMs: number; questionPrefillMs: number; firstTokenMs: number;
  msPerToken: number; tokensPerSecond: number; contextKeysPerStep: number; keysPerStep: number; kvBytesPerStep: number;
  /** Questions that decoded together (1: one after another). */
  batch: number;
}

/**
 * The most questions that decode together by default: up to MATVEC_MAX_T, where the products still
 * take every row in one matvec, so that greedy answers equal one-by-one ones; on a GPU with tensor
 * cores (where batches of 4 and more already attend on them, in f16) up to the products' batch tiles.
 */
export const DEFAULT_MAX_BATCH = MATVEC_MAX_T;
export const DEFAULT_MAX_BATCH_TENSOR_CORES = BATCH_MMA_TOKENS;

/**
 * --batch's default: the most questions (up to DEFAULT_MAX_BATCH, or with tensor cores
 * DEFAULT_MAX_BATCH_TENSOR_CORES) whose rows, B + 1 rooms of `room` positions after the N context
 * positions, stay inside the model's positions and keep a layer's K (or V) in one GPU binding.
 */
export function defaultBatch(limits: { maxBinding: number; maxPositions: number; tensorCores: boolean }, shape: { kvHeads: number; headDim: number }, N: number, room: number, questions: number): number {
  const capacity = (B: number) => N + (B + 1) * room;
  const fits = (B: number) => capacity(B) <= limits.maxPositions && (shape.kvHeads * capacity(B) + CACHE_PAD) * shape.headDim * 2 <= limits.maxBinding;
  let B = Math.min(limits.tensorCores ? DEFAULT_MAX_BATCH_TENSOR_CORES : DEFAULT_MAX_BATCH, Math.max(questions, 1));
  while (B > 1 && !fits(B)) B--;
  return B;
}

/**
 * Loads the bundle once, with room for the longest question, and answers every question: one after
 * another, or up to `batch` at a time (Session.answerBatch); the answers come in the questions' order.
 */
export async function answerQuestions(job: DecodeJob, onAnswer: (r: AnswerResult) => void): Promise<void> {
  const tok = await Tokenizer.load(job.modelDir);
  const b = await Bundle.open(job.bundle);
  const longest = maxOf(job.questions.map((q) => questionIds(tok, b.meta.template, q.prompt).length), 0);
  const { tokens: N, meta } = b;
  await b.close();
  const room = longest + job.sampling.maxTokens;
  const gpu = await createGpu({ log: job.log });
  const limits = { maxBinding: gpu.maxBinding, maxPositions: loadConfig(job.modelDir).maxPositions, tensorCores: gpu.tensorCores };
  const B = Math.min(job.batch ?? defaultBatch(limits, meta.shape, N, room, job.questions.length), Math.max(job.questions.length, 1));
  check(B === 1 || job.sampling.promptAttention !== 'sparse', '--question-attention sparse runs each question through the decode step alone: use --batch 1', 'input');
  const session = await Session.open(job.bundle, job.modelDir, B === 1 ? room : (B + 1) * room, { weights: job.weights, choice: job.choice, log: job.log, gpu });
  job.onBatch?.(B);
  const sampling = { ...job.sampling, stopIds: tok.eosIds };
  const result = (q: Question, r: Answer, text: string): AnswerResult => ({
    id: q.id, text, ids: r.ids, stopReason: r.stopReason, attention: r.attention,
    sparsity: job.attention === 'full' ? 0 : job.sparse.sparsity, weights: session.model.weights.format, kv: session.model.cache.format, contextTokens: session.contextTokens,
    questionTokens: r.questionTokens, loadMs: session.loadMs, questionPrefillMs: r.timings.prefillMs,
    firstTokenMs: r.timings.firstTokenMs, msPerToken: r.timings.msPerToken, tokensPerSecond: r.timings.tokensPerSecond,
    contextKeysPerStep: r.contextKeysPerStep, keysPerStep: r.keysPerStep, kvBytesPerStep: r.kvBytesPerStep, batch: B,
  });
  try {
    if (B === 1) {
      for (const q of job.questions) {
        const sink = textSink(tok, job.sampling.stopStrings, job.stream ?? (() => {}));
        const r = await session.answer(q.prompt, job.attention, job.sparse, sampling, sink.onToken);
        onAnswer(result(q, r, sink.finish()));
      }
      return;
    }
    // Answers finish in any order; they are reported in the questions' order.
    const sinks = job.questions.map(() => textSink(tok, job.sampling.stopStrings, () => {}));
    const done: AnswerResult[] = [];
    let reported = 0;
    await session.answerBatch(job.questions.map((q) => q.prompt), job.attention, job.sparse, sampling, B, room, (i, r) => {
      done[i] = result(job.questions[i], r, sinks[i].finish());
      while (done[reported]) onAnswer(done[reported++]);
    }, (i, id) => sinks[i].onToken(id));
  } finally {
    await session.close();
  }
}

/** One line for people (stderr, after the answer): the attention, the keys a step attended, the speed. */
export function decodeSummary(r: AnswerResult): string {
  const share = ((100 * r.contextKeysPerStep) / r.contextTokens).toFixed(1);
  const how = r.attention === 'full' ? 'full attention' : `${r.attention} at sparsity ${r.sparsity}`;
  return `[${how}: ${r.contextKeysPerStep} of ${r.contextTokens} context keys per step (${share}%) + ${r.questionTokens} question tokens; ` +
    `${r.ids.length} tokens, ${r.msPerToken.toFixed(1)} ms/token]`;
}
