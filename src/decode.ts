/**
 * CSAttention's online phase: load a bundle into GPU buffers once, then answer questions. Each
 * question is prefilled over the stored context with full attention; every generated token then
 * attends to the keys CSAttention selects (sinks, recent window, the question and answer so far,
 * and the top-scoring context keys), and is inserted into the lookup lists.
 */
import { check } from './errors.js';
import { createGpu } from './gpu/device.js';
import { Model, type DecodeAttention, type Op } from './model/model.js';
import { Tokenizer } from './tokenizer.js';
import { Generator, type Generation, type SamplingOptions } from './generate.js';
import { Bundle, checkSameModel, modelIdentity, type ModelIdentity } from './bundle.js';
import { destroyTables, insertDispatches, selectDispatches, uploadTables, type LayerTables, type TableData } from './attention/csa.js';
import { attentionDecode } from './ops/attention.js';
import { questionIds } from './template.js';

export type AttentionKind = 'full' | 'csa';

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
  /** Bytes of K and V one decode step reads per layer-sum (for bandwidth figures). */
  kvBytesPerStep: number;
}

export class Session {
  private generator: Generator;
  private attentions = new Map<string, DecodeAttention>();
  /** Set once a CSA answer has inserted keys into the lists. */
  private dirty = false;

  private constructor(
    readonly bundle: Bundle,
    readonly model: Model,
    readonly tok: Tokenizer,
    readonly tables: LayerTables[],
    private readonly pristine: TableData[],
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
   * streams the KV cache and the tables into GPU buffers. `room` = question + answer positions.
   */
  static async open(bundlePath: string, modelDir: string, room: number, loaded?: { model: Model; identity: ModelIdentity }): Promise<Session> {
    const t0 = performance.now();
    const bundle = await Bundle.open(bundlePath);
    try {
      const tok = await Tokenizer.load(modelDir);
      const N = bundle.tokens;
      const model = loaded?.model ?? (await Model.load(await createGpu(), modelDir, { capacity: N + room }));
      check(model.capacity >= N + room, `the bundle's ${N} tokens and ${room} more do not fit the loaded model's cache (${model.capacity})`, 'too-long');
      checkSameModel(bundle.meta.model, loaded?.identity ?? (await modelIdentity(modelDir, model.cfg)), bundlePath, modelDir);
      const s = bundle.meta.shape;
      check(s.layers === model.cfg.layers && s.kvHeads === model.cfg.kvHeads && s.headDim === model.cfg.headDim,
        `${bundlePath}: bundle shapes do not match the model`, 'wrong-model');
      const tableData: TableData[] = [];
      const tables: LayerTables[] = [];
      for (let l = 0; l < model.cfg.layers; l++) {
        await uploadRows(model, bundle, `L${l}.k`, model.kCache[l], N);
        await uploadRows(model, bundle, `L${l}.v`, model.vCache[l], N);
        const data = await readTables(bundle, l);
        tableData.push(data);
        tables.push(uploadTables(model.gpu, data, room));
      }
      model.length = N;
      await model.sync();
      return new Session(bundle, model, tok, tables, tableData, performance.now() - t0, !loaded);
    } catch (e) {
      await bundle.close();
      throw e;
    }
  }

  /** Answers one question from the stored context (which is left as it was for the next one). */
  async answer(question: string, attention: AttentionKind, sparse: SparseOptions, o: SamplingOptions,
    onToken?: (id: number) => boolean | void): Promise<Answer> {
    check(question.trim().length > 0, 'the question is empty');
    const N = this.contextTokens;
    const ids = questionIds(this.tok, this.bundle.meta.template, question);
    check(ids.length + o.maxTokens <= this.model.capacity - N,
      `the question (${ids.length} tokens) and ${o.maxTokens} new tokens need ${ids.length + o.maxTokens} positions after the context; the session has room for ${this.model.capacity - N}`, 'too-long');
    this.model.length = N;
    if (attention === 'csa') {
      if (this.dirty) this.resetTables();
      this.dirty = true;
    }
    const att = attention === 'full' ? this.model.fullAttention : this.csaAttention(sparse);
    const key = attention === 'full' ? 'full' : `csa:${sparse.sparsity}:${sparse.sink}:${sparse.window}`;
    const r = await this.generator.generate(ids, o, onToken, att, key);
    const { kvHeads, headDim: d, layers } = this.model.cfg;
    const keys = attention === 'full' ? N + ids.length + r.ids.length / 2 : Math.round((1 - sparse.sparsity) * N) + ids.length + r.ids.length / 2;
    return { ...r, questionTokens: ids.length, attention, kvBytesPerStep: 2 * layers * kvHeads * d * 2 * keys };
  }

  /** CSAttention for every layer: select from the tables, attend over the selection, insert the new key. */
  private csaAttention(sp: SparseOptions): DecodeAttention {
    const key = `${sp.sparsity}:${sp.sink}:${sp.window}`;
    let att = this.attentions.get(key);
    if (att) return att;
    const m = this.model;
    const { heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
    const params = this.bundle.meta.csa;
    const N = this.contextTokens;
    const opts = { sparsity: sp.sparsity, sink: sp.sink, window: sp.window, N, maxNewTokens: m.capacity - N };
    att = (l, q, out): Op[] => {
      const plan = selectDispatches(m.kernels, { q, tables: this.tables[l], step: m.step, Hq, Hkv, d, invFreq: m.invFreq, params, opts });
      return [
        ...plan.dispatches,
        ...attentionDecode(m.kernels, {
          q, kCache: m.kCache[l], vCache: m.vCache[l], out, step: m.step, Hq, Hkv, d,
          capacity: m.capacity, scale: 1 / Math.sqrt(d), sparse: plan.selection,
        }),
        ...insertDispatches(m.kernels, { kCache: m.kCache[l], tables: this.tables[l], step: m.step, Hq, Hkv, d, capacity: m.capacity, invFreq: m.invFreq, params }),
      ];
    };
    this.attentions.set(key, att);
    return att;
  }

  /** Undoes the previous answer's streaming inserts: lists back to their prefill state. */
  private resetTables(): void {
    this.tables.forEach((t, l) => {
      const fresh = uploadTables(this.model.gpu, this.pristine[l], t.Lcap - this.pristine[l].width);
      const enc = this.model.gpu.device.createCommandEncoder();
      for (const k of ['listIdx', 'listScore', 'listLen'] as const) enc.copyBufferToBuffer(fresh[k], 0, t[k], 0, fresh[k].size);
      this.model.gpu.device.queue.submit([enc.finish()]);
      for (const b of [fresh.centroids, fresh.listIdx, fresh.listScore, fresh.listLen]) b.destroy();
    });
  }

  async close(): Promise<void> {
    await this.bundle.close();
    for (const t of this.tables) destroyTables(t);
    if (this.ownsModel) this.model.destroy();
  }
}

/** Streams a [heads, N, d] f16 tensor of the bundle into a [heads, capacity, d] cache. */
async function uploadRows(model: Model, bundle: Bundle, name: string, cache: GPUBuffer, N: number): Promise<void> {
  const { kvHeads, headDim: d } = model.cfg;
  const row = N * d * 2;
  for (let h = 0; h < kvHeads; h++) {
    const bytes = await bundle.readRange(name, h * row, row);
    model.gpu.device.queue.writeBuffer(cache, h * model.capacity * d * 2, bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

async function readTables(bundle: Bundle, l: number): Promise<TableData> {
  const s = bundle.meta.shape;
  const c = bundle.meta.csa;
  const typed = async <T>(name: string, make: (b: ArrayBuffer) => T): Promise<T> => {
    const b = await bundle.read(`L${l}.${name}`);
    return make(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  };
  const listLen = await typed('list_len', (b) => new Uint32Array(b));
  check(listLen.every((x) => x <= s.L), `${bundle.path}: layer ${l} has a list longer than ${s.L}: the bundle is corrupt`, 'format');
  const listIdx = await typed('list_idx', (b) => new Uint32Array(b));
  check(listIdx.every((x) => x < bundle.tokens), `${bundle.path}: layer ${l} lists a key past the context: the bundle is corrupt`, 'format');
  return {
    groups: s.groups, N: bundle.tokens, m: c.subspaces, C: c.centroids, ds: s.headDim / c.subspaces, L: s.L, width: s.L,
    centroids: await typed('centroids', (b) => new Float32Array(b)),
    listIdx,
    listScore: await typed('list_score', (b) => new Uint16Array(b)),
    listLen,
  };
}
