/**
 * Baseline key selectors for `csattn eval`, at CSAttention's token budget (contextBudget in csa/select.ts:
 * K = round((1 - sparsity) N) context keys, sinks and window inside it, the generated keys [N, pos]
 * always attended). Each yields a Selection for attentionDecode's sparse path and differs from CSA
 * only in how it ranks the context keys:
 *   oracle     the true logits q·k, per query head: the upper bound of any selector at budget K;
 *   streaming  no ranking: the most recent context keys fill the budget (StreamingLLM): the floor;
 *   quest      Quest's upper bound of q·k over pages of 16 keys (per-dimension min and max keys),
 *              per query head: whole top pages;
 *   keypq      CSA's tables and selection with centroids from cosine k-means on the context keys
 *              instead of the prefill queries (PQCache / Squeezed Attention, key-centric).
 *
 * Every step runs on the GPU, recorded once and replayed (the position comes from `step`). Ranked
 * methods write every key's i32 score [lists, N] each step and reuse CSA's top-K (topKDispatches:
 * ties go to the lower key). csa_topk wants |score| < 2^21, so a score is
 * round(clamp(s, ±limit) * scale) (see ORACLE_FIXED, QUEST_FIXED).
 */
import { check } from '../errors.js';
import { allocate, checkGpu, fitBinding, release, type Gpu } from '../gpu/device.js';
import { ceilDiv, dispatchOf, kernelParams, run, storage, type Dispatch, type Kernels } from '../gpu/kernels.js';
import { buildTables } from './csa/build.js';
import { contextBudget, topKDispatches, type SelectOptions, type Selection } from './csa/select.js';
import type { CsaParams, LayerTables } from './csa/tables.js';

/** Fixed point of the scores csa_topk ranks: round(clamp(s, -limit, limit) * scale), below 2^21. */
export interface FixedPoint { limit: number; scale: number }

/** Logits q·k to 2^-14; beyond ±120 (real models stay within about ±100) keys tie and go by position. */
export const ORACLE_FIXED: FixedPoint = { limit: 120, scale: 2 ** 14 };
/** Quest's page bounds exceed the logits they bound (sums of per-dimension maxima): a wider range, to 2^-11. */
export const QUEST_FIXED: FixedPoint = { limit: 960, scale: 2 ** 11 };

/** Context keys per Quest page. */
export const QUEST_PAGE_SIZE = 16;

/** Workgroup size of the baseline kernels (their WGSL default). */
const WG = 64;

/** A recorded selection: scoring then top-K, replayed every step. */
export interface BaselinePlan {
  dispatches: Dispatch[];
  selection: Selection;
  /** The two halves of `dispatches` (for tests and profiling); streaming has no scoring. */
  scoring: Dispatch[];
  topK: Dispatch[];
  /** i32 [lists, N]: what topK ranks (all zero for streaming), every key's written by each step's scoring. */
  scores: GPUBuffer;
}

// ---------------------------------------------------------------------------------------------
// Oracle and streaming

export interface OracleArgs {
  /** f32 [Hq, d], as attention sees it (post-RoPE). */
  q: GPUBuffer; kCache: GPUBuffer; step: GPUBuffer;
  Hq: number; Hkv: number; d: number; capacity: number; opts: SelectOptions;
}

/** Exact top-K by the true attention logits q·k, per query head: the upper bound of any selector at budget K. */
export function oracleDispatches(k: Kernels, a: OracleArgs): BaselinePlan {
  const { Hq, Hkv, d, opts } = a;
  checkHeads(Hq, Hkv, d);
  checkContext(opts.N, a.capacity);
  const scores = scoreBuffer(k.gpu, Hq, opts.N);
  const params = kernelParams(k.gpu, [opts.N, Hq, Hkv, a.capacity, d, ...fixed(ORACLE_FIXED)]);
  const score = dispatchOf(k.get('oracle_scores'), [a.q, a.kCache, scores, params], [groupsOf(k.gpu, opts.N), Hq]);
  return ranked(k, [score], scores, { lists: Hq, step: a.step, opts, perQueryHead: true });
}

/**
 * Sinks + the most recent context keys filling the whole budget (StreamingLLM): the floor. The
 * window widens to K - sinks (never narrower than opts.window), so topK picks nothing by score.
 */
export function streamingDispatches(k: Kernels, a: { step: GPUBuffer; Hkv: number; opts: SelectOptions }): BaselinePlan {
  const b = contextBudget(a.opts);
  const opts = { ...a.opts, window: Math.max(a.opts.window, b.K - b.sinkEnd) };
  return ranked(k, [], scoreBuffer(k.gpu, a.Hkv, a.opts.N), { lists: a.Hkv, step: a.step, opts, perQueryHead: false });
}

// ---------------------------------------------------------------------------------------------
// Quest

/** Quest's per-page key bounds of one layer, built once from the cache. */
export interface QuestPages {
  /** f16 pairs [Hkv, pages, 2, d/2]: per page its per-dimension min row, then its max row. */
  bounds: GPUBuffer;
  Hkv: number; d: number; N: number; pageSize: number; pages: number;
}

export interface QuestPagesArgs { kCache: GPUBuffer; Hkv: number; d: number; capacity: number; N: number; pageSize?: number }

/** Per KV head and page of `pageSize` context keys (the last one may be short): the min and max of each dim. */
export async function questPages(k: Kernels, a: QuestPagesArgs): Promise<QuestPages> {
  const gpu = k.gpu;
  const pageSize = a.pageSize ?? QUEST_PAGE_SIZE;
  check(Number.isInteger(pageSize) && pageSize >= 1, `quest: page size must be a positive integer, not ${pageSize}`);
  checkHeads(a.Hkv, a.Hkv, a.d);
  checkContext(a.N, a.capacity);
  const pages = ceilDiv(a.N, pageSize);
  const words = a.d / 2;
  const bounds = await allocate(gpu, fitBinding(gpu, a.Hkv * pages * 2 * words * 4, 'the Quest page bounds'), 'quest page bounds');
  run(k.get('quest_pages'), [a.kCache, bounds, kernelParams(gpu, [a.N, pages, pageSize, a.capacity, words])],
    [groupsOf(gpu, pages * words), a.Hkv]);
  await gpu.device.queue.onSubmittedWorkDone();
  checkGpu(gpu);
  return { bounds, Hkv: a.Hkv, d: a.d, N: a.N, pageSize, pages };
}

export interface QuestArgs {
  /** f32 [Hq, d], post-RoPE. */
  q: GPUBuffer; pages: QuestPages; step: GPUBuffer;
  Hq: number; Hkv: number; d: number; opts: SelectOptions;
}

/**
 * Quest (Tang et al. 2024): page score for query head h = Σ_i max(q_i·min_i, q_i·max_i), shared by
 * the page's keys; the top pages fill the budget (ties and the last, partly taken page go to the
 * lower positions). One selection per query head.
 */
export function questDispatches(k: Kernels, a: QuestArgs): BaselinePlan {
  const p = a.pages;
  const { Hq, Hkv, d, opts } = a;
  checkHeads(Hq, Hkv, d);
  check(p.Hkv === Hkv && p.d === d && p.N === opts.N,
    `quest: pages of ${p.Hkv} KV heads x ${p.d} dims over ${p.N} keys do not match the selection (${Hkv} x ${d} over ${opts.N})`);
  const scores = scoreBuffer(k.gpu, Hq, opts.N);
  const params = kernelParams(k.gpu, [opts.N, p.pages, p.pageSize, Hq, Hkv, d / 2, ...fixed(QUEST_FIXED)]);
  const score = dispatchOf(k.get('quest_scores'), [a.q, p.bounds, scores, params], [groupsOf(k.gpu, p.pages), Hq]);
  return ranked(k, [score], scores, { lists: Hq, step: a.step, opts, perQueryHead: true });
}

// ---------------------------------------------------------------------------------------------
// Key-centric CSA

export interface KeyTablesArgs {
  kCache: GPUBuffer; N: number; Hq: number; Hkv: number; d: number; capacity: number;
  invFreq?: GPUBuffer; params: CsaParams;
}

/**
 * Key-centric ablation of CSA (PQCache / Squeezed Attention style): buildTables with the layer's
 * context keys (f32 [N, Hkv, d], from the f16 cache) as the points, one table group per KV head.
 * Select with selectDispatches and the same params (granularity 'kv-head').
 */
export async function buildKeyTables(k: Kernels, a: KeyTablesArgs): Promise<LayerTables> {
  const gpu = k.gpu;
  const { N, Hkv, d } = a;
  check(a.params.granularity === 'kv-head', `keypq: key-centric tables are per KV head; granularity must be 'kv-head', not '${a.params.granularity}'`);
  checkHeads(a.Hq, Hkv, d);
  checkContext(N, a.capacity);
  const rows = await allocate(gpu, fitBinding(gpu, N * Hkv * d * 4, 'the key rows to cluster'), 'keypq key rows');
  try {
    run(k.get('kv_rows'), [a.kCache, rows, kernelParams(gpu, [N, Hkv, a.capacity, d / 2])], [groupsOf(gpu, N), Hkv]);
    // The keys stand in for the prefill queries of a model with one query head per KV head.
    return await buildTables(k, {
      queries: rows, kCache: a.kCache, N, Hq: Hkv, Hkv, d, capacity: a.capacity,
      invFreq: a.invFreq, params: a.params,
    });
  } finally {
    release(gpu, rows);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

function ranked(k: Kernels, scoring: Dispatch[], scores: GPUBuffer,
  t: { lists: number; step: GPUBuffer; opts: SelectOptions; perQueryHead: boolean }): BaselinePlan {
  const top = topKDispatches(k, { scores, ...t });
  return { dispatches: [...scoring, ...top.dispatches], selection: top.selection, scoring, topK: top.dispatches, scores };
}

function fixed(f: FixedPoint): { f32: number }[] {
  return [{ f32: f.limit }, { f32: f.scale }];
}

/** i32 [lists, N]: each step's scoring writes every key's. */
function scoreBuffer(gpu: Gpu, lists: number, N: number): GPUBuffer {
  return storage(gpu, fitBinding(gpu, lists * N * 4, 'the per-key scores'), 'baseline per-key scores');
}

/** Workgroups of WG threads over n rows, within one dispatch dimension. */
function groupsOf(gpu: Gpu, n: number): number {
  const groups = ceilDiv(n, WG);
  check(groups <= gpu.device.limits.maxComputeWorkgroupsPerDimension, `baselines: ${n} rows are too many for one dispatch`);
  return groups;
}

function checkHeads(Hq: number, Hkv: number, d: number): void {
  check(Hkv >= 1 && Number.isInteger(Hq / Hkv), `baselines: ${Hq} query heads do not split into ${Hkv} KV heads`);
  check(Number.isInteger(d) && d >= 2 && d % 2 === 0, `baselines: head dim must be even, not ${d}`);
}

function checkContext(N: number, capacity: number): void {
  check(Number.isInteger(N) && N >= 1 && N <= capacity, `baselines: context of ${N} tokens does not fit the KV cache (${capacity})`);
}
