/**
 * CSAttention's offline phase: run the model over a document once, layer by layer, build each
 * layer's lookup tables from its queries while they exist, and write KV cache + tables + metadata
 * as one .csa bundle.
 */
import { CsattnError, check } from './errors.js';
import { createGpu, fmtBytes } from './gpu/device.js';
import { GpuStopwatch } from './gpu/profile.js';
import { loadConfig } from './model/config.js';
import { loadModel } from './model/load.js';
import type { Model, ModelOptions } from './model/model.js';
import type { WeightFormat } from './ops/quant.js';
import type { KvFormat } from './model/kvcache.js';
import { Tokenizer } from './tokenizer.js';
import { buildScratch, queueBuild, tableBuild, type BuildScratch } from './attention/csa/build.js';
import { destroyTables, downloadTables, type CsaParams, type LayerTables, type TableData } from './attention/csa/tables.js';
import { FORMAT_VERSION, modelIdentity, writeBundle, type BundleMeta, type BundleTemplate, type LayerTensors } from './bundle.js';
import { contextIds, splitTemplate, truncateIds } from './template.js';
import { progress, type Logger } from './log.js';
import { VERSION } from './version.js';
import { checkWritable, readDocument } from './fsutil.js';
import { DEFAULT_SPARSE, selectOptions, sparseAttention } from './decode.js';
import { csaSelector } from './attention/methods/csa.js';
import { Generator } from './generate.js';
import { mulberry32 } from './random.js';
import { DEFAULT_QUESTION, costStats, type DecodeProbe } from './costs.js';

export interface PrefillJob {
  document: string;
  out: string;
  modelDir: string;
  /** The weight matrices' format (a bundle is decoded in the format it was prefilled with). */
  weights: WeightFormat;
  /** The KV cache's format, in the GPU and in the bundle (default f16). */
  kv?: KvFormat;
  /** 'auto' | 'plain' | 'chat' | a custom template with {context} and {prompt}. */
  template: string;
  truncate?: 'middle' | 'end';
  /** Positions kept free for the question and answer when checking the model's window. */
  reserve: number;
  chunkSize: number;
  csa: CsaParams;
  /** Tokens of the question the decode probe prefills (see probeDecode); DEFAULT_QUESTION's when absent. */
  questionTokens?: number;
  log: Logger;
}

export interface PrefillSummary {
  out: string;
  tokens: number;
  truncatedFrom: number | null;
  prefillMs: number;
  tablesMs: number;
  writeMs: number;
  totalMs: number;
  tokensPerSecond: number;
  peakGpuBytes: number;
  kvBytes: number;
  tableBytes: number;
  fileBytes: number;
  adapter: string;
  /** The short decode at the end of the prefill; null when not run (no room after the context, or a model passed in). */
  probe: DecodeProbe | null;
  /** The rate at which the model's weights were loaded; null when the model was passed in. */
  modelLoadBytesPerSecond: number | null;
}

export async function prefillDocument(job: PrefillJob): Promise<PrefillSummary> {
  const t0 = performance.now();
  const text = await readDocument(job.document);
  await checkWritable(job.out);
  const tok = await Tokenizer.load(job.modelDir);
  const template = splitTemplate(tok, job.template);
  let ids = contextIds(tok, template, text);
  const cfg = loadConfig(job.modelDir);
  const window = Math.min(cfg.maxPositions, cfg.slidingWindow ?? Infinity);
  const limit = window - job.reserve;
  check(limit > 0, `--reserve ${job.reserve} leaves no room for a context in the model's ${window} positions`, 'input');
  let truncatedFrom: number | null = null;
  if (ids.length > limit) {
    if (!job.truncate) {
      throw new CsattnError(`the document is ${ids.length} tokens; the model takes ${window} positions with ${job.reserve} reserved for the question and answer: ${ids.length - limit} tokens too many (use --truncate middle|end, or a smaller --reserve)`, 'too-long');
    }
    truncatedFrom = ids.length;
    ids = truncateIds(ids, limit, job.truncate);
    job.log.warn({ from: truncatedFrom, to: ids.length, how: job.truncate }, 'document truncated');
  }
  const summary = await prefillIds({
    ...job, ids, template: { kind: template.kind, separator: template.separator, suffix: template.suffix },
    stats: { truncatedFrom: truncatedFrom ?? 'none' },
    probe: { questionTokens: job.questionTokens ?? DEFAULT_QUESTION.questionTokens, window },
  });
  return { ...summary, truncatedFrom, totalMs: performance.now() - t0 };
}

export interface PrefillIdsJob {
  ids: number[];
  template: BundleTemplate;
  out: string;
  modelDir: string;
  /** The weight and KV formats to load the model in (a model passed in has its own). */
  weights?: WeightFormat;
  kv?: KvFormat;
  chunkSize: number;
  csa: CsaParams;
  log: Logger;
  stats?: Record<string, string | number>;
  /** A loaded model to reuse (eval prefills many contexts); its cache is overwritten. */
  model?: Model;
  /** Time a short decode after the prefill (when the model is loaded here and the question fits the model's window). */
  probe?: { questionTokens: number; window: number };
}

/** Prefills context ids, builds the tables layer by layer, and writes the bundle. */
export async function prefillIds(job: PrefillIdsJob): Promise<PrefillSummary> {
  const t0 = performance.now();
  const { log, ids } = job;
  const N = ids.length;
  const probeRoom = job.probe ? job.probe.questionTokens + PROBE_STEPS + 1 : 0;
  const probing = !job.model && job.probe !== undefined && N + probeRoom <= job.probe.window;
  const loaded = job.model ? { model: job.model, bytesPerSecond: null }
    : await loadTimed(job.modelDir, { capacity: N + (probing ? probeRoom : 0), chunkSize: job.chunkSize, weights: job.weights, kv: job.kv }, log);
  const model = loaded.model;
  check(model.capacity >= N, `a context of ${N} tokens does not fit the loaded model's cache (${model.capacity})`, 'too-long');
  const gpu = model.gpu;
  const identity = await modelIdentity(job.modelDir, model.cfg, model.weights.format);
  const { heads, kvHeads, headDim: d, layers } = model.cfg;
  const { tables, prefillMs, tablesMs } = await prefillWithTables(model, ids, job.csa, log);
  const probe = probing ? await probeDecode(model, tables, job.csa, N, job.probe!.questionTokens) : null;
  if (job.probe && !probing && !job.model) log.warn('no room after the context for the decode probe: the break-even is not measured');
  const t2 = performance.now();
  const meta: BundleMeta = {
    formatVersion: FORMAT_VERSION,
    csattnVersion: VERSION,
    model: identity,
    contextIds: ids,
    template: job.template,
    csa: job.csa,
    kv: model.cache.format,
    shape: { layers, heads, kvHeads, headDim: d, groups: tables[0].groups, L: tables[0].L },
    stats: {
      prefillMs: Math.round(prefillMs), tablesMs: Math.round(tablesMs), adapter: gpu.adapterName, ...job.stats,
      ...costStats(probe, loaded.bytesPerSecond),
    },
  };
  // Counted as written: a bundle written through to a pipe has no size to stat.
  const fileBytes = await writeContextBundle(job.out, meta, model, tables, log);
  const writeMs = performance.now() - t2;
  const kvBytes = 2 * layers * kvHeads * N * (model.cache.format === 'f16' ? 2 * d : d + 2); // + f16 scales
  const summary: PrefillSummary = {
    out: job.out,
    tokens: N,
    truncatedFrom: null,
    prefillMs,
    tablesMs,
    writeMs,
    totalMs: performance.now() - t0,
    tokensPerSecond: (N * 1000) / prefillMs,
    peakGpuBytes: gpu.memory.peak,
    kvBytes,
    tableBytes: fileBytes - kvBytes,
    fileBytes,
    adapter: gpu.adapterName,
    probe,
    modelLoadBytesPerSecond: loaded.bytesPerSecond,
  };
  for (const t of tables) destroyTables(gpu, t);
  if (!job.model) model.destroy();
  return summary;
}

/** Loads the model, timing the weights' read and upload: the rate estimates a bundle's load (src/costs.ts). */
async function loadTimed(dir: string, opts: ModelOptions, log: Logger): Promise<{ model: Model; bytesPerSecond: number }> {
  let bytes = 0;
  const t0 = performance.now();
  const model = await loadModel(await createGpu({ log }), dir, { ...opts, onProgress: (_, total) => { bytes = total; } });
  return { model, bytesPerSecond: (1000 * bytes) / (performance.now() - t0) };
}

/** Decode steps the probe times, after one untimed step that compiles them. */
const PROBE_STEPS = 4;

/**
 * A short decode over the prefilled context, for the break-even (src/costs.ts): a question of
 * random tokens (speed does not depend on values) prefilled after the context, then PROBE_STEPS
 * tokens with full attention and with CSA at the default sparsity, each after a warm-up run (of a
 * one-token question: it only compiles the decode step). The context's cache and tables are left
 * as they were.
 */
async function probeDecode(model: Model, tables: LayerTables[], csa: CsaParams, N: number, questionTokens: number): Promise<DecodeProbe> {
  const rand = mulberry32(csa.seed + N);
  const question = Array.from({ length: questionTokens }, () => Math.floor(rand() * model.cfg.vocab));
  const generator = new Generator(model);
  const sparse = DEFAULT_SPARSE;
  const csaAttention = sparseAttention(model, csaSelector(model, tables, csa, selectOptions(sparse, N, model.capacity)));
  const timed = async (name: 'full' | 'csa') => {
    const attention = name === 'full' ? model.fullAttention : csaAttention;
    const run = (ids: number[], maxTokens: number) =>
      generator.generate(ids, N, { maxTokens, temperature: 0, topP: 1, seed: 0, stopIds: [] }, undefined, attention, name);
    await run(question.slice(0, 1), 2);
    return (await run(question, PROBE_STEPS + 1)).timings;
  };
  const full = await timed('full');
  const sparseRun = await timed('csa');
  model.cache.truncate(N);
  return {
    questionTokens, questionMs: full.prefillMs, decodeSteps: PROBE_STEPS,
    fullMsPerToken: full.msPerToken, csaMsPerToken: sparseRun.msPerToken, sparsity: sparse.sparsity,
  };
}

/** Writes the model's cache of the context (meta.contextIds) and its tables as a bundle at `out`; returns its size. */
export async function writeContextBundle(out: string, meta: BundleMeta, model: Model, tables: LayerTables[], log: Logger): Promise<number> {
  const gpu = model.gpu;
  const N = meta.contextIds.length;
  const wbar = progress(log, 'write', model.cfg.layers, 'layers');
  let downloaded: { l: number; data: TableData } | null = null;
  const tableData = async (l: number) => {
    if (downloaded?.l !== l) downloaded = { l, data: await downloadTables(gpu, tables[l]) };
    return downloaded.data;
  };
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const size = await writeBundle(out, meta, (l): LayerTensors => ({
    k: () => model.cache.readRows(l, 'k', N),
    v: () => model.cache.readRows(l, 'v', N),
    ...(meta.kv === 'q8' ? { kScale: () => model.cache.readScales(l, 'k', N), vScale: () => model.cache.readScales(l, 'v', N) } : {}),
    centroids: async () => bytes((await tableData(l)).centroids),
    listIdx: async () => bytes((await tableData(l)).listIdx),
    listScore: async () => bytes((await tableData(l)).listScore),
    listLen: async () => { wbar.update(l + 1); return bytes((await tableData(l)).listLen); },
  }));
  wbar.stop();
  return size;
}

/**
 * Prefills `ids` into the model's cache (from position 0) and builds every layer's CSA tables from
 * that layer's queries while they exist, each build queued behind its layer (its setup on the CPU
 * while the GPU runs the layer). tablesMs is the builds' GPU time (timestamps; 0 on a GPU without
 * them, whose prefillMs then holds it), prefillMs the rest of the wall time.
 */
export async function prefillWithTables(model: Model, ids: number[], csa: CsaParams, log: Logger): Promise<{ tables: LayerTables[]; prefillMs: number; tablesMs: number }> {
  const N = ids.length;
  const { heads, kvHeads, headDim: d, layers } = model.cfg;
  const tables: LayerTables[] = [];
  // Every layer's build has the same sizes: one scratch for all, made with the first.
  let scratch: BuildScratch | undefined;
  const watch = model.gpu.timestamps ? new GpuStopwatch(model.gpu, layers) : null;
  if (!watch) log.debug('this GPU has no timestamp queries: the table build is timed as part of the prefill');
  const bar = progress(log, 'prefill', N * layers, 'token-layers');
  const t0 = performance.now();
  let layerStart = t0;
  let buildsMs: number[] = [];
  try {
    await model.prefill(ids, 0, {
      logits: 'none',
      keepQueries: true,
      onProgress: (done) => bar.update(done),
      onLayer: async (l, queries) => {
        // The CPU runs a layer ahead of the GPU: from layer 2 on, this is about a layer's GPU time.
        log.debug({ layer: l, ms: +(performance.now() - layerStart).toFixed(1) }, 'layer queued');
        layerStart = performance.now();
        const args = { queries, kCache: model.f16Keys(l, N), N, Hq: heads, Hkv: kvHeads, d, capacity: model.capacity, invFreq: model.invFreq, params: csa };
        scratch ??= await buildScratch(model.gpu, args);
        const build = await tableBuild(model.kernels, { ...args, scratch });
        watch?.start();
        tables.push(queueBuild(model.kernels, build));
        watch?.stop();
      },
    });
    buildsMs = (await watch?.spansMs()) ?? [];
  } catch (e) {
    for (const t of tables) destroyTables(model.gpu, t);
    throw oomHint(e, model, N, csa);
  } finally {
    scratch?.release();
    watch?.destroy();
    bar.stop();
  }
  const tablesMs = buildsMs.reduce((a, b) => a + b, 0);
  log.debug({ ms: buildsMs.map((ms) => +ms.toFixed(1)) }, 'table builds (GPU ms a layer)');
  return { tables, prefillMs: performance.now() - t0 - tablesMs, tablesMs };
}

/** Adds to an out-of-memory error what the whole job needs and what to lower. */
function oomHint(e: unknown, model: Model, N: number, p: CsaParams): unknown {
  if (!(e instanceof CsattnError) || e.kind !== 'oom') return e;
  const { heads, kvHeads, headDim: d, layers, hidden } = model.cfg;
  const groups = p.granularity === 'kv-head' ? kvHeads : heads;
  const L = Math.ceil(p.listFraction * N);
  const need = model.weightBytesPerToken() + layers * N * model.cache.bytesPerPosition // KV
    + layers * groups * p.subspaces * p.centroids * L * 8 // tables (index + score, as f32 on the GPU)
    + N * heads * d * 4 + N * hidden * 4; // one layer of queries, hidden states
  return new CsattnError(`${e.message}. This prefill needs about ${fmtBytes(need)} of GPU memory in all: lower --list-fraction, --centroids or the document length (--truncate)`, 'oom');
}
