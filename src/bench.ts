/**
 * `csattn bench`: where csattn stands against the bandwidth floor. For each context length, a model
 * (a preset's shapes with random weights made on the GPU, or a real folder) prefills random tokens
 * and builds the CSA tables, optionally writes and reloads the bundle, then decodes with full
 * attention and with CSAttention. Decode at batch 1 is memory-bound: a step must read every weight
 * and the attended K/V once, so bytes / peak bandwidth is a floor no kernel can beat.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { collecting, createGpu, destroyGpu, release, type Gpu } from './gpu/device.js';
import { peakBandwidth, type Peak } from './gpu/peaks.js';
import { profileInStep, profileOps, type KernelTime } from './gpu/profile.js';
import { loadModel } from './model/load.js';
import type { Batch, DecodeAttention, Model } from './model/model.js';
import { BatchGenerator, type BatchAttention } from './batch.js';
import { presetConfig, syntheticModel } from './model/synth.js';
import { mulberry32 } from './random.js';
import { DEFAULT_CSA, destroyTables, type CsaParams, type LayerTables } from './attention/csa/tables.js';
import { Bundle, FORMAT_VERSION, identityOf, modelIdentity, type BundleMeta, type ModelIdentity } from './bundle.js';
import { batchSelectAttention, loadContext, selectOptions, sparseAttention, type SparseOptions } from './decode.js';
import { csaSelector } from './attention/methods/csa.js';
import { Generator, type SamplingOptions } from './generate.js';
import { prefillWithTables, writeContextBundle } from './prefill.js';
import { loadConfig, parseConfig, type ModelConfig } from './model/config.js';
import * as ops from './ops/dense.js';
import { buildKeyTables } from './attention/baselines.js';
import { record, storage, submit } from './gpu/kernels.js';
import type { Logger } from './log.js';
import { VERSION } from './version.js';
import type { WeightFormat } from './ops/quant.js';
import type { KvFormat } from './model/kvcache.js';


export interface BenchJob {
  /** A synth-model preset name, or a model folder. */
  preset?: string;
  modelDir?: string;
  /** The weight matrices' format. */
  weights: WeightFormat;
  /** The KV cache's format (default f16). */
  kv?: KvFormat;
  /** Fewer layers than the model (quick runs). */
  layers?: number;
  contexts: number[];
  sparse: SparseOptions;
  decodeTokens: number;
  questionTokens: number;
  csa: CsaParams;
  chunkSize: number;
  /** Write the bundle to a temp file and load it back, timing both. */
  bundleIo: boolean;
  /**
   * Skip the prefill: random K/V and tables of the same shapes clustered from the keys (decode
   * speed does not depend on the values); for decode figures at contexts whose prefill is slow.
   */
  randomContext: boolean;
  /** Kernel timings (timestamp queries) of one decode step of each attention. */
  profile: boolean;
  /** Batch sizes to decode at too (src/batch.ts): every sequence its question and decodeTokens. */
  batches?: number[];
  /** The floor's bandwidth in GB/s; by default the adapter's datasheet figure (gpu/peaks.ts). */
  peakGbps?: number;
  seed: number;
  log: Logger;
}

export interface DecodeFigures {
  msPerToken: number;
  /** Bytes one step must read: weights + attended K/V. */
  bytesPerStep: number;
  achievedGBps: number;
  /** null where the adapter's bandwidth is unknown (no table row, no --peak-gbps). */
  floorMs: number | null;
  /** floor / measured: 100% = at the bandwidth floor. */
  pctOfFloor: number | null;
  kernels?: KernelTime[];
  /** With profile: GPU time of one whole step by timestamps (msPerToken less this: time the GPU waits between steps). */
  gpuStepMs?: number;
  /** CPU time to record and submit one step (generate's timings). */
  submitMsPerStep: number;
}

/** One layer over a prefill chunk of `tokens` queries ending at position `keys`: its multiply-adds × 2. */
export interface PrefillChunk { tokens: number; keys: number; matmulFlop: number; attentionFlop: number }

/** The work of one layer-chunk: the four products over its tokens, and causal attention (QKᵀ and PV) over the keys before each. */
export function prefillChunk(cfg: Pick<ModelConfig, 'hidden' | 'heads' | 'kvHeads' | 'headDim' | 'intermediate'>, tokens: number, keys: number): PrefillChunk {
  const { hidden: H, heads, kvHeads, headDim: d, intermediate: I } = cfg;
  const weights = H * (heads + 2 * kvHeads) * d + heads * d * H + 3 * H * I;
  const keysSeen = tokens * (keys - tokens) + (tokens * (tokens + 1)) / 2; // query i of the chunk sees keys - tokens + i + 1
  return { tokens, keys, matmulFlop: 2 * tokens * weights, attentionFlop: 4 * heads * d * keysSeen };
}

/** B sequences decoding together after the context (each its own question, decodeTokens each). */
export interface BatchFigures {
  batch: number;
  attention: 'full' | 'csa';
  /** One step: a token for every sequence. */
  msPerStep: number;
  /** Tokens a second, of all sequences together and of each. */
  tokensPerSecond: number;
  perSequenceTokensPerSecond: number;
  /** With profile: GPU time per kernel of one step (all sequences), and of the whole step. */
  kernels?: KernelTime[];
  gpuStepMs?: number;
  /**
   * A batch that switches between forms of its attention (CSA's unions, decode.ts): the form its
   * steps ended in, and the share its union probe measured at the last read-back (ops/union.ts, unionShare).
   */
  form?: string;
  unionShare?: number | null;
}

export interface BenchRow {
  model: string;
  /** The weight matrices' format (absent in rows from before q8: f16). */
  weights?: WeightFormat;
  /** The KV cache's format (absent in rows from before q8 KV: f16). */
  kv?: KvFormat;
  /** CSA's settings (absent in rows from before they were recorded: the defaults of then). */
  csaParams?: CsaParams;
  adapter: string;
  /** The bandwidth the floors are computed with, and where it comes from. */
  peak: Peak | null;
  context: number;
  layers: number;
  /** 'prefill', or 'random' (see BenchJob.randomContext: no prefill figures). */
  context_kind: 'prefill' | 'random';
  prefillMs: number | null;
  prefillTokensPerSecond: number | null;
  tablesMs: number;
  bundle?: { writeMs: number; loadMs: number; bytes: number };
  full: DecodeFigures;
  csa: DecodeFigures;
  csaSpeedup: number;
  /** CSA's sparsity: the fraction of the context not attended. */
  sparsity: number;
  /** Bytes of weights a decode step reads, and of one position's K and V over all layers. */
  weightBytes: number;
  kvRowBytes: number;
  peakGpuBytes: number;
  /** With profile: GPU time per kernel of one layer over the context's last prefill chunk (the most keys). */
  prefillKernels?: KernelTime[];
  /** With profile: that layer-chunk's work, for the kernels' TFLOP/s. */
  prefillChunk?: PrefillChunk;
  /** With batches: each batch size's decode, full and csa. */
  batches?: BatchFigures[];
  /** 'own': each sequence of a batch asked its own question (batchQuestions); rows without it (before 2026-12-07) asked one question B times. */
  batchQuestions?: 'own';
}

export async function bench(job: BenchJob, onRow: (r: BenchRow) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const N of job.contexts) {
    const gpu = await createGpu({ log: job.log });
    try {
      const row = await benchContext(gpu, job, N);
      rows.push(row);
      onRow(row);
    } finally {
      destroyGpu(gpu);
    }
  }
  return rows;
}

function modelName(job: BenchJob): string {
  return job.preset ?? job.modelDir!;
}

function configOf(job: BenchJob): ModelConfig {
  return job.modelDir ? loadConfig(job.modelDir) : parseConfig(presetConfig(job.preset!, job.layers), job.preset);
}

async function modelOf(gpu: Gpu, job: BenchJob, capacity: number): Promise<Model> {
  const opts = { capacity, chunkSize: job.chunkSize, weights: job.weights, kv: job.kv };
  if (job.modelDir) return loadModel(gpu, job.modelDir, opts);
  return syntheticModel(gpu, presetConfig(job.preset!, job.layers), { ...opts, seed: job.seed });
}

async function benchIdentity(job: BenchJob, model: Model): Promise<ModelIdentity> {
  if (job.modelDir) return modelIdentity(job.modelDir, loadConfig(job.modelDir), job.weights);
  const config = createHash('sha256').update(JSON.stringify(model.cfg)).digest('hex');
  return identityOf({ config, tokenizer: 'none', tensors: config, weights: `uniform seed ${job.seed}` }, job.weights, model.cfg.architecture, job.preset!);
}

async function benchContext(gpu: Gpu, job: BenchJob, context: number): Promise<BenchRow> {
  const log = job.log;
  const room = job.questionTokens + job.decodeTokens + 1;
  // A context of the model's full window leaves the question and answer their room inside it (a
  // batch's B + 1 rooms, kvcache.ts).
  const rooms = job.batches?.length ? Math.max(...job.batches) + 1 : 1;
  const N = Math.min(context, configOf(job).maxPositions - rooms * room);
  const model = await modelOf(gpu, job, N + rooms * room);
  const rand = mulberry32(job.seed + N);
  const ids = Array.from({ length: N }, () => Math.floor(rand() * model.cfg.vocab));
  const question = Array.from({ length: job.questionTokens }, () => Math.floor(rand() * model.cfg.vocab));
  const questions = batchQuestions(question, Math.max(1, rooms - 1), job.seed + N, model.cfg.vocab);
  log.info({ model: modelName(job), context: N, random: job.randomContext }, 'context');
  let { tables, prefillMs, tablesMs } = job.randomContext ? { ...(await randomContext(model, N, job)), prefillMs: null } : await prefillWithTables(model, ids, job.csa, log);

  let bundle: BenchRow['bundle'];
  if (job.bundleIo) {
    const r = await bundleRoundTrip(job, model, tables, ids);
    bundle = r.figures;
    tables = r.tables;
  }

  const generator = new Generator(model);
  const sampling: SamplingOptions = { maxTokens: job.decodeTokens, temperature: 0, topP: 1, seed: 0, stopIds: [] };
  const opts = selectOptions(job.sparse, N, model.capacity);
  const csa = sparseAttention(model, csaSelector(model, tables, job.csa, opts));
  const layers = model.cfg.layers;
  const kvRowBytes = layers * model.cache.bytesPerPosition; // K and V of one position, all layers
  const peak = peakBandwidth(gpu.adapterName, job.peakGbps);
  const figures = async (name: 'full' | 'csa'): Promise<DecodeFigures> => {
    const attention = name === 'full' ? model.fullAttention : csa;
    log.info({ context: N, attention: name }, 'decode');
    // A short warm-up run compiles the step's kernels first; both put the question after the context.
    await generator.generate(question, N, { ...sampling, maxTokens: 2 }, undefined, attention, name);
    const g = await generator.generate(question, N, sampling, undefined, attention, name);
    const attended = (name === 'full' ? N : Math.round((1 - job.sparse.sparsity) * N)) + job.questionTokens + job.decodeTokens / 2;
    const bytesPerStep = model.weightBytesPerToken() + attended * kvRowBytes;
    const floorMs = peak ? bytesPerStep / peak.gbps / 1e6 : null;
    const ms = g.timings.msPerToken;
    const profile = job.profile ? await profileStep(model, attention, N + job.questionTokens) : undefined;
    return {
      msPerToken: ms, bytesPerStep, achievedGBps: bytesPerStep / ms / 1e6, floorMs, pctOfFloor: floorMs === null ? null : (100 * floorMs) / ms,
      submitMsPerStep: g.timings.submitMsPerStep, ...profile,
    };
  };
  const full = await figures('full');
  const sparse = await figures('csa');
  const batches: BatchFigures[] = [];
  for (const B of job.batches ?? []) {
    for (const name of ['full', 'csa'] as const) {
      log.info({ context: N, attention: name, batch: B }, 'batched decode');
      const attention = (batch: Batch) => (name === 'full' ? model.batchAttention(batch) : batchSelectAttention(model, batch, csaSelector(model, tables, job.csa, selectOptions(job.sparse, N, N + room))));
      batches.push({ batch: B, attention: name, ...(await batchFigures(model, N, B, room, attention, questions.slice(0, B), job.decodeTokens, !!job.profile)) });
    }
  }
  // Last: it rewrites layer 0's cache of that chunk from whatever the scratch holds.
  const T = Math.min(job.chunkSize, N);
  const prefillKernels = job.profile ? await profileOps(gpu, model.layerPrefillOps(0, T), 2, () => model.setPosition(N - T)) : undefined;
  const row: BenchRow = {
    model: modelName(job), weights: job.weights, kv: model.cache.format, csaParams: job.csa, adapter: gpu.adapterName, peak, context: N, layers, context_kind: job.randomContext ? 'random' : 'prefill',
    prefillMs, prefillTokensPerSecond: prefillMs === null ? null : (N * 1000) / prefillMs, tablesMs, bundle, full, csa: sparse,
    csaSpeedup: full.msPerToken / sparse.msPerToken, sparsity: job.sparse.sparsity, weightBytes: model.weightBytesPerToken(), kvRowBytes, peakGpuBytes: gpu.memory.peak, prefillKernels,
    ...(prefillKernels ? { prefillChunk: prefillChunk(model.cfg, T, N) } : {}),
    ...(job.batches?.length ? { batches, batchQuestions: 'own' as const } : {}),
  };
  for (const t of tables) destroyTables(gpu, t);
  return row;
}

/**
 * The questions of a batch of up to B sequences: the single sequence's first, then questions of the
 * same length of their own (random tokens), so that CSA selects for each what its question asks
 * (one question B times would select the same keys B times: one union, lists read from cache).
 */
export function batchQuestions(first: number[], B: number, seed: number, vocab: number): number[][] {
  const rand = mulberry32(seed ^ 0x5eed);
  return [first, ...Array.from({ length: B - 1 }, () => first.map(() => Math.floor(rand() * vocab)))];
}

/** Decode speed of B sequences together, each after the context with its question, greedy. */
async function batchFigures(model: Model, N: number, B: number, room: number, attention: (b: Batch) => BatchAttention, questions: number[][], tokens: number, profile: boolean) {
  const made: GPUBuffer[] = [];
  const batch = collecting(model.gpu, made, () => model.batch(N, B, room));
  const generator = collecting(model.gpu, made, () => new BatchGenerator(model, batch, { temperature: 0, topP: 1, seed: 0 }, attention(batch)));
  const prompts = (maxTokens: number) => questions.map((ids) => ({ ids, maxTokens, stopIds: [] }));
  try {
    // Compiles the step's kernels (and reads a switched attention's first probe: the timed run starts in its form).
    await generator.run(prompts(2), () => {});
    const r = await generator.run(prompts(tokens), () => {});
    const state = generator.switchState;
    const form = state ? { form: state.form, unionShare: state.measured } : {};
    const kernels = profile ? await collecting(model.gpu, made, () => profileBatchStep(model, batch, generator.attention, questions[0]!.length)) : undefined;
    return { msPerStep: r.decodeMs / r.steps, tokensPerSecond: (r.tokens * 1000) / r.decodeMs, perSequenceTokensPerSecond: (r.steps * 1000) / r.decodeMs, ...form, ...kernels };
  } finally {
    generator.destroy();
    for (const b of made) release(model.gpu, b);
  }
}

/**
 * Random K/V for positions [0, N) of every layer (f16 in [-1, 1]; for q8, those bits as int8 with
 * scales of 1/64), and key-clustered tables of CSA's shapes.
 */
async function randomContext(model: Model, N: number, job: BenchJob): Promise<{ tables: LayerTables[]; tablesMs: number }> {
  const { layers, heads: Hq, kvHeads: Hkv, headDim: d } = model.cfg;
  const t0 = performance.now();
  const tables: LayerTables[] = [];
  for (let l = 0; l < layers; l++) {
    for (const [i, cache] of [model.cache.k[l], model.cache.v[l]].entries()) {
      submit(model.gpu, (pass) => record(pass, ops.fillUniform(model.kernels, { out: cache, n: cache.size / 2, center: 0, half: 1, seed: job.seed + 2 * l + i })));
    }
    for (const scale of Object.values(model.cache.scales[l] ?? {})) model.gpu.device.queue.writeBuffer(scale, 0, new Float32Array(scale.size / 4).fill(1 / 64));
    tables.push(await buildKeyTables(model.kernels, {
      kCache: model.f16Keys(l, N), N, Hq, Hkv, d, capacity: model.capacity, invFreq: model.invFreq,
      params: { ...job.csa, granularity: 'kv-head' },
    }));
  }
  model.cache.wrote(0, N);
  return { tables, tablesMs: performance.now() - t0 };
}

/** Writes the bundle to a temp file and loads it back into the model (KV and tables), timed. */
async function bundleRoundTrip(job: BenchJob, model: Model, tables: LayerTables[], ids: number[]) {
  const dir = await mkdtemp(join(tmpdir(), 'csattn-bench-'));
  const path = join(dir, 'context.csa');
  try {
    const c = model.cfg;
    const meta: BundleMeta = {
      formatVersion: FORMAT_VERSION, csattnVersion: VERSION, model: await benchIdentity(job, model), contextIds: ids,
      template: { kind: 'plain', separator: '', suffix: '' }, csa: job.csa, kv: model.cache.format,
      shape: { layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, groups: tables[0].groups, L: tables[0].L },
      stats: { adapter: model.gpu.adapterName },
    };
    const t0 = performance.now();
    await writeContextBundle(path, meta, model, tables, job.log);
    const writeMs = performance.now() - t0;
    const bytes = (await stat(path)).size;
    for (const t of tables) destroyTables(model.gpu, t);
    const t1 = performance.now();
    const bundle = await Bundle.open(path);
    try {
      const loaded = await loadContext(model, bundle);
      return { figures: { writeMs, loadMs: performance.now() - t1, bytes }, tables: loaded };
    } finally {
      await bundle.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** GPU time per kernel of one decode step at position `pos`, and of the whole step (the step's cache stays as it was). */
async function profileStep(model: Model, attention: Parameters<Model['decodeOps']>[0], pos: number): Promise<Pick<DecodeFigures, 'kernels' | 'gpuStepMs'>> {
  const step = model.decodeOps(attention, (logits) => ops.argmax(model.kernels, { logits, next: model.nextToken, history: storage(model.gpu, (model.capacity + 1) * 4, 'profiled token history'), step: model.step, V: model.cfg.vocab }));
  const { kernels, wholeMs } = await profileInStep(model.gpu, step, 3, () => model.setPosition(pos));
  return { kernels, gpuStepMs: wholeMs };
}

/** profileStep for a batch: every sequence at `own` positions past the context. */
function profileBatchStep(model: Model, batch: Batch, attention: DecodeAttention, own: number): Promise<Pick<BatchFigures, 'kernels' | 'gpuStepMs'>> {
  const history = storage(model.gpu, batch.B * 4, 'profiled batch history');
  const step = model.batchOps(batch, attention, (logits) => ops.argmax(model.kernels, { logits, next: batch.next, history, step: batch.positions, V: model.cfg.vocab, batch: { B: batch.B, positions: batch.positions } }));
  const positions = Uint32Array.from([...Array<number>(batch.B).fill(batch.rows.ctx + own), 0]);
  return profileInStep(model.gpu, step, 3, () => model.gpu.device.queue.writeBuffer(batch.positions, 0, positions)).then(({ kernels, wholeMs }) => ({ kernels, gpuStepMs: wholeMs }));
}

/** What sets a row apart from f16 weights and K/V and CSA's default settings ('' for nothing). */
export function variantOf(r: Pick<BenchRow, 'weights' | 'kv' | 'csaParams'>): string {
  const csa = Object.entries(r.csaParams ?? {}).filter(([k, v]) => DEFAULT_CSA[k as keyof CsaParams] !== v).map(([k, v]) => `${k} ${v}`);
  return [r.weights && r.weights !== 'f16' ? `${r.weights} weights` : '', r.kv && r.kv !== 'f16' ? `${r.kv} K/V` : '', ...csa].filter(Boolean).join(', ');
}

const named = (r: BenchRow) => (variantOf(r) ? `${r.model} (${variantOf(r)})` : r.model);

/**
 * The rows as Markdown table lines: for each attention ms/token, GB/s achieved and % of the floor;
 * with `torchMs` (PyTorch's decode ms/token at a row's shape, when measured), two more columns.
 */
export function benchTable(rows: BenchRow[], torchMs?: (r: BenchRow) => number | undefined): string[] {
  const f = (x: number | null, digits = 1) => (x === null ? '-' : x.toFixed(digits));
  const torchHead = torchMs ? ' PyTorch ms/tok | full / PyTorch |' : '';
  const head = `| model | context | kind | prefill tok/s | tables s | write s | load s | full ms/tok | full GB/s | full % floor | csa ms/tok | csa GB/s | csa % floor | csa/full speed-up |${torchHead} peak GPU GiB | floor at GB/s |`;
  const decode = (d: DecodeFigures) => `${f(d.msPerToken, 2)} | ${f(d.achievedGBps, 0)} | ${d.pctOfFloor === null ? '-' : `${f(d.pctOfFloor, 0)}%`}`;
  const line = (r: BenchRow) => {
    const t = torchMs?.(r);
    const torch = torchMs ? ` ${t ? f(t, 2) : '-'} | ${t ? f(r.full.msPerToken / t, 2) : '-'} |` : '';
    const io = r.bundle ? `${f(r.bundle.writeMs / 1e3)} | ${f(r.bundle.loadMs / 1e3)}` : '- | -';
    return `| ${named(r)} | ${r.context} | ${r.context_kind} | ${f(r.prefillTokensPerSecond, 0)} | ${f(r.tablesMs / 1e3)} | ${io} | ${decode(r.full)} | ${decode(r.csa)} | ${f(r.csaSpeedup, 2)}x |${torch} ${f(r.peakGpuBytes / 2 ** 30)} | ${r.peak ? `${r.peak.gbps} (${r.peak.source})` : 'unknown: --peak-gbps'} |`;
  };
  return [head, head.replace(/[^|]+/g, '---'), ...rows.map(line)];
}

/** The rows as a Markdown table for people, and each row's GPU time per kernel (the JSON has every figure). */
export function formatBench(rows: BenchRow[]): string {
  const f = (x: number | null, digits = 1) => (x === null ? '-' : x.toFixed(digits));
  const list = (ks: KernelTime[]) => ks.slice(0, 8).map((k) => `${k.kernel} ${f(k.ms, 3)} ms (${Math.round(k.calls)}x${k.stepMs === undefined ? '' : `; ${f(k.stepMs, 3)} ms of the step`})`).join(', ');
  const kernels = rows.flatMap((r) => [
    ...(['full', 'csa'] as const).filter((a) => r[a].kernels).map((a) => `${named(r)} ${r.context} ${a} decode step (${f(r[a].gpuStepMs ?? null, 2)} ms on the GPU, ${f(r[a].submitMsPerStep, 2)} ms on the CPU to submit): ${list(r[a].kernels!)}`),
    ...(r.batches ?? []).filter((b) => b.kernels).map((b) => `${named(r)} ${r.context} ${b.attention} batch ${b.batch} step (${f(b.gpuStepMs ?? null, 2)} ms on the GPU): ${list(b.kernels!)}`),
    ...(r.prefillKernels ? [`${named(r)} ${r.context} prefill, one layer of the last chunk: ${list(r.prefillKernels)}`] : []),
  ]);
  const batches = batchTable(rows);
  return [...benchTable(rows), ...(batches.length ? ['', ...batches] : []), ...(kernels.length ? ['', 'GPU time per kernel, largest first:', ...kernels] : [])].join('\n') + '\n';
}

/** The rows' batched decode as Markdown table lines: per batch size, ms a step and tokens/s of all sequences and of each, full and csa. */
export function batchTable(rows: BenchRow[]): string[] {
  const lines = rows.flatMap((r) => [...new Set((r.batches ?? []).map((b) => b.batch))].map((B) => {
    const of = (a: 'full' | 'csa') => {
      const b = r.batches!.find((x) => x.batch === B && x.attention === a)!;
      return `${b.msPerStep.toFixed(2)} | ${b.tokensPerSecond.toFixed(1)} | ${b.perSequenceTokensPerSecond.toFixed(1)}`;
    };
    const csa = r.batches!.find((x) => x.batch === B && x.attention === 'csa')!;
    const form = csa.form ? `${csa.form}${typeof csa.unionShare === 'number' ? ` (union share ${csa.unionShare.toFixed(2)})` : ''}` : '-';
    return `| ${r.model}${r.weights && r.weights !== 'f16' ? ` (${r.weights})` : ''} | ${r.context} | ${B} | ${of('full')} | ${of('csa')} | ${form} |`;
  }));
  if (!lines.length) return [];
  const head = '| model | context | batch | full ms/step | full tok/s | full tok/s a sequence | csa ms/step | csa tok/s | csa tok/s a sequence | csa attends |';
  return [head, head.replace(/[^|]+/g, '---'), ...lines];
}
