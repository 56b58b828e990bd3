/**
 * CSAttention's decode-time selection through a layer's tables (tables.ts). Each decode step
 * (selectDispatches), all on the GPU, in four dispatches: every query head's sub-vectors (or, for
 * a 'pooled' choice, their sum over the group's heads) pick their nearest centroid (csa_choose);
 * the chosen lists' scores (times ||q^(j)|| for 'qnorm') are summed per key in fixed point, a
 * workgroup per tile of keys adding up its slice of every chosen list in workgroup memory
 * (csa_score); the sinks, the recent window and the generated keys are always taken, and the rest
 * of the budget K = round((1 - sparsity) N) goes to the top-scoring context keys
 * (ties: lower index; csa_topk).
 *
 * Generated keys are always attended (contextBudget), so the lists hold context keys only: the
 * paper's streaming insert of each new key into the lists (Sec. 3.3) would add entries that no
 * selection reads (it cost 0.8 ms a step at 128K on the H100).
 */
import { check } from '../../errors.js';
import { fitBinding, type Gpu } from '../../gpu/device.js';
import { ceilDiv, dispatchOf, kernelParams, storage, type Binding, type Dispatch, type Grid, type Kernels } from '../../gpu/kernels.js';
import { checkTables, ropeBuffer, shapeOf, type CsaParams, type LayerTables } from './tables.js';

/** The SparseSelection contract of src/ops/attention.ts: sel u32 [lists, kmax], counts u32 [lists]. */
export interface Selection { sel: GPUBuffer; counts: GPUBuffer; kmax: number; perQueryHead: boolean }

export interface SelectOptions { sparsity: number; sink: number; window: number; N: number; maxNewTokens: number }

/** Keys of a csa_topk sub-chunk (256 threads x KPT = 16 keys). */
const TOPK_SUB_CHUNK = 256 * 16;
/**
 * Workgroups a csa_topk pass keeps as its chunks grow, and the most sub-chunks a workgroup takes.
 * H100, B = 4 / 16 at 32K and 128K (docs/perf-notes.md, session 34): 256 and 8 against 1,024 and 4
 * took csa_topk 1.12 / 1.65 / 2.1 / 4.7 ms of the step against 1.12 / 2.4 / 2.9 / 5.2; 512 and 128
 * did less.
 */
const TOPK_TARGET_WORKGROUPS = 256;
const TOPK_MAX_SUB = 8;

/**
 * Sub-chunks a csa_topk workgroup takes (its SUB): 1, or where the lists are many (a batch's) or
 * long, 2, 4 or 8, as long as a pass keeps TOPK_TARGET_WORKGROUPS: each workgroup resolves the
 * histograms and writes its suffix counts once for more keys.
 */
export function topKSub(lists: number, N: number): number {
  let s = 1;
  while (s < TOPK_MAX_SUB && lists * Math.ceil(N / (TOPK_SUB_CHUNK * s * 2)) >= TOPK_TARGET_WORKGROUPS) s *= 2;
  return s;
}

export interface Budget {
  /** Total over the context: sinks and window inside it. */
  K: number;
  sinkEnd: number;
  winStart: number;
  /** Keys picked by score among [sinkEnd, winStart). */
  R: number;
  /** Context keys selected: sinks + window + R (K, unless sinks and window alone exceed it). */
  kctx: number;
  kmax: number;
}

export function contextBudget(o: SelectOptions): Budget {
  check(o.sparsity >= 0 && o.sparsity <= 1, `csa: sparsity must be in [0, 1], not ${o.sparsity}`);
  check(Number.isInteger(o.sink) && o.sink >= 0 && Number.isInteger(o.window) && o.window >= 0, 'csa: sink and window must be non-negative integers');
  const K = Math.round((1 - o.sparsity) * o.N);
  const sinkEnd = Math.min(o.sink, o.N);
  const winStart = Math.max(sinkEnd, o.N - o.window);
  const forced = sinkEnd + o.N - winStart;
  const R = Math.max(0, K - forced);
  return { K, sinkEnd, winStart, R, kctx: forced + R, kmax: forced + R + o.maxNewTokens };
}

/**
 * A dispatch of a kernel variant (built with `define`) that uses only some of its file's bindings:
 * with layout 'auto' the bind group must hold exactly those, by binding number.
 */
function variantDispatch(k: Kernels, name: string, define: string, bindings: [number, Binding][], grid: Grid, constants?: Record<string, number>): Dispatch {
  return dispatchOf(k.get(name, { defines: [define], constants }), [], grid, bindings);
}

export interface SelectArgs {
  /** f32 [seqs, Hq, d]: the step's queries; `step`: u32 [seqs] their positions (kernels.ts positions()). */
  q: GPUBuffer; tables: LayerTables; step: GPUBuffer;
  Hq: number; Hkv: number; d: number; invFreq?: GPUBuffer; params: CsaParams; opts: SelectOptions;
  /** Sequences selecting together (default 1): their lists follow each other, seqs × groups of them. */
  seqs?: number;
  /** The buffers it writes, shared with other layers of the step (selectScratch); made here if absent. */
  scratch?: SelectScratch;
}

/** What csa_topk writes for `lists` lists over N keys: its histograms and the selection (kmax a list). */
export interface TopKScratch {
  lists: number; N: number; kmax: number;
  /** csa_topk's sub-chunks a workgroup (topKSub). */
  sub: number;
  hist: GPUBuffer; state: GPUBuffer; chunkCounts: GPUBuffer; chunkLow: GPUBuffer;
  sel: GPUBuffer; counts: GPUBuffer;
}

/**
 * What a layer's selection writes: the chosen lists and the per-key scores (perGroup lists chosen a
 * group), then csa_topk's. The layers of a step can share one: a layer's selection is attended
 * before the next layer selects (at 128K, 16 sequences: 105 MB a layer, 3.4 GB over 32 layers).
 */
export interface SelectScratch extends TopKScratch { perGroup: number; choice: GPUBuffer; mults: GPUBuffer; scores: GPUBuffer }

/** `sub` (tests) overrides topKSub's choice. */
function topKScratch(gpu: Gpu, a: { lists: number; N: number; kmax: number; sub?: number }): TopKScratch {
  const sub = a.sub ?? topKSub(a.lists, a.N);
  const chunks = ceilDiv(a.N, TOPK_SUB_CHUNK * sub);
  return {
    lists: a.lists, N: a.N, kmax: a.kmax, sub,
    hist: storage(gpu, a.lists * 2 * 2048 * 4, 'csa top-k histograms'),
    state: storage(gpu, a.lists * 8, 'csa top-k high digits'),
    chunkCounts: storage(gpu, a.lists * chunks * 4, 'csa top-k chunk counts'),
    chunkLow: storage(gpu, fitBinding(gpu, a.lists * chunks * 2048 * 4, 'the top-k chunk histograms'), 'csa top-k chunk histograms'),
    sel: storage(gpu, fitBinding(gpu, a.lists * a.kmax * 4, 'the selection'), 'csa selection'),
    counts: storage(gpu, a.lists * 4, 'csa selection counts'),
  };
}

export function selectScratch(gpu: Gpu, a: { lists: number; N: number; kmax: number; perGroup: number }): SelectScratch {
  return {
    ...topKScratch(gpu, a),
    perGroup: a.perGroup,
    choice: storage(gpu, a.lists * a.perGroup * 16, 'csa chosen lists'),
    mults: storage(gpu, a.lists * a.perGroup * 4, 'csa list multipliers'),
    scores: storage(gpu, fitBinding(gpu, a.lists * a.N * 4, 'the per-key scores'), 'csa per-key scores'),
  };
}

function checkScratch(x: SelectScratch, want: { lists: number; N: number; kmax: number; perGroup: number }): void {
  check(x.lists === want.lists && x.N === want.N && x.kmax === want.kmax && x.perGroup === want.perGroup,
    `csa: selection scratch for ${x.lists} lists over ${x.N} keys (kmax ${x.kmax}), asked for ${want.lists} over ${want.N} (kmax ${want.kmax})`);
}

export interface SelectPlan {
  /** Recorded once, replayed every step: scoring then topK. */
  dispatches: Dispatch[];
  selection: Selection;
  /** The two halves of `dispatches`, and what passes between them (for tests and profiling). */
  scoring: Dispatch[];
  topK: Dispatch[];
  /** vec4<u32> [seqs, groups, choosers * m]: chosen list, w and w * max|score| (f32 bits). */
  choice: GPUBuffer;
  /** f32 [seqs, groups, choosers * m]: the chosen lists' fixed-point multipliers. */
  mults: GPUBuffer;
  /** i32 [seqs, groups, N]: summed fixed-point scores. */
  scores: GPUBuffer;
  /** Every buffer it writes (those above among them), for the next layers of the step. */
  scratch: SelectScratch;
}

/**
 * Per decode step, all on the GPU: (1) each query head's sub-vectors → nearest centroid (cosine;
 * csa_choose); (2) gather-and-sum the chosen lists into per-key scores over [0, N), by tiles of
 * keys, with the histogram of the top-K's first digit (csa_score); (3) select the sinks, the window,
 * the generated keys [N, step.pos] and the top-R of the rest (see contextBudget; csa_topk).
 */
export function selectDispatches(k: Kernels, a: SelectArgs): SelectPlan {
  const gpu = k.gpu;
  const p = a.params;
  const s = shapeOf(p, a.Hq, a.Hkv, a.d);
  const t = a.tables;
  checkTables(t, s);
  check(a.opts.N === t.N, `csa: selection over ${a.opts.N} context keys, but the tables were built over ${t.N}`);
  const perGroup = s.choosers * s.m;
  const b = contextBudget(a.opts);
  const seqs = a.seqs ?? 1;
  const dims = { lists: seqs * s.G, N: t.N, kmax: b.kmax, perGroup };
  const x = a.scratch ?? selectScratch(gpu, dims);
  checkScratch(x, dims);
  // csa_score fills the first digit's histogram: csa_topk's HIST stage is not needed.
  const top = topKStages(k, { scores: x.scores, lists: dims.lists, seqs, step: a.step, opts: a.opts, perQueryHead: p.granularity === 'query-head' }, x, false);
  const choose = dispatchOf(k.get('csa_choose'), [a.q, ropeBuffer(gpu, p, a.invFreq), t.centroids, t.listBound, x.choice, a.step,
    kernelParams(gpu, [s.perGroup, s.m, s.C, s.ds / 4, +(p.scoreScale === 'qnorm'), s.d, +(p.rope === 'pre'), +(s.choosers === 1)])], [perGroup, s.G, seqs]);
  const score = dispatchOf(k.get('csa_score', { constants: { TILE: t.tile } }), [t.listEntry, t.listTiles, x.choice, x.mults, x.scores, x.hist,
    kernelParams(gpu, [t.N, t.L, perGroup, t.tiles, b.sinkEnd, b.winStart, b.R])], [seqs, t.tiles, s.G]);
  const topK = top.stages;
  const scoring = [choose, score];
  return { dispatches: [...scoring, ...topK], selection: top.selection, scoring, topK, choice: x.choice, mults: x.mults, scores: x.scores, scratch: x };
}

export interface TopKArgs {
  /** i32 [lists, N] fixed-point scores, |score| < 2^21, every key's written by the scoring before each top-K. */
  scores: GPUBuffer;
  /** `lists` of `seqs` sequences (default 1), each's after the other's; step: u32 [seqs] their positions. */
  lists: number; seqs?: number; step: GPUBuffer; opts: SelectOptions; perQueryHead: boolean;
  /** csa_topk's sub-chunks a workgroup (default: topKSub's choice). */
  sub?: number;
}

/** The csa_topk stages over `scores`: the selection of each list, in ascending key order. */
export function topKDispatches(k: Kernels, a: TopKArgs): { dispatches: Dispatch[]; selection: Selection } {
  const top = topKStages(k, a, topKScratch(k.gpu, { lists: a.lists, N: a.opts.N, kmax: contextBudget(a.opts).kmax, sub: a.sub }));
  return { dispatches: top.stages, selection: top.selection };
}

/** The csa_topk stages (HIST unless `hist` is false, then REFINE and COMPACT), into x. */
function topKStages(k: Kernels, a: TopKArgs, x: TopKScratch, hist = true): { stages: Dispatch[]; selection: Selection } {
  const b = contextBudget(a.opts);
  const { N, maxNewTokens } = a.opts;
  const chunks = ceilDiv(N, TOPK_SUB_CHUNK * x.sub);
  const params = kernelParams(k.gpu, [N, b.R, b.sinkEnd, b.winStart, chunks, b.kctx, b.kmax, maxNewTokens, a.lists / (a.seqs ?? 1)]);
  // By binding number (csa_topk.wgsl).
  const buffers: Record<number, Binding> = { 0: a.scores, 1: x.hist, 2: x.state, 3: x.chunkCounts, 4: x.sel, 5: x.counts, 6: a.step, 7: params, 8: x.chunkLow };
  const stages: [string, number[]][] = [
    ...(hist ? [['HIST', [0, 1, 7]] as [string, number[]]] : []), ['REFINE', [0, 1, 2, 3, 7, 8]], ['COMPACT', [0, 1, 2, 3, 4, 5, 6, 7, 8]],
  ];
  const dispatches = stages.map(([variant, used]) =>
    variantDispatch(k, 'csa_topk', variant, used.map((i): [number, Binding] => [i, buffers[i]]), [chunks, a.lists], { SUB: x.sub }));
  return { stages: dispatches, selection: { sel: x.sel, counts: x.counts, kmax: b.kmax, perQueryHead: a.perQueryHead } };
}
