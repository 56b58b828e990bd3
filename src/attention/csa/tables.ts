/**
 * CSAttention (centroid-scoring sparse attention): its settings, and the tables of a layer on the
 * GPU through their life: allocated and indexed (for ./build.ts), downloaded for a bundle, uploaded
 * from one and indexed again, checked against the settings (for ./select.ts), destroyed.
 *
 * A table group is a KV head (the prefill queries of its g query heads pooled) or a single query
 * head. Each group's queries are split into m sub-vectors, with C unit centroids per subspace; each
 * centroid has a list of L context keys, in ascending key order, with their partial scores
 * <centroid, key sub-vector>. An index derived from the lists (csa_list_index) says where each tile
 * of keys starts in each list and holds each list's largest |score|; it packs every entry into
 * 4 bytes (f16 score, key offset in its tile), and the full keys are dropped: the GPU keeps the
 * packed entries only.
 *
 * Conventions: list scores are f16, on the GPU and in the bundle alike (a GPU entry packs them with
 * the key's offset in its tile), so a reloaded table holds exactly the built values.
 */
import { check } from '../../errors.js';
import { allocate, fitBinding, oneShot, release, type Gpu } from '../../gpu/device.js';
import { ceilDiv, dispatchOf, kernelParams, readBuffer, record, storage, submit, upload, type Dispatch, type Kernels } from '../../gpu/kernels.js';
import { uploader } from '../../gpu/uploader.js';

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
  /**
   * Decode only, with 'kv-head' tables: each of a group's query heads picks its own centroid per
   * subspace ('per-head', perGroup * m lists summed), or the sum of their sub-vectors picks once
   * ('pooled', m lists: their summed dot products with a key are the dot product with the sum).
   */
  choice: Choice;
}

export const CHOICES = ['per-head', 'pooled'] as const;
export type Choice = (typeof CHOICES)[number];

/** Defaults measured with `csattn eval` on the bundled model (README, Accuracy: the sweep). */
export const DEFAULT_CSA: CsaParams = {
  subspaces: 16, centroids: 64, listFraction: 0.1, kmeansIters: 10, seed: 0,
  granularity: 'kv-head', rope: 'post', scoreScale: 'qnorm', choice: 'per-head',
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

/** Keys per tile of the list index, at most: csa_score sums a tile in workgroup memory. */
export const TILE_KEYS = 2048;

// ---------------------------------------------------------------------------------------------
// Shapes

export interface Shape {
  Hq: number; Hkv: number; d: number;
  /** Table groups, and query heads per group. */
  G: number; perGroup: number;
  /** Centroid choices per group and subspace at decode: perGroup, or 1 for a pooled choice. */
  choosers: number;
  m: number; C: number; ds: number;
}

export function shapeOf(p: CsaParams, Hq: number, Hkv: number, d: number): Shape {
  const { subspaces: m, centroids: C } = p;
  check(Number.isInteger(m) && m >= 1 && d % m === 0, `csa: head dim ${d} does not split into ${m} subspaces`);
  const ds = d / m;
  check(ds % 4 === 0 && ds <= 64, `csa: a subspace must have a multiple of 4 dims, at most 64 (head dim ${d} / ${m} subspaces = ${ds})`);
  check(Number.isInteger(C) && C >= 1, `csa: centroids must be a positive integer, not ${C}`);
  check(Hkv >= 1 && Hq % Hkv === 0, `csa: ${Hq} query heads do not split into ${Hkv} KV heads`);
  const kv = p.granularity === 'kv-head';
  const perGroup = kv ? Hq / Hkv : 1;
  const choosers = p.choice === 'pooled' ? 1 : perGroup;
  check(choosers * m <= 256, `csa: query heads choosing per KV head x subspaces must be at most 256 (${choosers} x ${m})`);
  return { Hq, Hkv, d, G: kv ? Hkv : Hq, perGroup, choosers, m, C, ds };
}

export function listLength(alpha: number, N: number): number {
  check(alpha > 0 && alpha <= 1, `csa: listFraction must be in (0, 1], not ${alpha}`);
  return Math.min(N, Math.max(1, Math.ceil(alpha * N)));
}

/** Refuses tables whose shape is not the one the settings give (shapeOf). */
export function checkTables(t: LayerTables, s: Shape): void {
  check(t.groups === s.G && t.m === s.m && t.C === s.C && t.ds === s.ds,
    `csa: tables of ${t.groups} groups x ${t.m} subspaces x ${t.C} centroids do not match the CSA settings (${s.G} x ${s.m} x ${s.C})`);
}

/**
 * The RoPE inv_freq binding of the kernels that read q or k (csa_rows, csa_choose): the model's for
 * 'pre', which un-rotates with the HF rotate-half layout (element i pairs with i + d/2) and angle
 * f32(pos) * invFreq[i mod d/2]; a placeholder for 'post'.
 */
export function ropeBuffer(gpu: Gpu, p: CsaParams, invFreq?: GPUBuffer): GPUBuffer {
  if (p.rope === 'post') return storage(gpu, 16, 'csa unused inv_freq');
  check(invFreq, "csa: rope 'pre' needs the model's RoPE inv_freq buffer");
  return invFreq;
}

// ---------------------------------------------------------------------------------------------
// Tables on the GPU

export async function allocateTables(gpu: Gpu, s: Shape, N: number, L: number, tile: number): Promise<LayerTables> {
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
export function indexDispatch(k: Kernels, t: LayerTables, keys: GPUBuffer): Dispatch {
  const lists = t.groups * t.m * t.C;
  const nx = Math.min(lists, k.gpu.device.limits.maxComputeWorkgroupsPerDimension);
  return dispatchOf(k.get('csa_list_index'), [keys, t.listEntry, t.listLen, t.listTiles, t.listBound, t.listFaults,
    kernelParams(k.gpu, [lists, t.L, t.tiles, t.tile, nx, t.N])], [nx, ceilDiv(lists, nx)]);
}

/** Whether uploaded tables hold lists in ascending key order, of context keys only (waits for the GPU). */
export async function listsSound(gpu: Gpu, t: LayerTables): Promise<boolean> {
  return new Uint32Array(await readBuffer(gpu, t.listFaults, 4))[0] === 0;
}

/** Frees a layer's table buffers. */
export function destroyTables(gpu: Gpu, t: LayerTables): void {
  for (const b of [t.centroids, t.listEntry, t.listLen, t.listTiles, t.listBound, t.listFaults]) release(gpu, b);
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
