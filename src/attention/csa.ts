/**
 * CSAttention (centroid-scoring sparse attention) on the GPU.
 *
 * Offline, per layer (buildTables). A table group is a KV head (the prefill queries of its g query
 * heads pooled) or a single query head. Each group's queries are split into m sub-vectors; cosine
 * k-means gives C unit centroids per subspace; each centroid keeps the L = ceil(αN) context keys with
 * the largest partial score <centroid, key sub-vector> (ties: the lower key), in ascending key order.
 * An index derived from the lists (csa_list_index) says where each tile of keys starts in each list
 * and holds each list's largest |score|; it packs every entry into 4 bytes (f16 score, key offset in
 * its tile), and the full keys are dropped: the GPU keeps the packed entries only.
 *
 * Each decode step (selectDispatches), all on the GPU, in five dispatches: every query head's
 * sub-vectors pick their nearest centroid (csa_choose); the chosen lists' scores (times ||q^(j)||
 * for 'qnorm') are summed per key in fixed point, a workgroup per tile
 * of keys adding up its slice of every chosen list in workgroup memory (csa_score); the sinks, the
 * recent window and the generated keys are always taken, and the rest of the budget
 * K = round((1 - sparsity) N) goes to the top-scoring context keys (ties: lower index; csa_topk).
 *
 * Generated keys are always attended (contextBudget), so the lists hold context keys only: the
 * paper's streaming insert of each new key into the lists (Sec. 3.3) would add entries that no
 * selection reads (it cost 0.8 ms a step at 128K on the H100).
 *
 * Conventions: list scores are f16, on the GPU and in the bundle alike (a GPU entry packs them with
 * the key's offset in its tile), so a reloaded table holds exactly the built values. 'pre' RoPE
 * un-rotates with the HF rotate-half layout (element i pairs with i + d/2) and angle
 * f32(pos) * invFreq[i mod d/2].
 */
import { check } from '../errors.js';
import { allocate, checkGpu, fitBinding, oneShot, release, type Gpu } from '../gpu/device.js';
import { ceilDiv, dispatchOf, readBuffer, record, storage, submit, upload, uniform, type Binding, type Dispatch, type Grid, type Kernels } from '../gpu/kernels.js';
import { rowParts } from '../ops/dense.js';
import { uploader } from '../gpu/uploader.js';
import { mulberry32 } from '../random.js';

export interface CsaParams {
  /** m: the head dim splits into m equal parts (d % m == 0). */
  subspaces: number;
  /** C: centroids per subspace. */
  centroids: number;
  /** α: list length L = ceil(α N), clamped to [1, N]. */
  listFraction: number;
  kmeansIters: number;
  seed: number;
  /** Tables per KV head (the g query heads pooled; at decode their scores are summed) or per query head. */
  granularity: 'kv-head' | 'query-head';
  /** Cluster and score post-RoPE q, k (as attention sees them) or pre-RoPE (rotated back by -pos). */
  rope: 'post' | 'pre';
  /** Multiply each subspace's fetched partial scores by ||q^(j)||. */
  scoreScale: 'none' | 'qnorm';
}

/** Defaults measured with `csattn eval` on the bundled model (README, Accuracy: the sweep). */
export const DEFAULT_CSA: CsaParams = {
  subspaces: 16, centroids: 64, listFraction: 0.1, kmeansIters: 10, seed: 0,
  granularity: 'kv-head', rope: 'post', scoreScale: 'qnorm',
};

export interface LayerTables {
  /** Hkv ('kv-head') or Hq ('query-head'). */
  groups: number;
  /** Context length the tables were built over. */
  N: number;
  m: number;
  C: number;
  /** Dims per subspace, d / m. */
  ds: number;
  L: number;
  /** f32 [groups, m, C, ds], unit rows. */
  centroids: GPUBuffer;
  /**
   * u32 [groups, m, C, L]: f16 score bits << 16 | key mod tile, keys ascending. The key's tile
   * is the one whose range of listTiles holds the entry: the full keys (u32, from the build or the
   * bundle) are needed only until the list index is made.
   */
  listEntry: GPUBuffer;
  /** u32 [groups, m, C]. */
  listLen: GPUBuffer;
  /** Keys per tile of the index, and tiles over the context: ceil(N / tile). */
  tile: number;
  tiles: number;
  /** u32 [groups, m, C, tiles + 1]: the first entry of each tile's keys; the last is the context entry count. */
  listTiles: GPUBuffer;
  /** f32 [groups, m, C]: max |score| of the list's entries. */
  listBound: GPUBuffer;
  /** u32: nonzero if, when indexed, a list was out of key order or held keys past the context (listsSound). */
  listFaults: GPUBuffer;
}

/** The SparseSelection contract of src/ops/attention.ts: sel u32 [lists, kmax], counts u32 [lists]. */
export interface Selection { sel: GPUBuffer; counts: GPUBuffer; kmax: number; perQueryHead: boolean }

export interface SelectOptions { sparsity: number; sink: number; window: number; N: number; maxNewTokens: number }

/** Workgroup sizes of the kernels, as in their WGSL defaults. */
const WG_SMALL = 64;
/** Keys per workgroup of csa_topk (256 threads x KPT = 16 keys). */
const TOPK_CHUNK = 256 * 16;
/** Most points csa_kmeans_sum adds per workgroup: its fixed point (2^18) stays below 2^30. */
const MAX_KMEANS_CHUNK = 4096;
/** Keys per tile of the list index, at most: csa_score sums a tile in workgroup memory. */
export const TILE_KEYS = 2048;

// ---------------------------------------------------------------------------------------------
// Shapes and budgets

interface Shape {
  Hq: number; Hkv: number; d: number;
  /** Table groups, and query heads per group. */
  G: number; perGroup: number;
  m: number; C: number; ds: number;
}

function shapeOf(p: CsaParams, Hq: number, Hkv: number, d: number): Shape {
  const { subspaces: m, centroids: C } = p;
  check(Number.isInteger(m) && m >= 1 && d % m === 0, `csa: head dim ${d} does not split into ${m} subspaces`);
  const ds = d / m;
  check(ds % 4 === 0 && ds <= 64, `csa: a subspace must have a multiple of 4 dims, at most 64 (head dim ${d} / ${m} subspaces = ${ds})`);
  check(Number.isInteger(C) && C >= 1, `csa: centroids must be a positive integer, not ${C}`);
  check(Hkv >= 1 && Hq % Hkv === 0, `csa: ${Hq} query heads do not split into ${Hkv} KV heads`);
  const kv = p.granularity === 'kv-head';
  const perGroup = kv ? Hq / Hkv : 1;
  check(perGroup * m <= 256, `csa: query heads per KV head x subspaces must be at most 256 (${perGroup} x ${m})`);
  return { Hq, Hkv, d, G: kv ? Hkv : Hq, perGroup, m, C, ds };
}

export function listLength(alpha: number, N: number): number {
  check(alpha > 0 && alpha <= 1, `csa: listFraction must be in (0, 1], not ${alpha}`);
  return Math.min(N, Math.max(1, Math.ceil(alpha * N)));
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
 * The k-means init of one (group, subspace): C distinct point indices in [0, points), from a PRNG
 * seeded by (seed, group, subspace) (a partial Fisher-Yates shuffle).
 */
export function initialPicks(seed: number, group: number, subspace: number, points: number, C: number): Uint32Array {
  check(C <= points, `csa: ${C} centroids need at least ${C} query sub-vectors to cluster, not ${points}`);
  const rand = mulberry32(mix(mix(mix(0x9e3779b9, seed), group), subspace));
  const moved = new Map<number, number>();
  const out = new Uint32Array(C);
  for (let i = 0; i < C; i++) {
    const r = i + Math.floor(rand() * (points - i));
    out[i] = moved.get(r) ?? r;
    moved.set(r, moved.get(i) ?? i);
  }
  return out;
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * A dispatch of a kernel variant (built with `define`) that uses only some of its file's bindings:
 * with layout 'auto' the bind group must hold exactly those, by binding number.
 */
function variantDispatch(k: Kernels, name: string, define: string, bindings: [number, GPUBuffer][], grid: Grid): Dispatch {
  const kernel = k.get(name, { defines: [define] });
  return { kernel, group: kernel.bindAt(bindings), grid };
}

function ropeBuffer(gpu: Gpu, p: CsaParams, invFreq?: GPUBuffer): GPUBuffer {
  if (p.rope === 'post') return storage(gpu, 16, 'csa unused inv_freq');
  check(invFreq, "csa: rope 'pre' needs the model's RoPE inv_freq buffer");
  return invFreq;
}

// ---------------------------------------------------------------------------------------------
// Sub-vectors (csa_rows)

interface Rows {
  src: GPUBuffer;
  /** The source is the f16 KV cache (read at the row's position); else f32 [tokens, srcHeads, d]. */
  keys: boolean;
  tokens: number; heads: number; head0: number; srcHeads: number; capacity: number;
  normalize: boolean;
  out: GPUBuffer; norms: GPUBuffer;
}

function rowsDispatch(k: Kernels, s: Shape, p: CsaParams, invFreq: GPUBuffer, r: Rows,
  slice: { src: Binding; tok0: number; tokens: number } = { src: r.src, tok0: 0, tokens: r.tokens }): Dispatch {
  const kernel = k.get('csa_rows', { defines: r.keys ? ['KEYS'] : [] });
  const params = uniform(k.gpu, [slice.tokens, slice.tok0, slice.tok0 * r.heads, r.tokens * r.heads, r.heads, r.head0, r.srcHeads,
    r.capacity, s.d, s.m, +(p.rope === 'pre'), +r.normalize]);
  return dispatchOf(kernel, [slice.src, invFreq, r.out, r.norms, params], [ceilDiv(slice.tokens * r.heads, WG_SMALL), s.m]);
}

/** Query rows of a prefill, whose f32 [tokens, srcHeads, d] may exceed one binding: a slice of tokens per dispatch. */
function queryRowsDispatches(k: Kernels, s: Shape, p: CsaParams, invFreq: GPUBuffer, r: Rows): Dispatch[] {
  return rowParts(k.gpu, r.tokens, r.srcHeads * s.d * 4, 'one token of queries').map((part) =>
    rowsDispatch(k, s, p, invFreq, r, { src: { buffer: r.src, offset: part.offset, size: part.size }, tok0: part.row0, tokens: part.rows }));
}

// ---------------------------------------------------------------------------------------------
// Table build

export interface BuildArgs {
  queries: GPUBuffer; kCache: GPUBuffer;
  N: number; Hq: number; Hkv: number; d: number; capacity: number;
  invFreq?: GPUBuffer; params: CsaParams;
  /** Points per k-means summing workgroup (at most 4096); tests shrink it to cover several chunks. */
  kmeansChunk?: number;
  /** Keys per tile of the list index (at most TILE_KEYS); tests shrink it to cover several tiles. */
  tile?: number;
}

/** Builds one layer's tables on the GPU. */
export async function buildTables(k: Kernels, a: BuildArgs): Promise<LayerTables> {
  const gpu = k.gpu;
  const p = a.params;
  const s = shapeOf(p, a.Hq, a.Hkv, a.d);
  const { N } = a;
  check(N >= 1 && N <= a.capacity, `csa: context of ${N} tokens does not fit the KV cache (${a.capacity})`);
  check(Number.isInteger(p.kmeansIters) && p.kmeansIters >= 0, `csa: kmeansIters must be a non-negative integer, not ${p.kmeansIters}`);
  const chunk = a.kmeansChunk ?? MAX_KMEANS_CHUNK;
  check(chunk >= 1 && chunk <= MAX_KMEANS_CHUNK, `csa: k-means chunk must be in [1, ${MAX_KMEANS_CHUNK}]`);
  check(s.C * s.ds * 4 <= gpu.device.limits.maxComputeWorkgroupStorageSize,
    `csa: centroids x subspace dims (${s.C} x ${s.ds}) exceed the GPU's workgroup memory for k-means`);
  const L = listLength(p.listFraction, N);
  const t = await allocateTables(gpu, s, N, L, a.tile ?? TILE_KEYS);
  const P = s.perGroup * N;
  check(ceilDiv(P, WG_SMALL) <= gpu.device.limits.maxComputeWorkgroupsPerDimension, `csa: ${P} query rows per table group are too many for one dispatch`);
  const words = ceilDiv(N, 2);
  const chunks = ceilDiv(P, chunk);
  const scratch = {
    points: await allocate(gpu, fitBinding(gpu, P * s.d * 4, 'the k-means points'), 'csa k-means points'),
    pointNorms: await allocate(gpu, s.m * P * 4, 'csa k-means point norms'),
    keys: await allocate(gpu, fitBinding(gpu, N * s.d * 4, 'the key sub-vectors'), 'csa key sub-vectors'),
    listKeys: await allocate(gpu, t.listEntry.size, 'csa list keys'),
    keyNorms: await allocate(gpu, s.m * N * 4, 'csa key norms'),
    assign: await allocate(gpu, fitBinding(gpu, s.m * P * 4, 'the k-means assignment'), 'csa k-means assignment'),
    part: await allocate(gpu, fitBinding(gpu, s.m * chunks * s.C * s.ds * 4, 'the k-means partial sums'), 'csa k-means sums'),
    scores: await allocate(gpu, fitBinding(gpu, s.m * s.C * words * 4, 'the partial scores'), 'csa partial scores'),
  };
  oneShot(gpu, () => {
    const invFreq = ropeBuffer(gpu, p, a.invFreq);
    const groups = Array.from({ length: s.G }, (_, g) => groupBuild(k, s, p, a, t, scratch, { g, P, words, chunk, chunks, invFreq }));
    return [...groups, [indexDispatch(k, t, scratch.listKeys)]];
  }, (lists) => {
    for (const ds of lists) submit(gpu, (pass) => record(pass, ds));
  });
  await gpu.device.queue.onSubmittedWorkDone();
  checkGpu(gpu);
  for (const b of Object.values(scratch)) release(gpu, b);
  return t;
}

async function allocateTables(gpu: Gpu, s: Shape, N: number, L: number, tile: number): Promise<LayerTables> {
  const lists = s.G * s.m * s.C;
  const entries = fitBinding(gpu, lists * L * 4, 'a lookup-list table');
  const tiles = tilesOver(N, tile);
  return {
    groups: s.G, N, m: s.m, C: s.C, ds: s.ds, L, tile, tiles,
    centroids: await allocate(gpu, lists * s.ds * 4, 'csa centroids'),
    listEntry: await allocate(gpu, entries, 'csa list entries'),
    listLen: await allocate(gpu, lists * 4, 'csa list lengths'),
    listTiles: await allocate(gpu, fitBinding(gpu, lists * (tiles + 1) * 4, 'the list index'), 'csa list index'),
    listBound: await allocate(gpu, lists * 4, 'csa list bounds'),
    listFaults: await allocate(gpu, 4, 'csa list faults'),
  };
}

function tilesOver(N: number, tile: number): number {
  check(Number.isInteger(tile) && tile >= 1 && tile <= TILE_KEYS, `csa: a tile of the list index holds 1 to ${TILE_KEYS} keys, not ${tile}`);
  return ceilDiv(N, tile);
}

/** Derives listTiles and listBound from the lists' keys, and packs the keys into listEntry. */
function indexDispatch(k: Kernels, t: LayerTables, keys: GPUBuffer): Dispatch {
  const lists = t.groups * t.m * t.C;
  const nx = Math.min(lists, k.gpu.device.limits.maxComputeWorkgroupsPerDimension);
  return dispatchOf(k.get('csa_list_index'), [keys, t.listEntry, t.listLen, t.listTiles, t.listBound, t.listFaults,
    uniform(k.gpu, [lists, t.L, t.tiles, t.tile, nx, t.N])], [nx, ceilDiv(lists, nx)]);
}

/** Whether uploaded tables hold lists in ascending key order, of context keys only (waits for the GPU). */
export async function listsSound(gpu: Gpu, t: LayerTables): Promise<boolean> {
  return new Uint32Array(await readBuffer(gpu, t.listFaults, 4))[0] === 0;
}

interface BuildScratch {
  points: GPUBuffer; pointNorms: GPUBuffer; keys: GPUBuffer; keyNorms: GPUBuffer;
  assign: GPUBuffer; part: GPUBuffer; scores: GPUBuffer;
  /** u32 [groups, m, C, L]: the lists' keys, until the index packs them into listEntry. */
  listKeys: GPUBuffer;
}

interface GroupJob { g: number; P: number; words: number; chunk: number; chunks: number; invFreq: GPUBuffer }

/** The dispatches that build the tables of group g: sub-vectors, k-means, partial scores, top-L. */
function groupBuild(k: Kernels, s: Shape, p: CsaParams, a: BuildArgs, t: LayerTables, x: BuildScratch, j: GroupJob): Dispatch[] {
  const gpu = k.gpu;
  const { g, P } = j;
  const ds4 = s.ds / 4;
  const kvHead = p.granularity === 'kv-head' ? g : Math.floor(g / (s.Hq / s.Hkv));
  const picks = new Uint32Array(s.m * s.C);
  for (let sub = 0; sub < s.m; sub++) picks.set(initialPicks(p.seed, g, sub, P, s.C), sub * s.C);
  const queries = queryRowsDispatches(k, s, p, j.invFreq, {
    src: a.queries, keys: false, tokens: a.N, heads: s.perGroup, head0: g * s.perGroup, srcHeads: s.Hq,
    capacity: a.capacity, normalize: true, out: x.points, norms: x.pointNorms,
  });
  const keys = rowsDispatch(k, s, p, j.invFreq, {
    src: a.kCache, keys: true, tokens: a.N, heads: 1, head0: kvHead, srcHeads: s.Hkv,
    capacity: a.capacity, normalize: false, out: x.keys, norms: x.keyNorms,
  });
  const init = dispatchOf(k.get('csa_kmeans_init'), [x.points, upload(gpu, picks), t.centroids,
    uniform(gpu, [P, s.C, s.ds, g, s.m])], [ceilDiv(s.C * s.ds, WG_SMALL), s.m]);
  const assign = dispatchOf(k.get('csa_kmeans_assign'), [x.points, t.centroids, x.assign,
    uniform(gpu, [P, s.C, ds4, g, s.m])], [ceilDiv(P, WG_SMALL), s.m]);
  const sum = dispatchOf(k.get('csa_kmeans_sum', { constants: { CAP: s.C * s.ds } }), [x.points, x.assign, x.part,
    uniform(gpu, [P, s.C, s.ds, j.chunk, j.chunks])], [j.chunks, s.m]);
  const update = dispatchOf(k.get('csa_kmeans_update'), [x.part, t.centroids,
    uniform(gpu, [s.C, ds4, j.chunks, g, s.m])], [ceilDiv(s.C, WG_SMALL), s.m]);
  const scores = dispatchOf(k.get('csa_partial_scores'), [x.keys, t.centroids, x.scores,
    uniform(gpu, [a.N, j.words, s.C, ds4, g, s.m])], [ceilDiv(j.words, WG_SMALL), s.C, s.m]);
  const rows = s.m * s.C;
  const topl = dispatchOf(k.get('csa_topl'), [x.scores, x.listKeys, t.listEntry, t.listLen,
    uniform(gpu, [a.N, j.words, t.L, g * rows])], [rows]);
  const kmeans = Array.from({ length: p.kmeansIters }, () => [assign, sum, update]).flat();
  return [...queries, keys, init, ...kmeans, scores, topl];
}

// ---------------------------------------------------------------------------------------------
// Decode: selection

export interface SelectArgs {
  q: GPUBuffer; tables: LayerTables; step: GPUBuffer;
  Hq: number; Hkv: number; d: number; invFreq?: GPUBuffer; params: CsaParams; opts: SelectOptions;
}

export interface SelectPlan {
  /** Recorded once, replayed every step: scoring then topK. */
  dispatches: Dispatch[];
  selection: Selection;
  /** The two halves of `dispatches`, and what passes between them (for tests and profiling). */
  scoring: Dispatch[];
  topK: Dispatch[];
  /** vec4<u32> [groups, perGroup * m]: chosen list, w and w * max|score| (f32 bits). */
  choice: GPUBuffer;
  /** f32 [groups, perGroup * m]: the chosen lists' fixed-point multipliers. */
  mults: GPUBuffer;
  /** i32 [groups, N]: summed fixed-point scores. */
  scores: GPUBuffer;
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
  const perGroup = s.perGroup * s.m;
  const b = contextBudget(a.opts);
  const choice = storage(gpu, s.G * perGroup * 16, 'csa chosen lists');
  const mults = storage(gpu, s.G * perGroup * 4, 'csa list multipliers');
  const scores = storage(gpu, fitBinding(gpu, s.G * t.N * 4, 'the per-key scores'), 'csa per-key scores');
  const top = topKStages(k, { scores, lists: s.G, step: a.step, opts: a.opts, perQueryHead: p.granularity === 'query-head' });
  const choose = dispatchOf(k.get('csa_choose'), [a.q, ropeBuffer(gpu, p, a.invFreq), t.centroids, t.listBound, choice, a.step,
    uniform(gpu, [s.perGroup, s.m, s.C, s.ds / 4, +(p.scoreScale === 'qnorm'), s.d, +(p.rope === 'pre')])], [perGroup, s.G]);
  const score = dispatchOf(k.get('csa_score', { constants: { TILE: t.tile } }), [t.listEntry, t.listTiles, choice, mults, scores, top.hist,
    uniform(gpu, [t.N, t.L, perGroup, t.tiles, b.sinkEnd, b.winStart, b.R])], [t.tiles, s.G]);
  const topK = top.stages.slice(1);
  const scoring = [choose, score];
  return { dispatches: [...scoring, ...topK], selection: top.selection, scoring, topK, choice, mults, scores };
}

export interface TopKArgs {
  /** i32 [lists, N] fixed-point scores, |score| < 2^21; cleared by the last dispatch. */
  scores: GPUBuffer;
  lists: number; step: GPUBuffer; opts: SelectOptions; perQueryHead: boolean;
}

/** The csa_topk stages over `scores`: the selection of each list, in ascending key order. */
export function topKDispatches(k: Kernels, a: TopKArgs): { dispatches: Dispatch[]; selection: Selection } {
  const top = topKStages(k, a);
  return { dispatches: top.stages, selection: top.selection };
}

/** All four csa_topk stages (HIST, REFINE, COUNT, COMPACT), and the histograms that HIST fills. */
function topKStages(k: Kernels, a: TopKArgs): { stages: Dispatch[]; selection: Selection; hist: GPUBuffer } {
  const gpu = k.gpu;
  const b = contextBudget(a.opts);
  const { N, maxNewTokens } = a.opts;
  const chunks = ceilDiv(N, TOPK_CHUNK);
  const hist = storage(gpu, a.lists * 2 * 2048 * 4, 'csa top-k histograms');
  const state = storage(gpu, a.lists * 16, 'csa top-k thresholds');
  const chunkCounts = storage(gpu, a.lists * chunks * 8, 'csa top-k chunk counts');
  const sel = storage(gpu, fitBinding(gpu, a.lists * b.kmax * 4, 'the selection'), 'csa selection');
  const counts = storage(gpu, a.lists * 4, 'csa selection counts');
  const buffers = [a.scores, hist, state, chunkCounts, sel, counts, a.step];
  const params = uniform(gpu, [N, b.R, b.sinkEnd, b.winStart, chunks, b.kctx, b.kmax, maxNewTokens]);
  const stages: [string, number[]][] = [
    ['HIST', [0, 1]], ['REFINE', [0, 1, 2]], ['COUNT', [0, 1, 2, 3]], ['COMPACT', [0, 1, 2, 3, 4, 5, 6]],
  ];
  const dispatches = stages.map(([variant, used]) =>
    variantDispatch(k, 'csa_topk', variant, [...used.map((i): [number, GPUBuffer] => [i, buffers[i]]), [7, params]], [chunks, a.lists]));
  return { stages: dispatches, selection: { sel, counts, kmax: b.kmax, perQueryHead: a.perQueryHead }, hist };
}

function checkTables(t: LayerTables, s: Shape): void {
  check(t.groups === s.G && t.m === s.m && t.C === s.C && t.ds === s.ds,
    `csa: tables of ${t.groups} groups x ${t.m} subspaces x ${t.C} centroids do not match the CSA settings (${s.G} x ${s.m} x ${s.C})`);
}

// ---------------------------------------------------------------------------------------------
// Transfer (bundles)

/** Tables on the CPU: lists cut to `width` = the longest list; scores as f16 bits (lossless). */
export interface TableData {
  groups: number; N: number; m: number; C: number; ds: number; L: number; width: number;
  /** f32 [groups, m, C, ds] */
  centroids: Float32Array;
  /** u32 [groups, m, C, width], zero past each list's length */
  listIdx: Uint32Array;
  /** f16 bits [groups, m, C, width] */
  listScore: Uint16Array;
  /** u32 [groups, m, C] */
  listLen: Uint32Array;
}

export async function downloadTables(gpu: Gpu, t: LayerTables): Promise<TableData> {
  const lists = t.groups * t.m * t.C;
  // All four reads in flight together: each map costs milliseconds of latency.
  const [len, tiles, packed, centroids] = await Promise.all([
    readBuffer(gpu, t.listLen, lists * 4),
    readBuffer(gpu, t.listTiles, lists * (t.tiles + 1) * 4),
    readBuffer(gpu, t.listEntry, lists * t.L * 4),
    readBuffer(gpu, t.centroids, lists * t.ds * 4),
  ]);
  const listLen = new Uint32Array(len);
  const width = listLen.reduce((a, b) => Math.max(a, b), 0);
  const starts = new Uint32Array(tiles);
  // An entry is its key's offset in its tile (low 16 bits) and its f16 score bits (high 16 bits).
  const entries = new Uint32Array(packed);
  const listIdx = new Uint32Array(lists * width);
  const listScore = new Uint16Array(lists * width);
  const { tiles: tileCount, tile: tileKeys, L } = t;
  for (let l = 0; l < lists; l++) {
    const row = l * (tileCount + 1), src = l * L, dst = l * width;
    for (let tile = 0; tile < tileCount; tile++) {
      const base = tile * tileKeys, end = starts[row + tile + 1];
      for (let e = starts[row + tile]; e < end; e++) {
        const w = entries[src + e];
        listIdx[dst + e] = base + (w & 0xffff);
        listScore[dst + e] = w >>> 16;
      }
    }
  }
  return {
    groups: t.groups, N: t.N, m: t.m, C: t.C, ds: t.ds, L: t.L, width,
    centroids: new Float32Array(centroids),
    listIdx, listScore, listLen,
  };
}

/** Uploads tables read by downloadTables and indexes them. */
export async function uploadTables(k: Kernels, data: TableData, tile = TILE_KEYS): Promise<LayerTables> {
  const gpu = k.gpu;
  const lists = data.groups * data.m * data.C;
  check(data.width === data.L, `csa: tables of lists ${data.width} wide, not L = ${data.L}`);
  fitBinding(gpu, data.listIdx.byteLength, 'a lookup-list table');
  const tiles = tilesOver(data.N, tile);
  const up = uploader(gpu);
  const t: LayerTables = {
    groups: data.groups, N: data.N, m: data.m, C: data.C, ds: data.ds, L: data.L, tile, tiles,
    centroids: upload(gpu, data.centroids, 'csa centroids'),
    listEntry: await allocate(gpu, data.listScore.length * 4, 'csa list entries'),
    listLen: upload(gpu, data.listLen, 'csa list lengths'),
    listTiles: storage(gpu, fitBinding(gpu, lists * (tiles + 1) * 4, 'the list index'), 'csa list index'),
    listBound: storage(gpu, lists * 4, 'csa list bounds'),
    listFaults: storage(gpu, 4, 'csa list faults'),
  };
  const keys = await allocate(gpu, data.listIdx.byteLength, 'csa list keys');
  await up.widen(t.listEntry, 0, data.listScore);
  await up.write(keys, 0, data.listIdx);
  oneShot(gpu, () => indexDispatch(k, t, keys), (d) => submit(gpu, (pass) => record(pass, [d])));
  release(gpu, keys);
  return t;
}

/** Frees a layer's table buffers. */
export function destroyTables(gpu: Gpu, t: LayerTables): void {
  for (const b of [t.centroids, t.listEntry, t.listLen, t.listTiles, t.listBound, t.listFaults]) release(gpu, b);
}
