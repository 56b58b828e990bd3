/**
 * Attention over the KV cache: causal flash-attention for a prefill chunk (over f16 rows), and
 * split-K flash-decoding for one token (over f16 or q8 rows), over all cached keys or over a sparse
 * selection of them; and the expansion of a q8 layer's rows to f16 for the readers of f16 rows.
 * Kernels: wgsl/attention_prefill.wgsl, wgsl/attention_prefill_mma.wgsl (+ BATCH: a decode batch's
 * shared context; + UNION: the union of its selections, ops/union.ts), wgsl/attention_decode.wgsl (+ SPARSE, KV_Q8, OWN), wgsl/attention_reduce.wgsl,
 * wgsl/dequantize_kv.wgsl.
 *
 * Both read `step` (`struct Step { pos: u32 }`, rewritten by the caller every step) on the GPU, so
 * the recorded dispatches stay valid as the context grows.
 */
import { check } from '../errors.js';
import { ceilDiv, dispatchOf, kernelParams, storage, type Binding, type Dispatch, type Kernels } from '../gpu/kernels.js';
import { UNION_MAX_SEQS, UNION_MIN_KEYS, unionDispatches, type UnionScratch } from './union.js';

/** Largest number of query heads one workgroup serves. */
const MAX_HEADS_PER_WORKGROUP = 8;
/** Query rows (queries × heads) of a prefill workgroup: ROWS in attention_prefill.wgsl. */
const PREFILL_ROWS = 16;
/**
 * attention_prefill_mma.wgsl's cut for a prefill chunk: 16-row blocks a subgroup (RB) and subgroups
 * (SG), so ROWS query rows a workgroup; a batch's context (BATCH, 8-64 rows a KV head) takes RB = 1.
 */
export const MMA_CUT = { RB: 2, SG: 4 };
export const MMA_BATCH_CUT = { RB: 1, SG: 4 };
const MMA_ROWS = 16 * MMA_CUT.RB * MMA_CUT.SG;
const MMA_BATCH_ROWS = 16 * MMA_BATCH_CUT.RB * MMA_BATCH_CUT.SG;
/** BK of attention_prefill_mma.wgsl; its largest head dim (16 · MAX_DT). */
const MMA_KEY_TILE = 16;
const MMA_MAX_D = 128;
/**
 * A batch of at least two sequences attends its context on tensor cores from this many (sequence,
 * head) rows per KV head (2 sequences of Llama-3.1-8B; half of each 16-row block idle still beats
 * attention_decode, which reads the context once per sequence): B = 2 at 128K on an H100, 127.6
 * against 83.8 tokens/s, the context's attention 9.05 against 17.76 ms a step (session 29).
 */
const MMA_MIN_BATCH_ROWS = 8;
/**
 * Most workgroups of a batch's context attention on tensor cores: one wave at 3 per SM of an
 * H100/H200 (132 SMs). B = 16 at 128K on the H100 (scripts/bench/prefill-attention.mjs --batch 16,
 * session 21), µs a layer by splits a KV head (workgroups): 33 (264) 412, 44 (352) 375, 47 (376)
 * 366, 49 (392) 365, 50 (400) 524, 52 (416) 541, 66 (528) 492, 132 (1,056) 484; at 32K 44 splits
 * 168 µs, 52 224, 66 231. Past one wave the last workgroups run alone.
 */
const MMA_TARGET_WORKGROUPS = 3 * 132;
/** Fewest keys of a split of a batch's context (16 key tiles). */
const MMA_MIN_SPLIT = 256;

/**
 * Spare positions a KV cache buffer must have past its last head for the tensor-core prefill,
 * whose key tiles may run past the visible keys (allocate (Hkv · capacity + CACHE_PAD) · d f16).
 */
export const CACHE_PAD = MMA_KEY_TILE;
/** Threads of a decode workgroup: at least (heads per workgroup) × (words per K/V row). */
const DECODE_WG = 128;
/** Fewest keys per split at full capacity (splits are whole tiles of at most 64 keys). */
const DECODE_MIN_SPLIT = 64;
/**
 * Keys per tile of a dense decode workgroup. On the H200 (scripts/bench/attention.mjs, 2026-12-04,
 * d = 128) 32 beat 64: the next tile held in registers is half as large, so more workgroups stay
 * resident (dense 128K: 2.29 TB/s against 1.93 at the best split count of each).
 */
const DECODE_TILE_KEYS = 32;
/**
 * Keys per split of a sparse selection: four tiles of 64, so that each workgroup's next tile loads
 * while it accumulates one (at 128K on the H100, 6.5K keys a head: attention + reduce 1.40 ms a step,
 * against 1.48 with two tiles, 1.64 with eight and 1.55 with one). On the H200 the dense cut (32-key
 * tiles) with 64-key splits looked as fast alone (scripts/bench/attention.mjs) but made CSA's decode
 * at 128K 0.2-0.35 ms a token slower in the step (2026-12-04, docs/perf-notes.md): sparse keeps this cut.
 */
const SPARSE_SPLIT_KEYS = 256;
/**
 * Fewest splits of a sparse selection in SPARSE_SPLIT_KEYS: below it, 64-key splits (H100, session
 * 25, 1,638 keys a list at 32K: 26 splits of 16-key tiles 16.2 µs a layer, against 23.9 for 7 of 256
 * keys; at 128K the 256-key cut's 26 splits were as fast as any).
 */
const SPARSE_MIN_SPLITS = 26;
/** Most splits of a sparse selection (attention_reduce keeps a weight per split in workgroup memory). */
const MAX_SPARSE_SPLITS = 1024;
/** Output dims per reduce workgroup: DIMS in attention_reduce.wgsl. */
const REDUCE_DIMS = 16;
/**
 * Enough workgroups to keep a big GPU's memory system busy: 6 per SM of an H200 (132 SMs). The H200
 * sweep, Llama-3.1-8B heads, 32-key tiles: 99 splits a group (792 workgroups) 234 µs a layer at 128K
 * against 282 with 66 and 440 with 16; at 32K 70.9 µs against 79.9 with 66 (49 splits: 65.8 there,
 * 241 at 128K).
 */
const DECODE_TARGET_WORKGROUPS = 6 * 132;
/** The streamed decode's: 3 per SM (49 splits a group of heads at Llama-3.1-8B's 8 groups beat 99 and 132). */
const STREAM_TARGET_WORKGROUPS = 3 * 132;
/** The streamed decode's lanes a key and keys a step (the H100 sweep, session 25: within 1% of the best at 32K and 128K). */
const STREAM_CUT: StreamCut = { lanes: 8, keys: 2 };

/** A q8 cache layer's scales: f32 [Hkv, capacity] for K and for V (kvcache.ts). */
export interface KvScales { k: GPUBuffer; v: GPUBuffer }

export interface AttentionShape {
  q: GPUBuffer;
  /** [Hkv, capacity, d]: f16, or int8 with `scales` (decode only). */
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  scales?: KvScales;
  out: GPUBuffer;
  step: Binding;
  Hq: number;
  Hkv: number;
  d: number;
  capacity: number;
  scale: number;
}

export interface SparseSelection {
  /** u32 [lists, kmax]: key positions to attend (any order, each < step.pos+1). */
  sel: GPUBuffer;
  /** u32 [lists]: how many entries of each list are valid (<= kmax; read on the GPU, never by the CPU). */
  counts: GPUBuffer;
  kmax: number;
  /** true: one list per query head (lists = Hq); false: one list per KV head shared by its query heads (lists = Hkv). */
  perQueryHead: boolean;
}

/**
 * Causal attention for a prefill chunk of T queries at positions step.pos .. step.pos+T-1 over
 * cache keys [0, step.pos+t]. Tiled flash-attention with online softmax (no T×N score matrix),
 * f32 accumulation; all query heads of a KV group processed by the same workgroup where that saves
 * K/V reads.
 */
export function attentionPrefill(k: Kernels, a: AttentionShape & { T: number }): Dispatch {
  checkShape(a);
  check(!a.scales, 'prefill attention reads f16 rows: expand a q8 layer first (expandKv)');
  check(Number.isInteger(a.T) && a.T >= 1, `attention prefill needs at least one query, got T=${a.T}`);
  const hpw = headsPerWorkgroup(a.Hq / a.Hkv, MAX_HEADS_PER_WORKGROUP);
  const params = kernelParams(k.gpu, [a.T, a.Hq, a.Hkv, a.capacity, { f32: a.scale * Math.LOG2E }, 0, 0, 0, 0]);
  const bindings = [a.q, a.kCache, a.vCache, a.out, a.step, params];
  if (usesTensorCores(k, a)) {
    const kernel = k.get('attention_prefill_mma', { defines: ['MMA'], constants: { HPW: hpw, D: a.d, ...MMA_CUT } });
    return dispatchOf(kernel, bindings, [ceilDiv(a.T, Math.floor(MMA_ROWS / hpw)), a.Hq / hpw]);
  }
  const kernel = k.get('attention_prefill', { constants: { HPW: hpw, D: a.d, BK: a.d > 128 ? 16 : 32 } });
  return dispatchOf(kernel, bindings, [ceilDiv(a.T, Math.floor(PREFILL_ROWS / hpw)), a.Hq / hpw]);
}

/** Tensor cores where the device has them, the head dim fits, and the caches carry CACHE_PAD spare rows. */
function usesTensorCores(k: Kernels, a: TensorCoreShape): boolean {
  const padded = (a.Hkv * a.capacity + CACHE_PAD) * a.d * 2;
  return k.gpu.tensorCores && a.d % 16 === 0 && a.d <= MMA_MAX_D && a.kCache.size >= padded && a.vCache.size >= padded;
}

type TensorCoreShape = Pick<AttentionShape, 'kCache' | 'vCache' | 'Hkv' | 'd' | 'capacity'>;

/**
 * Whether a batch of B sequences can attend one batch selection as unions (given a UnionScratch):
 * on tensor cores, over f16 rows, with lists per KV head. Where it gains, unionPays says.
 */
export function unionsRun(k: Kernels, a: TensorCoreShape & { scales?: KvScales; B: number }, sp: Pick<SparseSelection, 'perQueryHead'>): boolean {
  return usesTensorCores(k, a) && !a.scales && !sp.perQueryHead && a.B >= 2;
}

/**
 * One query token (T = 1). Split-K flash-decoding: the keys (or the selected list) are divided
 * among `splits` workgroups per group of query heads, each keeps (max, sum, acc) online and writes
 * partials; attention_reduce merges them. Each K/V row is read once for all query heads of its KV
 * group (dense, and sparse with perQueryHead=false). The number of keys comes from step.pos (or
 * counts) on the GPU. Returns [decode, reduce]; allocates its partials buffers.
 */
export function attentionDecode(k: Kernels, a: DecodeArgs, cut = sequenceCut(k, a)): Dispatch[] {
  checkDecode(a);
  const sp = a.sparse;
  if (sp) check(Number.isInteger(sp.kmax) && sp.kmax >= 1, `sparse attention needs kmax >= 1, got ${sp.kmax}`);
  const parts = partials(a.Hq, cut.splits, a.d, k);
  if (cut.stream) return [streamPart(k, a, cut, cut.stream, parts), reduceOf(k, parts, a.out)];
  const keys: PartKeys = sp ? { sparse: sp } : { step: a.step };
  return [decodePart(k, a, cut, { keys, parts, seqs: 1, seq0: 0, split0: 0 }), reduceOf(k, parts, a.out)];
}

/**
 * Where a batch's sequences keep their K/V rows (model/kvcache.ts): the shared context at rows
 * [0, ctx), and sequence b's own positions p >= ctx at rows p + (b + 1)·room.
 */
export interface BatchRows { ctx: number; room: number }

export interface BatchDecodeArgs extends Omit<AttentionShape, 'step'> {
  /** Sequences, one query token each: q and out are [B, Hq, d]. */
  B: number;
  rows: BatchRows;
  /** u32 [B]: each sequence's position this step (its last key; >= rows.ctx). */
  positions: GPUBuffer;
  /**
   * Each sequence's selection of key positions (the context's and its own), or null: full attention
   * for that sequence (the sequences of `csattn eval` attend differently); or one selection whose
   * lists are every sequence's in turn (made for the batch at once). None: full attention for all,
   * the context's rows read once for every sequence.
   */
  sparse?: SparseSelection | (SparseSelection | null)[];
  /**
   * With one selection for the batch, of lists per KV head that each hold all of their sequence's own
   * positions (CSA's: generated keys are always attended), on tensor cores: the sequences attend the
   * union of their selections' context keys, each of its rows read once for every sequence of a
   * tile (ops/union.ts; built here, shared by the layers of a step), and their own rows in full.
   * Elsewhere the selections are attended one by one, as without it.
   */
  union?: UnionScratch;
}

/**
 * One query token for each of B sequences over a shared context. Full attention: the context's
 * K/V rows are read once for the query heads of every sequence (their heads share workgroups, the
 * shared-prefix split), and each sequence's own rows in a second dispatch; one reduce merges both
 * parts' partials by log-sum-exp. With selections: dispatches per sequence over its own selection
 * (or, for a null one, its context and own rows), or one dispatch over a selection made for the
 * whole batch; one reduce. Returns the dispatches; allocates the partials. `splits`: how many
 * splits of the context the tensor-core path takes per KV head and tile of rows (a sweep's; default
 * contextSplits).
 */
export function attentionDecodeBatch(k: Kernels, a: BatchDecodeArgs, splits?: number): Dispatch[] {
  const shape = { ...a, step: a.positions };
  checkDecode(shape);
  check(Number.isInteger(a.B) && a.B >= 1, `batched attention needs B >= 1 sequences, got ${a.B}`);
  check(a.rows.ctx >= 1 && a.rows.room >= 1 && a.rows.ctx + (a.B + 1) * a.rows.room <= a.capacity, `a batch of ${a.B} with ${a.rows.room} rows each after ${a.rows.ctx} does not fit a cache of ${a.capacity}`);
  check(!Array.isArray(a.sparse) || a.sparse.length === a.B, 'batched sparse attention needs a selection (or null) per sequence');
  const batch = { room: a.rows.room, ctx: a.rows.ctx };
  // The context's last position, made where a kernel attends the context as a whole (not on the
  // tensor-core path): a fixed parameter, in a shared chunk as kernels' are.
  let step: Binding | undefined;
  const contextStep = () => (step ??= kernelParams(k.gpu, [a.rows.ctx - 1]));
  const own = decodeCut({ ...a, capacity: a.rows.room, sparse: undefined });
  // Every sequence's own rows, into the splits of `parts` from split0 (after the context's).
  const ownPart = (parts: Partials, split0: number) => decodePart(k, shape, own, { keys: { own: a.positions }, parts, ...batch, seqs: a.B, seq0: 0, split0 });
  if (!a.sparse) {
    // The context's keys: every sequence's heads of a KV head in its workgroups (as a tensor-core
    // product where there are enough of them); its own: one sequence a workgroup.
    const rowsPerKvHead = (a.B * a.Hq) / a.Hkv;
    if (usesTensorCores(k, shape) && !a.scales && a.B >= 2 && rowsPerKvHead >= MMA_MIN_BATCH_ROWS) {
      const tiles = ceilDiv(rowsPerKvHead, MMA_BATCH_ROWS);
      const ctxSplits = splits ?? contextSplits(a.rows.ctx, a.Hkv * tiles);
      const parts = partials(a.B * a.Hq, ctxSplits + own.splits, a.d, k);
      return [
        contextMma(k, a, parts, ctxSplits, tiles),
        ownPart(parts, ctxSplits),
        reduceOf(k, parts, a.out),
      ];
    }
    // A batch of one attends its context as one sequence does (streamed, where the shape allows).
    const context = a.B === 1 ? sequenceCut(k, { ...a, capacity: a.rows.ctx, sparse: undefined })
      : decodeCut({ ...a, Hq: a.B * a.Hq, capacity: a.rows.ctx, sparse: undefined });
    const parts = partials(a.B * a.Hq, context.splits + own.splits, a.d, k);
    return [
      context.stream ? streamPart(k, { ...a, step: contextStep(), sparse: undefined }, context, context.stream, parts)
        : decodePart(k, shape, context, { keys: { step: contextStep() }, parts, ...batch, seqs: a.B, seq0: 0, split0: 0 }),
      ownPart(parts, context.splits),
      reduceOf(k, parts, a.out),
    ];
  }
  if (!Array.isArray(a.sparse)) {
    if (a.union && unionsRun(k, a, a.sparse)) {
      const u = unionContext(k, a, a.sparse, a.union, own.splits, splits);
      return [...u.dispatches, ownPart(u.parts, u.splits), reduceOf(k, u.parts, a.out)];
    }
    const cut = decodeCut({ ...a, sparse: a.sparse });
    const parts = partials(a.B * a.Hq, cut.splits, a.d, k);
    return [decodePart(k, shape, cut, { keys: { sparse: a.sparse }, parts, ...batch, seqs: a.B, seq0: 0, split0: 0 }), reduceOf(k, parts, a.out)];
  }
  // Each sequence's parts, its last one padded with empty splits to the most any sequence has, so
  // that one reduce merges every sequence's.
  const context = decodeCut({ ...a, capacity: a.rows.ctx, sparse: undefined });
  const cuts = a.sparse.map((sparse) => (sparse ? [{ cut: decodeCut({ ...a, sparse }), keys: { sparse } }] : [{ cut: context, keys: { step: contextStep() } }, { cut: own, keys: { own: a.positions } }]));
  const total = Math.max(...cuts.map((c) => c.reduce((n, x) => n + x.cut.splits, 0)));
  const parts = partials(a.B * a.Hq, total, a.d, k);
  const each = cuts.flatMap((c, b) => {
    let split0 = 0;
    return c.map((x, i) => {
      const part: Part = { keys: x.keys, parts, ...batch, seqs: 1, seq0: b, split0, workgroups: i === c.length - 1 ? total - split0 : x.cut.splits };
      split0 += x.cut.splits;
      return decodePart(k, shape, x.cut, part);
    });
  });
  return [...each, reduceOf(k, parts, a.out)];
}

/**
 * The context part of a batch on tensor cores (attention_prefill_mma, BATCH): workgroups of MMA_BATCH_ROWS
 * (sequence, head) rows of a KV head (`tiles` of them a KV head), each over a split of the context,
 * write splits [0, splits) of each row's partials.
 */
function contextMma(k: Kernels, a: BatchDecodeArgs, parts: Partials, splits: number, tiles: number): Dispatch {
  const kernel = k.get('attention_prefill_mma', { defines: ['MMA', 'BATCH'], constants: { D: a.d, ...MMA_BATCH_CUT } });
  const params = kernelParams(k.gpu, [0, a.Hq, a.Hkv, a.capacity, { f32: a.scale * Math.LOG2E }, a.B, a.rows.ctx, splits, parts.splits]);
  return dispatchOf(kernel, [a.q, a.kCache, a.vCache, parts.acc, parts.ml, params], [splits, a.Hkv * tiles]);
}

/** Sequences a union serves for GQA groups of G query heads: as many as one tile of a KV head's rows holds (at most B). */
export function unionSeqs(G: number, B: number): number {
  return Math.max(1, Math.min(UNION_MAX_SEQS, Math.floor(MMA_BATCH_ROWS / G), B));
}

/**
 * Whether a batch of B sequences over ctx context keys can gain by attending its selections as
 * unions (where they run: unionsRun): past UNION_MIN_KEYS keys a union. Whether it does, the
 * batch's probe says as it runs (decode.ts, UNION_MAX_SHARE).
 */
export function unionPays(Hq: number, Hkv: number, B: number, ctx: number): boolean {
  return B >= 2 && unionSeqs(Hq / Hkv, B) * ctx > UNION_MIN_KEYS;
}

/**
 * A batch selection's context keys as unions (ops/union.ts) of groups of sequences, as many as one
 * tile of a KV head's rows holds (16 of Llama-3.1-8B's GQA groups of 4), each union attended on tensor
 * cores (attention_prefill_mma, UNION) into splits [0, splits) of each row's partials, which it
 * allocates with ownSplits more for the sequences' own rows.
 */
function unionContext(k: Kernels, a: BatchDecodeArgs, sp: SparseSelection, x: UnionScratch, ownSplits: number, splits?: number): { dispatches: Dispatch[]; parts: Partials; splits: number } {
  check(x.Hkv === a.Hkv && x.ctx === a.rows.ctx, `a union built for ${x.Hkv} KV heads over ${x.ctx} keys, asked for ${a.Hkv} over ${a.rows.ctx}`);
  const G = a.Hq / a.Hkv;
  const per = unionSeqs(G, a.B);
  const ctxSplits = splits ?? contextSplits(Math.min(a.rows.ctx, per * sp.kmax), a.Hkv * ceilDiv(per * G, MMA_BATCH_ROWS));
  const parts = partials(a.B * a.Hq, ctxSplits + ownSplits, a.d, k);
  const kernel = k.get('attention_prefill_mma', { defines: ['MMA', 'BATCH', 'UNION'], constants: { D: a.d, ...MMA_BATCH_CUT } });
  const groups: Dispatch[] = [];
  for (let seq0 = 0; seq0 < a.B; seq0 += per) {
    const seqs = Math.min(per, a.B - seq0);
    const params = kernelParams(k.gpu, [0, a.Hq, a.Hkv, a.capacity, { f32: a.scale * Math.LOG2E }, seqs, a.rows.ctx, ctxSplits, parts.splits, seq0]);
    groups.push(...unionDispatches(k, sp, x, seq0, seqs),
      dispatchOf(kernel, [a.q, a.kCache, a.vCache, parts.acc, parts.ml, params, x.keys, x.bits, x.n], [ctxSplits, a.Hkv * ceilDiv(seqs * G, MMA_BATCH_ROWS)]));
  }
  return { dispatches: groups, parts, splits: ctxSplits };
}

/** Splits of a batch's context on tensor cores: as many as one wave holds, at least MMA_MIN_SPLIT keys each. */
function contextSplits(ctx: number, groups: number): number {
  return Math.max(1, Math.min(Math.floor(MMA_TARGET_WORKGROUPS / groups), ceilDiv(ctx, MMA_MIN_SPLIT)));
}

/** Partial results of split-K decoding: [rows, splits, d] accumulators and [rows, splits] (max, sum). */
interface Partials { acc: GPUBuffer; ml: GPUBuffer; rows: number; splits: number; d: number }

function partials(rows: number, splits: number, d: number, k: Kernels): Partials {
  return { acc: storage(k.gpu, rows * splits * d * 4, 'attention partial acc'), ml: storage(k.gpu, rows * splits * 8, 'attention partial max/sum'), rows, splits, d };
}

/** The keys of a decode part: every position up to step.pos, a sparse selection, or each sequence's own positions. */
type PartKeys = { step: Binding } | { sparse: SparseSelection } | { own: GPUBuffer };

interface Part {
  keys: PartKeys;
  parts: Partials;
  /** Query rows: sequences [seq0, seq0 + seqs) of q; their splits start at split0 of parts.splits. */
  seqs: number; seq0: number; split0: number;
  /** A batch's rows (BatchRows); absent: one sequence, rows are positions. */
  ctx?: number; room?: number;
  /** Workgroups along the splits (default the cut's): those past its splits write empty partials. */
  workgroups?: number;
}

function decodePart(k: Kernels, a: AttentionShape, cut: DecodeCut, part: Part): Dispatch {
  const { hpw, splits } = cut;
  const keys = part.keys;
  const sp = 'sparse' in keys ? keys.sparse : undefined;
  const variant = sp ? 'SPARSE' : 'own' in keys ? 'OWN' : 'DENSE';
  const constants: Record<string, number> = { WG: cut.wg, HPW: hpw, D: a.d };
  if (cut.tk) constants.TK = cut.tk;
  const decode = k.get('attention_decode', { defines: [...wordOf(a), variant, ...(cut.defines ?? [])], constants });
  const params = kernelParams(k.gpu, [a.Hq, a.Hkv, a.capacity, splits, { f32: a.scale * Math.LOG2E }, sp?.kmax ?? 0, sp?.perQueryHead ? 1 : 0,
    part.seqs, part.seq0, part.split0, part.parts.splits, part.ctx ?? a.capacity, part.room ?? 0]);
  // Sparse lists carry their own lengths (counts): the kernel has no use for step there.
  const { acc, ml } = part.parts;
  const bindings = sp ? [a.q, a.kCache, a.vCache, sp.sel, sp.counts, acc, ml, params] : [a.q, a.kCache, a.vCache, acc, ml, 'own' in keys ? keys.own : (keys as { step: Binding }).step, params];
  const scales: [number, Binding][] = a.scales ? [[8, a.scales.k], [9, a.scales.v]] : [];
  return dispatchOf(decode, bindings, [part.workgroups ?? splits, (part.seqs * a.Hq) / hpw], scales);
}

/** attention_decode_stream: one sequence's decode over f16 rows (dense, or a list a KV head), into `parts`' first cut.splits splits. */
function streamPart(k: Kernels, a: DecodeArgs, cut: DecodeCut, stream: StreamCut, parts: Partials): Dispatch {
  const sp = a.sparse;
  check(!sp?.perQueryHead && !a.scales && streams(a.d, cut.hpw, stream, k.gpu.subgroupSize), `no streamed decode for d=${a.d}, ${cut.hpw} heads a workgroup, ${JSON.stringify(stream)}`);
  const constants = { WG: cut.wg, HPW: cut.hpw, D: a.d, P: stream.lanes, KI: stream.keys };
  const kernel = k.get('attention_decode_stream', { defines: [...(sp ? ['SPARSE'] : []), ...(cut.defines ?? [])], constants });
  const params = kernelParams(k.gpu, [a.Hq, a.Hkv, a.capacity, cut.splits, { f32: a.scale * Math.LOG2E }, sp?.kmax ?? 0, parts.splits]);
  const bindings = sp ? [a.q, a.kCache, a.vCache, sp.sel, sp.counts, parts.acc, parts.ml, params] : [a.q, a.kCache, a.vCache, parts.acc, parts.ml, a.step, params];
  return dispatchOf(kernel, bindings, [cut.splits, a.Hq / cut.hpw]);
}

/** attention_reduce: merges each query row's split partials into out [rows, d]. */
function reduceOf(k: Kernels, parts: Partials, out: GPUBuffer): Dispatch {
  const reduce = k.get('attention_reduce', { constants: { D: parts.d, SPLITS: parts.splits } });
  return dispatchOf(reduce, [parts.acc, parts.ml, out], [parts.rows, ceilDiv(parts.d, REDUCE_DIMS)]);
}

function checkDecode(a: AttentionShape): void {
  checkShape(a);
  check(!a.scales || a.d % 8 === 0, `a q8 KV cache needs a head dim divisible by 8, got ${a.d}`);
}

export type DecodeArgs = AttentionShape & { sparse?: SparseSelection };

/** How attention_decode loads K/V rows: words of eight int8 (a q8 cache) or eight f16 (VEC4), or two f16. */
function wordOf(a: Pick<AttentionShape, 'd' | 'scales'>): string[] {
  return a.d % 8 === 0 ? ['VEC4', a.scales ? 'KV_Q8' : 'F16X8'] : [];
}

/** Most workgroups per KV head of an expansion (each then loops over its share of the rows). */
const EXPAND_GROUPS = 256;

export interface ExpandKvArgs {
  /** A q8 layer: int8 [Hkv, capacity, d] and its scales. */
  kCache: GPUBuffer; vCache: GPUBuffer; scales: KvScales;
  /** f16 [Hkv, capacity, d] (+ padding) each. */
  out: { k: GPUBuffer; v: GPUBuffer };
  step: GPUBuffer;
  Hkv: number; d: number; capacity: number;
  /** Rows [0, step.pos + T): a prefill chunk's keys. */
  T: number;
  /** Rows [0, rows) instead, whatever the step (a whole context for a table build). */
  rows?: number;
}

/** A q8 layer's rows back to f16, for the kernels that read f16 rows. */
export function expandKv(k: Kernels, a: ExpandKvArgs): Dispatch {
  const words = a.d / 4;
  const params = kernelParams(k.gpu, [a.Hkv, a.capacity, words, a.T, a.rows ?? 0]);
  const grid: [number, number] = [Math.min(ceilDiv(a.capacity * words, 256), EXPAND_GROUPS), a.Hkv];
  return dispatchOf(k.get('dequantize_kv'), [a.kCache, a.vCache, a.scales.k, a.scales.v, a.out.k, a.out.v, a.step, params], grid);
}

/**
 * How a decode is cut: query heads per workgroup, threads per workgroup (at least 128, and at
 * least hpw × words of a row), keys per tile (undefined: the kernel's largest, 64 at d = 128;
 * at most wg / 2 at d = 128) and splits of the keys per group of heads.
 */
export interface DecodeCut {
  hpw: number; wg: number; tk?: number; splits: number;
  /** Decode (dense, or a list a KV head) by attention_decode_stream: lanes a key (P), keys a step of a group of lanes (KI). */
  stream?: StreamCut;
  /** More defines of the kernel: the streamed one's PIPE, or a variant under test (scripts/bench/attention.mjs --variants). */
  defines?: string[];
}

export interface StreamCut { lanes: number; keys: number }

type CutArgs = Pick<AttentionShape, 'Hq' | 'Hkv' | 'd' | 'capacity'> & { sparse?: Pick<SparseSelection, 'kmax' | 'perQueryHead'> };

/** attention_decode_stream's register arrays: MAXW words, MAXS scores. */
const STREAM_MAX_WORDS = 8;
const STREAM_MAX_SCORES = 16;

/**
 * The tiled kernel's cut: see the sweeps behind the constants above (a batch's parts, sparse lists,
 * q8 rows, and where the streamed one cannot run; sequenceCut). scripts/bench/attention.mjs sweeps
 * both kernels' cuts.
 */
export function decodeCut(a: CutArgs): DecodeCut {
  const sp = a.sparse;
  const hpw = decodeHeads(a);
  if (sp) {
    const splits = ceilDiv(sp.kmax, SPARSE_SPLIT_KEYS);
    // A short list (32K at 0.95) fills the GPU in 64-key splits of 16-key tiles instead.
    if (splits < SPARSE_MIN_SPLITS) return { hpw, wg: DECODE_WG, tk: 16, splits: Math.min(ceilDiv(sp.kmax, 64), SPARSE_MIN_SPLITS) };
    return { hpw, wg: DECODE_WG, splits: Math.min(splits, MAX_SPARSE_SPLITS) };
  }
  return { hpw, wg: DECODE_WG, tk: Math.min(DECODE_TILE_KEYS, Math.floor(8192 / a.d)), splits: decodeSplits(a.capacity, a.Hq / hpw) };
}

/**
 * One sequence's cut: its dense decode over f16 rows streams (8 lanes a key, 2 keys a step, the next
 * step's loads first, 3 workgroups an SM of 132) where the device's subgroups hold the lanes. On the
 * H100 (scripts/bench/attention.mjs, session 25, Llama-3.1-8B heads) a layer took 191 µs at 128K
 * against the tiled kernel's 238 at its best, 57 against 72 at 32K; in the H200's step, full
 * attention at 128K 5.3 ms against 7.9 (docs/perf-notes.md). Over CSA's lists neither form beat the
 * other at 128K, so sparse decodes keep decodeCut's.
 */
export function sequenceCut(k: Kernels, a: CutArgs & Pick<DecodeArgs, 'scales'>): DecodeCut {
  const hpw = decodeHeads(a);
  if (a.sparse || a.scales || !streams(a.d, hpw, STREAM_CUT, k.gpu.subgroupSize)) return decodeCut(a);
  const splits = Math.max(1, Math.min(Math.floor(STREAM_TARGET_WORKGROUPS / (a.Hq / hpw)), ceilDiv(a.capacity, DECODE_MIN_SPLIT)));
  return { hpw, wg: DECODE_WG, splits, stream: STREAM_CUT, defines: ['PIPE'] };
}

/** Query heads a decode workgroup serves: one for per-query-head lists, else as many of a GQA group as its rows' words allow. */
function decodeHeads(a: CutArgs): number {
  const words = a.d % 8 === 0 ? a.d / 8 : a.d / 2; // per K/V row: the kernel's L
  return a.sparse?.perQueryHead ? 1 : headsPerWorkgroup(a.Hq / a.Hkv, Math.floor(DECODE_WG / words));
}

/** Whether attention_decode_stream takes this shape: eight f16 a word, its lanes within a subgroup and a row, its registers enough. */
function streams(d: number, hpw: number, s: StreamCut, subgroupSize: number): boolean {
  const words = d / 8;
  const perLane = words / s.lanes;
  return d % 8 === 0 && s.lanes <= subgroupSize && Number.isInteger(perLane) && (s.lanes & (s.lanes - 1)) === 0 &&
    hpw * perLane <= STREAM_MAX_WORDS && s.keys * perLane <= STREAM_MAX_WORDS && hpw * s.keys <= STREAM_MAX_SCORES;
}

/**
 * Splits per group of query heads: enough workgroups to fill the GPU, but never so many that a
 * split of a full cache gets fewer than DECODE_MIN_SPLIT keys.
 */
function decodeSplits(maxKeys: number, groups: number): number {
  return Math.max(1, Math.min(ceilDiv(DECODE_TARGET_WORKGROUPS, groups), ceilDiv(maxKeys, DECODE_MIN_SPLIT)));
}

/** The largest divisor of the GQA group size that is at most `max` (and MAX_HEADS_PER_WORKGROUP). */
function headsPerWorkgroup(group: number, max: number): number {
  let h = Math.min(group, max, MAX_HEADS_PER_WORKGROUP);
  while (group % h !== 0) h--;
  return h;
}

function checkShape(a: AttentionShape): void {
  const { Hq, Hkv, d, capacity } = a;
  check([Hq, Hkv, capacity].every((n) => Number.isInteger(n) && n >= 1), `attention needs positive integer head counts and capacity, got Hq=${Hq} Hkv=${Hkv} capacity=${capacity}`);
  check(Hq % Hkv === 0, `attention needs query heads to be a multiple of KV heads, got Hq=${Hq} Hkv=${Hkv}`);
  check(Number.isInteger(d) && d >= 2 && d <= 256 && d % 2 === 0, `attention supports even head dims up to 256, got ${d}`);
}
