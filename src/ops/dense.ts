/**
 * Typed builders for the dense (non-attention) kernels of the forward pass: embedding, RMSNorm,
 * matmul (matvec for decode, tiled for prefill and for a decode batch of 9-16 tokens on tensor
 * cores; bias, accumulate, SwiGLU; f16 or quantized weights, src/ops/quant.ts), RoPE + KV-cache
 * write, argmax and top-p sampling. Each builds its uniforms and bind groups once and returns dispatches
 * that are replayed every step; values that change per step come from the `step` buffer.
 */
import { check } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { ceilDiv, dispatchOf, kernelParams, type Binding, type Dispatch, type Field, type Grid, type Kernels } from '../gpu/kernels.js';
import { flatGrid, maxGroups, partOf, rowParts, widened, type RowPart } from '../gpu/parts.js';
import { dequantize, matrixParts, partBindings, type Matrix, type WeightFormat } from './quant.js';
import type { BatchRows, KvScales } from './attention.js';

/**
 * Chunks of at most this many tokens use the matvec kernel (weights streamed once, as in decode);
 * longer ones the tiled matmul. On tensor cores, f16 weights go to the batch product from
 * BATCH_MMA_FROM tokens, below this. K = N = 1024 on lavapipe, matvec vs tiled: 2.5 vs 72 ms at T =
 * 1, 18 vs 54 ms at T = 8, 41 vs 52 ms at T = 9, 60 vs 48 ms at T = 12. (On an H100, K = N = 4096:
 * matvec 56 us at T = 8, tiled 250 us at T = 9 to 64: too few 64-token tiles to fill the GPU.)
 */
export const MATVEC_MAX_T = 8;
/** Tokens and rows of y per workgroup of matmul.wgsl. */
const TILE = 64;
/**
 * Fewest tokens for matmul_mma's long cut (128-token x 128-row tiles); fewer take its short cut
 * (64-token x 64-row tiles): four times the workgroups, which few tokens need to fill the GPU.
 * A layer's four products on an H100 (session 28, the short cut with its own footprint and 32 rows a
 * subgroup without SwiGLU), long / short: 1.22 / 0.89 ms at 64 tokens, 1.33 / 1.07 at 128, 1.58 /
 * 1.47 at 256, 1.77 / 1.92 at 384, 2.00 / 2.70 at 512.
 */
export const MMA_LONG_FROM = 320;

/** matmul_mma's cut for T tokens: tokens and rows of y a workgroup (TM, TN), and the override constants that make it. */
export function mmaCut(T: number, swiglu: boolean): { tokens: number; rows: number; constants: Record<string, number> } {
  if (T >= MMA_LONG_FROM) return { tokens: 128, rows: 128, constants: {} };
  return { tokens: 64, rows: 64, constants: swiglu ? { TI: 2, SG: 4 } : { TI: 2, TJ: 2 } };
}
/** Most tokens of matmul_batch_mma.wgsl (a decode batch's), and its rows of W per workgroup (TM, TN: also the fewest it takes). */
export const BATCH_MMA_TOKENS = 16;
const BATCH_MMA_ROWS = 32;
/**
 * Fewest tokens a product of f16 weights takes to matmul_batch_mma on tensor cores (fewer: the
 * matvec). H100, Llama-3.1-8B shape, a decode step's products (session 39): the matvec 5.5 ms at 1
 * token, 8.75 at 4, 12.6 at 5, 13.9 at 6, 17.0 at 8; the batch product 10.7-11.1 at 5 to 16 (+ 1.3 of
 * halves): B = 5 / 6 / 8 tokens/s 325-326 / 310-334 / 384-395 with the matvec, 265-354 / 424-425 /
 * 552-555 here (32K, full attention, two runs each).
 */
export const BATCH_MMA_FROM = 5;
/** Values of k in a stage of matmul_batch_mma (SK): x's rows are padded to a multiple. */
const BATCH_MMA_STAGE = 256;
/** Workgroup size of the single-workgroup kernels (argmax, sample). */
const SELECT_WG = 1024;
const EMBEDDING_WG = 256;

export interface EmbeddingArgs {
  ids: GPUBuffer; // u32 [T]
  table: GPUBuffer; // f16 [vocab, H]
  out: GPUBuffer; // f32 [T, H]
  T: number;
  H: number;
}

/**
 * out[t] = table[ids[t]]. A table larger than one binding is split by rows, one dispatch per part
 * (each fills the tokens whose id falls in its rows), hence the array.
 */
export function embedding(k: Kernels, a: EmbeddingArgs): Dispatch[] {
  check(a.H % 2 === 0, `embedding: hidden size ${a.H} is odd`);
  const vocab = Math.floor(a.table.size / (a.H * 2));
  const kernel = k.get('embedding', { constants: { WG: EMBEDDING_WG } });
  return rowParts(k.gpu, vocab, a.H * 2, 'embedding table').map((part) =>
    dispatchOf(kernel, [a.ids, partOf(a.table, part), a.out, kernelParams(k.gpu, [a.H, part.row0, part.rows])], [ceilDiv(a.H / 2, EMBEDDING_WG), a.T]),
  );
}

export interface RmsnormArgs {
  x: GPUBuffer; // f32 [rows, n]
  weight: GPUBuffer; // f16 [n]
  out: GPUBuffer; // f32 [rows, n], not x
  rows: number;
  n: number;
  eps: number;
}

export function rmsnorm(k: Kernels, a: RmsnormArgs): Dispatch {
  check(a.n % 2 === 0, `rmsnorm: width ${a.n} is odd`);
  check(a.rows <= maxGroups(k.gpu), `rmsnorm: ${a.rows} rows exceed one dispatch`);
  return dispatchOf(k.get('rmsnorm'), [a.x, a.weight, a.out, kernelParams(k.gpu, [a.n, { f32: a.eps }])], a.rows);
}

export interface MatmulArgs {
  x: GPUBuffer; // f32 [T, K]
  w: Matrix; // [N, K]
  w2?: Matrix; // [N, K], the up projection with swiglu, in w's format
  bias?: GPUBuffer; // f16 [N]
  y: GPUBuffer; // f32 [T, N]
  T: number;
  K: number;
  N: number;
  accumulate?: boolean;
  swiglu?: boolean;
  /** RMSNorm (HF) of x with this weight fused in front (where fusesNorm says the product can). */
  norm?: { weight: GPUBuffer; eps: number };
  /** A decode batch's product on tensor cores (batchProduct): x as f16 goes here first, batchHalvesBytes(K) at least. */
  halves?: GPUBuffer;
  /**
   * Quantized weights in the tiled product (T > MATVEC_MAX_T): f16 buffers they are expanded into, a row
   * range at a time (one for w, one for w2); the larger, the fewer ranges.
   */
  expandInto?: GPUBuffer[];
}

/**
 * y (=, or += with accumulate) x · Wᵀ (+ bias); with swiglu, y = silu(x · Gᵀ) ⊙ (x · Uᵀ) for
 * G = w, U = w2. K must be a multiple of 8. One dispatch per row range of W that fits a binding.
 */
export function matmul(k: Kernels, a: MatmulArgs, shape = matvecShape(a)): Dispatch[] {
  check(a.K % 8 === 0, `matmul: K = ${a.K} is not a multiple of 8`);
  check(a.T >= 1, 'matmul: no tokens');
  check(!a.swiglu || a.w2, 'matmul: swiglu needs w2 (the up projection)');
  check(!a.w2 || a.w2.format === a.w.format, 'matmul: w and w2 in different formats');
  check(!(a.swiglu && a.bias), 'matmul: bias with swiglu is not supported');
  check(!a.norm || fusesNorm(k.gpu, a), `matmul: a fused RMSNorm needs T <= ${MATVEC_MAX_T} or a batch product of f16 weights on tensor cores, got T = ${a.T}`);
  const defines = productDefines(a);
  if (batchProduct(k.gpu, a)) return batchMatmul(k, a, defines);
  if (a.T <= MATVEC_MAX_T) return matrixParts(k, a.w, a.N, a.K, 'matmul weight').map((part) => matvecPart(k, a, part, defines, shape));
  const product: PartProduct = (part, w, w2) => tiledPart(k, a, part, defines, w, w2);
  if (a.w.format !== 'f16') return expandedParts(k, a, product);
  return rowParts(k.gpu, a.N, a.K * 2, 'matmul weight').map((part) => product(part, partOf(a.w.data, part), a.w2 && partOf(a.w2.data, part)));
}

/**
 * The product of a decode batch (at most 16 tokens) on tensor cores, whatever batchProduct says
 * (benchmarks compare it with the matvec): x to f16 first, then each row range to matmul_batch_mma
 * (f16 ranges widened to a workgroup's rows; a quantized range of fewer goes to the tiled kernels).
 */
export function batchMatmul(k: Kernels, a: MatmulArgs, defines = productDefines(a)): Dispatch[] {
  check(k.gpu.tensorCores && a.T <= BATCH_MMA_TOKENS && a.K % 16 === 0 && a.N >= BATCH_MMA_ROWS, `matmul: ${a.T} tokens x ${a.K} x ${a.N} is no batch product on this GPU`);
  check(!a.norm || a.w.format === 'f16', 'matmul: a batch product of quantized weights takes no fused RMSNorm');
  check(!!a.halves && a.halves.size >= batchHalvesBytes(a.K), `matmul: a batch product of K = ${a.K} needs a buffer of ${batchHalvesBytes(a.K)} bytes for its f16 x`);
  const toHalves = halves(k, { x: a.x, out: a.halves!, T: a.T, K: a.K, norm: a.norm });
  const product: PartProduct = (part, w, w2) => (part.rows >= BATCH_MMA_ROWS ? batchPart(k, a, part, defines, w, w2) : tiledPart(k, a, part, defines, w, w2));
  if (a.w.format !== 'f16') return [toHalves, ...expandedParts(k, a, product)];
  const parts = rowParts(k.gpu, a.N, a.K * 2, 'matmul weight').map((p) => widened(k.gpu, p, BATCH_MMA_ROWS, a.K * 2));
  return [toHalves, ...parts.map((part) => product(part, partOf(a.w.data, part), a.w2 && partOf(a.w2.data, part)))];
}

/** The weight products' defines for a product's options. */
function productDefines(a: MatmulArgs): string[] {
  return [
    a.swiglu && 'SWIGLU',
    a.bias && 'BIAS',
    (a.swiglu || a.bias) && 'EXTRA', // one more binding before y
    a.accumulate && 'ACCUMULATE',
    a.norm && 'NORM',
  ].filter((d): d is string => !!d);
}

/** The product over one row range of W, whose weights (and w2's) are bound as w (and w2) in f16. */
type PartProduct = (part: RowPart, w: Binding, w2?: Binding) => Dispatch;

/** The bindings of x, a row range of the weights (and w2 or the bias), and y. */
function productBindings(a: MatmulArgs, w: Binding, w2?: Binding): Binding[] {
  const extra = a.swiglu ? [w2!] : a.bias ? [a.bias] : [];
  return [a.x, w, ...extra, a.y];
}

/**
 * The tiled product over quantized weights: each row range is expanded to f16 into a.expandInto, then
 * multiplied as f16 (the tensor cores read f16 tiles; the expansion reads half the bytes the
 * product would read from an f16 weight, and writes them once).
 */
function expandedParts(k: Kernels, a: MatmulArgs, product: PartProduct): Dispatch[] {
  const into = a.expandInto;
  check(into && into.length >= (a.swiglu ? 2 : 1), 'matmul: quantized weights in a tiled product need buffers to expand them into');
  const maxRows = Math.floor(Math.min(...into.map((b) => b.size)) / (2 * a.K));
  return matrixParts(k, a.w, a.N, a.K, 'matmul weight', maxRows).flatMap((part) => {
    const expand = (m: Matrix, out: GPUBuffer): [Dispatch, Binding] => {
      check(m.format !== 'f16', 'matmul: an f16 weight needs no expanding');
      const b = partBindings(m, part, a.K);
      const f16 = { buffer: out, offset: 0, size: part.rows * a.K * 2 };
      return [dequantize(k, { format: m.format, data: b.data, scales: b.scales!, out: f16, values: part.rows * a.K }), f16];
    };
    const [dw, w] = expand(a.w, into[0]);
    const [dw2, w2] = a.w2 ? expand(a.w2, into[1]) : [];
    return [dw, ...(dw2 ? [dw2] : []), product(part, w, w2)];
  });
}

/** How a matvec is cut: rows a workgroup owns, its threads, column blocks a thread loads before use. */
export interface MatvecShape { rows: number; wg: number; unroll: number }

/**
 * Matvec shape, from sweeps on an H100 (T = 1): about 4 weight loads per thread and step over k
 * (4 rows, or 2 rows of gate and up; at most 16 sums per thread), and 128 threads, or 64 when K is
 * short (K = 896: 2.5 TB/s against 0.9 with 256 threads and 4 rows of SwiGLU). Q8 weights take the
 * same shape: more rows, fewer threads or more blocks in flight each lost in the step on the H200.
 * Q4 rows are a quarter as long and a thread's x (f32, 128 bytes a column block) outweighs its
 * weights: 16 rows (8 of gate and up) share it (H200, in the step: 3.12 ms against 3.81 for Q8's
 * shape; docs/perf-notes.md).
 */
export function matvecShape(a: Pick<MatmulArgs, 'K' | 'T' | 'swiglu'> & { w?: Pick<Matrix, 'format'> }): MatvecShape {
  if (a.T > 1 && (a.w?.format ?? 'f16') === 'f16') return manyTokensShape(a.K, a.T);
  const rows = a.w?.format === 'q4' ? (a.swiglu ? 8 : 16) : (a.swiglu ? 2 : 4);
  return { rows: Math.min(rows, Math.floor(16 / a.T)), wg: a.K / 8 >= 128 ? 128 : 64, unroll: 1 };
}

/**
 * The f16 matvec of 2-8 tokens: one subgroup a workgroup (two for K >= 8192), whose sums need no
 * barrier, 2 rows (4 of a long K up to 4 tokens), 2 column blocks in flight. Sweeps at 2, 4 and 8
 * tokens on an H100 (matvec.mjs --sweep-tokens, 2026-12-05, docs/perf-notes.md): a step's products
 * in 14.7 / 22.9 / 34.9 ms against 23.7 / 34.3 / 56.8 with T = 1's shape (128 threads), within
 * 7% of the step with every shape at its best cut. In the model (the same H100, A/B beside a build
 * with T = 1's shape, 32K): B = 2 / 4 / 8 decode 1.20-1.41x / 1.21-1.29x / 1.08-1.11x the tokens/s.
 */
function manyTokensShape(K: number, T: number): MatvecShape {
  const long = K >= 8192;
  return { rows: long && T <= 4 ? 4 : 2, wg: long ? 64 : 32, unroll: 2 };
}

/** The matvec's define for each weight format (the include that reads it), and the values of its 16-byte loads. */
const MATVEC_FORMAT: Record<WeightFormat, string> = { f16: 'F16W', q8: 'Q8', q4: 'Q4' };
const COLUMN_BLOCK: Record<WeightFormat, number> = { f16: 8, q8: 16, q4: 32 };

/** The sums a matvec thread holds (SUMS in matvec.wgsl), and its slots for weight loads in flight. */
const MATVEC_SUMS = 40;
const MATVEC_LOADS = 16;

/** Whether matvec.wgsl holds a cut: its sums (gate's and up's with SwiGLU, Σ x² per token with a fused norm: any truthy `norm`), its loads, its stores (a thread each). */
export function matvecHolds(a: { T: number; swiglu?: boolean; norm?: unknown }, shape: MatvecShape): boolean {
  const sums = (a.swiglu ? 2 : 1) * shape.rows * a.T + (a.norm ? a.T : 0);
  return sums <= MATVEC_SUMS && shape.rows * shape.unroll <= MATVEC_LOADS && shape.rows * a.T <= shape.wg;
}

function matvecPart(k: Kernels, a: MatmulArgs, part: RowPart, defines: string[], shape: MatvecShape): Dispatch {
  check(matvecHolds(a, shape), `matvec: ${shape.rows} rows x ${a.T} tokens x ${shape.unroll} blocks in ${shape.wg} threads is too many`);
  const format = a.w.format;
  const quant = format !== 'f16';
  const kernel = k.get('matvec', {
    defines: [...defines, MATVEC_FORMAT[format], ...(quant ? ['QUANT', ...(a.swiglu ? ['QUANT_SWIGLU'] : []), ...(k.gpu.int8Dot ? ['DOT4'] : [])] : [])],
    constants: { TOKENS: a.T, ROWS: shape.rows, WG: shape.wg, UNROLL: shape.unroll },
  });
  const params = kernelParams(k.gpu, [a.K / COLUMN_BLOCK[format], a.N, part.row0, part.rows, { f32: a.norm?.eps ?? 0 }]);
  const w = partBindings(a.w, part, a.K);
  const w2 = a.w2 && partBindings(a.w2, part, a.K);
  // The norm weight is binding 5 and the scales 6 and 7, whether or not an extra binding before y moved p to 4.
  const entries: [number, Binding][] = [...productBindings(a, w.data, w2?.data), params].map((b, i) => [i, b]);
  if (a.norm) entries.push([5, a.norm.weight]);
  if (w.scales) entries.push([6, w.scales]);
  if (w2?.scales) entries.push([7, w2.scales]);
  return dispatchOf(kernel, [], flatGrid(k.gpu, ceilDiv(part.rows, shape.rows)), entries);
}

type ProductShape = Pick<MatmulArgs, 'T' | 'K' | 'N'> & { w: Pick<Matrix, 'format'> };

/**
 * Whether T tokens of weights in `format` are a batch product's on this GPU (whose x then needs a
 * buffer): BATCH_MMA_FROM to 16 tokens on tensor cores; quantized weights, expanded to f16 first,
 * from MATVEC_MAX_T + 1 tokens (below, the matvec reads them as they are).
 */
export function batchTokens(gpu: Gpu, T: number, format: WeightFormat): boolean {
  const from = format === 'f16' ? BATCH_MMA_FROM : MATVEC_MAX_T + 1;
  return gpu.tensorCores && T >= from && T <= BATCH_MMA_TOKENS;
}

/** Whether a product goes to matmul_batch_mma: batchTokens, K a multiple of 16 and at least a workgroup's rows. */
export function batchProduct(gpu: Gpu, a: ProductShape): boolean {
  const ranges = a.K * 2 * 2 * BATCH_MMA_ROWS <= gpu.maxBinding; // a binding's row ranges hold a workgroup's rows
  return batchTokens(gpu, a.T, a.w.format) && a.K % 16 === 0 && a.N >= BATCH_MMA_ROWS && ranges;
}

/**
 * Whether a product can take its input's RMSNorm fused: the matvec and a batch product of f16
 * weights can (all their row ranges go to matmul_batch_mma, x through halves.wgsl); the tiled
 * kernels read a normalised copy.
 */
export function fusesNorm(gpu: Gpu, a: ProductShape): boolean {
  return a.T <= MATVEC_MAX_T || (batchProduct(gpu, a) && a.w.format === 'f16');
}

/** The padded length of x's rows for matmul_batch_mma (KP). */
export function batchRow(K: number): number {
  return ceilDiv(K, BATCH_MMA_STAGE) * BATCH_MMA_STAGE;
}

/** Pairs of x a workgroup of halves.wgsl converts (its SLICE: 256 threads x 2). */
const HALVES_SLICE = 512;

/** Bytes of the f16 x a batch product of K columns needs (MatmulArgs.halves). */
export function batchHalvesBytes(K: number): number {
  return BATCH_MMA_TOKENS * batchRow(K) * 2;
}

export interface HalvesArgs {
  x: GPUBuffer; // f32 [T, K]
  out: GPUBuffer; // f16 [16, batchRow(K)]
  T: number;
  K: number;
  norm?: { weight: GPUBuffer; eps: number };
}

/** out[t, k] = f16(x[t, k]) (of RMSNorm(x) · norm.weight with norm), zero for t >= T up to 16 rows and k >= K up to the padded row. */
export function halves(k: Kernels, a: HalvesArgs): Dispatch {
  check(a.T <= BATCH_MMA_TOKENS && a.K % 2 === 0, `halves: ${a.T} rows of ${a.K}: at most ${BATCH_MMA_TOKENS} rows of an even length`);
  const kernel = k.get('halves', { defines: a.norm ? ['NORM'] : [] });
  const params = kernelParams(k.gpu, [a.T, a.K, batchRow(a.K), { f32: a.norm?.eps ?? 0 }]);
  return dispatchOf(kernel, [a.x, a.out, params], [ceilDiv(batchRow(a.K) / 2, HALVES_SLICE), BATCH_MMA_TOKENS], a.norm ? [[3, a.norm.weight]] : []);
}

/** matmul_batch_mma over a row range of W (at least BATCH_MMA_ROWS rows, the first part.skip of them the range before's), x from a.halves. */
function batchPart(k: Kernels, a: MatmulArgs, part: RowPart, defines: string[], w: Binding, w2?: Binding): Dispatch {
  const kernel = k.get('matmul_batch_mma', { defines: [...defines.filter((d) => d !== 'NORM'), 'MMA', 'X_HALVES'] });
  const params = kernelParams(k.gpu, [a.T, a.K, a.N, part.row0, part.rows, batchRow(a.K), part.skip ?? 0]);
  const grid = flatGrid(k.gpu, ceilDiv(part.rows, a.swiglu ? BATCH_MMA_ROWS / 2 : BATCH_MMA_ROWS));
  return dispatchOf(kernel, [...productBindings({ ...a, x: a.halves! }, w, w2), params], grid);
}

/**
 * The tiled product of f16 weights w (and w2), a row range of W: on tensor cores where the device has
 * them (x rounded to f16 there).
 */
function tiledPart(k: Kernels, a: MatmulArgs, part: RowPart, defines: string[], w: Binding, w2?: Binding): Dispatch {
  const cut = k.gpu.tensorCores ? mmaCut(a.T, !!a.swiglu) : null;
  const params = kernelParams(k.gpu, [a.T, a.K, a.N, part.row0, part.rows]);
  const grid: Grid = [ceilDiv(part.rows, cut?.rows ?? TILE), ceilDiv(a.T, cut?.tokens ?? TILE)];
  check(Math.max(grid[0], grid[1]!) <= maxGroups(k.gpu), `matmul: ${a.T} x ${part.rows} exceeds one dispatch`);
  const kernel = cut ? k.get('matmul_mma', { defines: [...defines, 'MMA'], constants: cut.constants }) : k.get('matmul', { defines });
  return dispatchOf(kernel, [...productBindings(a, w, w2), params], grid);
}

export interface RopeKvArgs {
  qkv: GPUBuffer; // f32 [T, (Hq + 2·Hkv)·d]: the fused projection, q, k and v heads of a token in a row
  q: GPUBuffer; // f32 [T, Hq, d]: the rotated queries
  kCache: GPUBuffer; // f16 (or int8 with scales) [Hkv, capacity, d]
  vCache: GPUBuffer;
  /** A q8 cache's scales (kvcache.ts): rows are written as int8 with one scale each. */
  scales?: KvScales;
  invFreq: GPUBuffer; // f32 [d/2]
  step: GPUBuffer; // uniform { pos }
  T: number;
  Hq: number;
  Hkv: number;
  d: number;
  capacity: number;
  /** Qwen3: RMSNorm of each q / k head vector (weights f16 [d]) before rotating. */
  qkNorm?: { q: GPUBuffer; k: GPUBuffer; eps: number };
  /** A batch's step: token t is sequence t's, at position positions[t] (u32 [T], bound instead of step), written at its batch row. */
  batch?: { positions: GPUBuffer; rows: BatchRows };
}

/**
 * RoPE (HF rotate_half: element i pairs with i + d/2, angle pos · invFreq[i]) of the fused q/k/v
 * projection: q rotated into q; k rotated, and v, written into the caches (f16, or int8 rows and
 * their scales) at positions step.pos + t.
 */
export function ropeKv(k: Kernels, a: RopeKvArgs): Dispatch {
  check(a.d % 2 === 0 && a.d <= 512, `rope: head dimension ${a.d} must be even and at most 512`);
  const norm = a.qkNorm ? [a.qkNorm.q, a.qkNorm.k] : [];
  check(!a.scales || a.d % 4 === 0, `rope: a q8 KV cache needs a head dimension divisible by 4, got ${a.d}`);
  const rows = a.batch?.rows ?? { ctx: 0, room: 0 };
  const params = kernelParams(k.gpu, [a.Hq, a.Hkv, a.d, a.capacity, { f32: a.qkNorm?.eps ?? 0 }, 0, rows.ctx, rows.room]);
  const kernel = k.get('rope_kv', { defines: [...(a.qkNorm ? ['QK_NORM'] : []), ...(a.scales ? ['KV_Q8'] : []), ...(a.batch ? ['BATCH'] : [])] });
  const scales: [number, Binding][] = a.scales ? [[9, a.scales.k], [10, a.scales.v]] : [];
  return dispatchOf(kernel, [a.qkv, a.q, a.kCache, a.vCache, a.invFreq, a.batch?.positions ?? a.step, ...norm, params], [a.Hq + a.Hkv, a.T], scales);
}

export interface ArgmaxArgs {
  logits: GPUBuffer; // f32 [V]
  next: GPUBuffer; // u32 [1]
  history: GPUBuffer; // u32 [capacity + 1]
  step: GPUBuffer; // uniform { pos }
  V: number;
  /**
   * A batch of B rows: logits [B, V], next [B], and `positions` u32 [B + 1] (each row's position,
   * then the history row of this step) bound instead of step; row b's token goes to
   * history[positions[B] · B + b].
   */
  batch?: { B: number; positions: GPUBuffer };
}

/** Greedy: next[0] = history[step.pos + 1] = argmax(logits), the lowest index on ties. */
export function argmax(k: Kernels, a: ArgmaxArgs): Dispatch {
  return tokenChoice(k, 'argmax', a, [a.V]);
}

/** A token chooser's dispatch: one workgroup, or one per row of a batch. */
function tokenChoice(k: Kernels, name: string, a: ArgmaxArgs, params: Field[]): Dispatch {
  const kernel = k.get(name, { defines: a.batch ? ['BATCH'] : [], constants: { WG: selectWorkgroup(k.gpu) } });
  return dispatchOf(kernel, [a.logits, a.next, a.history, a.batch?.positions ?? a.step, kernelParams(k.gpu, params)], a.batch?.B ?? 1);
}

export interface SampleArgs extends ArgmaxArgs {
  temperature: number;
  topP: number;
  seed: number;
}

/**
 * Temperature + top-p sampling: keep the smallest set of most probable tokens whose probability
 * reaches topP (all tokens tied at the threshold included), renormalise, and draw with the uniform
 * sampleUniform(seed, step.pos) on the cumulative sum in token order. Output as argmax.
 */
export function sample(k: Kernels, a: SampleArgs): Dispatch {
  check(a.temperature > 0, `sampling temperature must be positive (got ${a.temperature}); use greedy decoding for 0`);
  check(a.topP > 0 && a.topP <= 1, `top-p must be in (0, 1] (got ${a.topP})`);
  return tokenChoice(k, 'sample', a, [a.V, { f32: 1 / a.temperature }, { f32: a.topP }, a.seed >>> 0]);
}

/** The uniform in [0, 1) that sample.wgsl draws at (seed, pos): 24 bits of a PCG hash. */
export function sampleUniform(seed: number, pos: number): number {
  return (pcg((pcg(seed >>> 0) + pos) >>> 0) >>> 8) / 2 ** 24;
}

function pcg(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

// ---------------------------------------------------------------------------------------------

function selectWorkgroup(gpu: Gpu): number {
  return Math.min(SELECT_WG, gpu.device.limits.maxComputeInvocationsPerWorkgroup);
}

export interface FillArgs {
  out: GPUBuffer; // f16 [n], n even
  n: number;
  center: number;
  half: number;
  seed: number;
}

/** Uniform random f16 values (synthetic weights made on the GPU); one dispatch per binding-sized part. */
export function fillUniform(k: Kernels, a: FillArgs): Dispatch[] {
  check(a.n % 2 === 0, `fill: ${a.n} values is odd`);
  const kernel = k.get('fill_uniform');
  return rowParts(k.gpu, a.n / 2, 4, 'fill').map((part, i) =>
    dispatchOf(kernel, [partOf(a.out, part), kernelParams(k.gpu, [part.rows, (a.seed + i * 0x9e3779b9) >>> 0, { f32: a.center }, { f32: a.half }])], flatGrid(k.gpu, ceilDiv(part.rows, 256))));
}

/** bf16 values to f16 in place (a bf16 checkpoint's weights, uploaded as stored); n may be odd. */
export function convertBf16(k: Kernels, a: { data: GPUBuffer; n: number }): Dispatch[] {
  const kernel = k.get('convert_bf16');
  return rowParts(k.gpu, Math.ceil(a.n / 2), 4, 'bf16 conversion').map((part) =>
    dispatchOf(kernel, [partOf(a.data, part), kernelParams(k.gpu, [part.rows])], flatGrid(k.gpu, ceilDiv(part.rows, 256))));
}
