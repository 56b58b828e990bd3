/**
 * CSAttention's offline table build, per layer (buildTables), on the GPU. Each table group's queries
 * are split into m sub-vectors (csa_rows); cosine k-means gives C unit centroids per subspace
 * (csa_kmeans_*); each centroid keeps the L = ceil(αN) context keys with the largest partial score
 * <centroid, key sub-vector> (csa_partial_scores; ties: the lower key), in ascending key order
 * (csa_topl); the list index is then derived from the lists (tables.ts).
 */
import { check } from '../../errors.js';
import { allocate, checkGpu, collecting, fitBinding, release, type Gpu } from '../../gpu/device.js';
import { ceilDiv, dispatchOf, kernelParams, record, submit, upload, type Binding, type Dispatch, type Kernels } from '../../gpu/kernels.js';
import { rowParts } from '../../gpu/parts.js';
import { mulberry32 } from '../../random.js';
import {
  allocateTables, indexDispatch, listLength, ropeBuffer, shapeOf, TILE_KEYS, type CsaParams, type LayerTables, type Shape,
} from './tables.js';

/** Workgroup sizes of the kernels, as in their WGSL defaults. */
const WG_SMALL = 64;
/** Most points csa_kmeans_assign sums per workgroup: its fixed point (2^18) stays below 2^30. */
const MAX_KMEANS_CHUNK = 4096;

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
  const kernel = k.get('csa_rows', { defines: r.keys ? ['KEYS'] : [], constants: { DS: s.ds } });
  const params = kernelParams(k.gpu, [slice.tokens, slice.tok0, slice.tok0 * r.heads, r.tokens * r.heads, r.heads, r.head0, r.srcHeads,
    r.capacity, s.d, +(p.rope === 'pre'), +r.normalize]);
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
  /** Scratch made by buildScratch for these args (the layers of a prefill share one); else made and freed per build. */
  scratch?: BuildScratch;
}

/**
 * Queues the build of one layer's tables on the GPU and returns them: later work on the queue sees
 * them built.
 */
export async function buildTables(k: Kernels, a: BuildArgs): Promise<LayerTables> {
  return queueBuild(k, await tableBuild(k, a));
}

/** Queues a build made by tableBuild, once, and frees its dispatches (Dawn frees a buffer destroyed in use once it has run). */
export function queueBuild(k: Kernels, b: TableBuild): LayerTables {
  try {
    for (const ds of b.stages) submit(k.gpu, (pass) => record(pass, ds));
    checkGpu(k.gpu);
  } finally {
    b.release();
  }
  return b.tables;
}

/** One layer's tables, allocated, and the dispatches that build them (run in order, any number of times). */
export interface TableBuild {
  tables: LayerTables;
  /** Per table group its dispatches, then the list index. */
  stages: Dispatch[][];
  /** Frees the dispatches' params and the scratch it made (not the tables, nor args' scratch). */
  release(): void;
}

/** The sizes of one layer's build, checked. */
function buildShape(gpu: Gpu, a: BuildArgs) {
  const p = a.params;
  const s = shapeOf(p, a.Hq, a.Hkv, a.d);
  const { N } = a;
  check(N >= 1 && N <= a.capacity, `csa: context of ${N} tokens does not fit the KV cache (${a.capacity})`);
  check(Number.isInteger(p.kmeansIters) && p.kmeansIters >= 0, `csa: kmeansIters must be a non-negative integer, not ${p.kmeansIters}`);
  const chunk = a.kmeansChunk ?? MAX_KMEANS_CHUNK;
  check(chunk >= 1 && chunk <= MAX_KMEANS_CHUNK, `csa: k-means chunk must be in [1, ${MAX_KMEANS_CHUNK}]`);
  check(s.C * s.ds * 4 <= gpu.device.limits.maxComputeWorkgroupStorageSize,
    `csa: centroids x subspace dims (${s.C} x ${s.ds}) exceed the GPU's workgroup memory for k-means`);
  const P = s.perGroup * N;
  check(ceilDiv(P, WG_SMALL) <= gpu.device.limits.maxComputeWorkgroupsPerDimension, `csa: ${P} query rows per table group are too many for one dispatch`);
  return { s, N, L: listLength(p.listFraction, N), P, words: ceilDiv(N, 2), chunk, chunks: ceilDiv(P, chunk) };
}

/**
 * What a layer's build works in: the same sizes for every layer of a prefill, which can allocate it
 * once (buildScratch) and pass it to each layer's build.
 */
export interface BuildScratch {
  /** The sizes it was made for (buildShape's, as a string). */
  shape: string;
  points: GPUBuffer; pointNorms: GPUBuffer; keys: GPUBuffer; keyNorms: GPUBuffer;
  part: GPUBuffer; scores: GPUBuffer;
  /** u32 [groups, m, C, L]: the lists' keys, until the index packs them into listEntry. */
  listKeys: GPUBuffer;
  release(): void;
}

/** Scratch for the builds of `a`'s shape and context. */
export async function buildScratch(gpu: Gpu, a: BuildArgs): Promise<BuildScratch> {
  const shape = buildShape(gpu, a);
  const { s, N, L, P, words, chunks } = shape;
  const buffers = {
    points: await allocate(gpu, fitBinding(gpu, P * s.d * 4, 'the k-means points'), 'csa k-means points'),
    pointNorms: await allocate(gpu, s.m * P * 4, 'csa k-means point norms'),
    keys: await allocate(gpu, fitBinding(gpu, N * s.d * 4, 'the key sub-vectors'), 'csa key sub-vectors'),
    listKeys: await allocate(gpu, fitBinding(gpu, s.G * s.m * s.C * L * 4, 'a lookup-list table'), 'csa list keys'),
    keyNorms: await allocate(gpu, s.m * N * 4, 'csa key norms'),
    part: await allocate(gpu, fitBinding(gpu, s.m * chunks * s.C * s.ds * 4, 'the k-means partial sums'), 'csa k-means sums'),
    scores: await allocate(gpu, fitBinding(gpu, s.m * s.C * words * 4, 'the partial scores'), 'csa partial scores'),
  };
  return { ...buffers, shape: JSON.stringify(shape), release: () => { for (const b of Object.values(buffers)) release(gpu, b); } };
}

/** The work of buildTables, for it and for profiling (scripts/bench/table-build.mjs). */
export async function tableBuild(k: Kernels, a: BuildArgs): Promise<TableBuild> {
  const gpu = k.gpu;
  const p = a.params;
  const shape = buildShape(gpu, a);
  const { s, N, L, P, words, chunk, chunks } = shape;
  const own = a.scratch ? null : await buildScratch(gpu, a);
  const scratch = a.scratch ?? own!;
  check(scratch.shape === JSON.stringify(shape), 'csa: table-build scratch of another shape or context');
  const t = await allocateTables(gpu, s, N, L, a.tile ?? TILE_KEYS);
  const made: GPUBuffer[] = [];
  const stages = collecting(gpu, made, () => {
    const invFreq = ropeBuffer(gpu, p, a.invFreq);
    const groups = Array.from({ length: s.G }, (_, g) => groupBuild(k, s, p, a, t, scratch, { g, P, words, chunk, chunks, invFreq }));
    return [...groups, [indexDispatch(k, t, scratch.listKeys)]];
  });
  await k.ready();
  return { tables: t, stages, release: () => { for (const b of made) release(gpu, b); own?.release(); } };
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
    kernelParams(gpu, [P, s.C, s.ds, g, s.m])], [ceilDiv(s.C * s.ds, WG_SMALL), s.m]);
  const DS4 = { constants: { DS4: ds4 } };
  const assign = dispatchOf(k.get('csa_kmeans_assign', { constants: { DS4: ds4, CAP: s.C * s.ds } }), [x.points, t.centroids, x.part,
    kernelParams(gpu, [P, s.C, g, s.m, j.chunk, j.chunks])], [j.chunks, s.m]);
  const update = dispatchOf(k.get('csa_kmeans_update', DS4), [x.part, t.centroids,
    kernelParams(gpu, [s.C, j.chunks, g, s.m])], [ceilDiv(s.C, WG_SMALL), s.m]);
  const scores = dispatchOf(k.get('csa_partial_scores', DS4), [x.keys, t.centroids, x.scores,
    kernelParams(gpu, [a.N, j.words, s.C, g, s.m])], [ceilDiv(j.words, WG_SMALL), s.C, s.m]);
  const rows = s.m * s.C;
  const topl = dispatchOf(k.get('csa_topl'), [x.scores, x.listKeys, t.listEntry, t.listLen,
    kernelParams(gpu, [a.N, j.words, t.L, g * rows])], [rows]);
  const kmeans = Array.from({ length: p.kmeansIters }, () => [assign, update]).flat();
  return [...queries, keys, init, ...kmeans, scores, topl];
}
