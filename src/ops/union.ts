/**
 * The union of a batch's selections over their shared context (wgsl/csa_union.wgsl): per KV head,
 * the context keys that any of up to UNION_MAX_SEQS sequences selected, ascending, each with the
 * bits of those sequences. The batch's context attention on tensor cores reads each of those rows
 * once for all the sequences' query rows (ops/attention.ts), where attending each selection reads
 * the keys that several questions chose once per question (docs/design.md: a batch's questions pick
 * mostly the same keys).
 */
import { check } from '../errors.js';
import { ceilDiv, dispatchOf, kernelParams, storage, type Binding, type Dispatch, type Grid, type Kernels } from '../gpu/kernels.js';
import type { Gpu } from '../gpu/device.js';

/** Sequences one union serves: a bit each in a u32. */
export const UNION_MAX_SEQS = 32;
/**
 * Fewest context keys, summed over the sequences of one union, from which a batch attends as unions
 * (more, not equal): the build's three dispatches a layer cost ~1.1-1.3 ms a step whatever the
 * context, and a union's attention gains on each selection's only where its sequences' selections
 * are many keys. H100, random contexts, every sequence the same question (as `csattn bench` asked
 * until session 39: the union's best case, one selection's keys), CSA tokens/s as unions / one by
 * one (docs/perf-notes.md, sessions 38-39): 16 sequences a union at 32K 820 / 871, at 64K 670-675 /
 * 673-674, at 96K 573-575 / 536-539, at 128K 510 / 459; 8 at 96K 282-295 / 283-289, at 128K 262-268
 * / 260-265; 4 at 64K 240-289 / 305-307, at 96K 231-261 / 268-269, at 128K 233-246 / 244-245.
 */
export const UNION_MIN_KEYS = 1 << 20;
/** csa_union.wgsl's workgroup and the keys a COUNT or SCATTER workgroup takes (WG · PER). */
const UNION_WG = 256;
const UNION_CHUNK = UNION_WG * 16;

/**
 * What a union is built in, for `ctx` context keys of Hkv heads; shared by the layers of a step (each
 * layer's build leaves `mask` zero, as it was made). keys, bits: u32 [Hkv, ctx]; n: u32 [Hkv].
 */
export interface UnionScratch { Hkv: number; ctx: number; mask: GPUBuffer; chunkN: GPUBuffer; keys: GPUBuffer; bits: GPUBuffer; n: GPUBuffer }

export function unionScratch(gpu: Gpu, Hkv: number, ctx: number): UnionScratch {
  return {
    Hkv, ctx,
    mask: storage(gpu, Hkv * ctx * 4, 'union mask'),
    chunkN: storage(gpu, Hkv * ceilDiv(ctx, UNION_CHUNK) * 4, 'union chunk counts'),
    keys: storage(gpu, Hkv * ctx * 4, 'union keys'),
    bits: storage(gpu, Hkv * ctx * 4, 'union bits'),
    n: storage(gpu, Hkv * 4, 'union sizes'),
  };
}

/** The lists a union reads: a batch's selection (sel [lists, kmax], counts [lists]), lists (sequence, KV head) in that order. */
export interface UnionLists { sel: GPUBuffer; counts: GPUBuffer; kmax: number }

/** MARK, COUNT and SCATTER: the union of sequences [seq0, seq0 + seqs) of `lists` into x. */
export function unionDispatches(k: Kernels, lists: UnionLists, x: UnionScratch, seq0: number, seqs: number): Dispatch[] {
  check(Number.isInteger(seqs) && seqs >= 1 && seqs <= UNION_MAX_SEQS, `a union of 1 to ${UNION_MAX_SEQS} sequences, not ${seqs}`);
  const chunks = ceilDiv(x.ctx, UNION_CHUNK);
  const params = kernelParams(k.gpu, [x.Hkv, lists.kmax, x.ctx, seq0, chunks]);
  const stage = (define: string, bindings: [number, Binding][], grid: Grid) =>
    dispatchOf(k.get('csa_union', { defines: [define] }), [], grid, [...bindings, [6, params]]);
  return [
    stage('MARK', [[0, lists.sel], [1, lists.counts], [2, x.mask]], [ceilDiv(lists.kmax, UNION_WG), x.Hkv, seqs]),
    stage('COUNT', [[2, x.mask], [3, x.chunkN]], [chunks, x.Hkv, 1]),
    stage('SCATTER', [[2, x.mask], [3, x.chunkN], [4, x.keys], [5, x.bits], [7, x.n]], [chunks, x.Hkv, 1]),
  ];
}
