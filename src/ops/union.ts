/**
 * The union of a batch's selections over their shared context (wgsl/csa_union.wgsl): per KV head,
 * the context keys that any of up to UNION_MAX_SEQS sequences selected, ascending, each with the
 * bits of those sequences. The batch's context attention on tensor cores reads each of those rows
 * once for all the sequences' query rows (ops/attention.ts), where attending each selection reads
 * the keys that several questions chose once per question (docs/design.md: a batch's questions pick
 * mostly the same keys). That gains only where they do: a probe of one layer's union (unionProbe,
 * unionShare) tells a running batch which way to attend (decode.ts).
 */
import { check } from '../errors.js';
import { ceilDiv, dispatchOf, kernelParams, storage, type Binding, type Dispatch, type Grid, type Kernels, type Op } from '../gpu/kernels.js';
import type { Gpu } from '../gpu/device.js';

/** Sequences one union serves: a bit each in a u32. */
export const UNION_MAX_SEQS = 32;
/**
 * Fewest context keys, summed over the sequences of one union, from which a batch may attend as
 * unions (more, not equal; whether it does, its probe says: UNION_MAX_SHARE): the build's three
 * dispatches a layer cost ~1.1-1.3 ms a step whatever the context, and a union's attention gains on
 * each selection's only where its sequences' selections are many keys. Placed where unions gain with
 * every sequence asking the same question (their best case: one selection's keys), H100, random
 * contexts, CSA tokens/s as unions / one by one (docs/perf-notes.md, sessions 38-39): 16 sequences
 * a union at 32K 820 / 871, at 64K 670-675 / 673-674, at 96K 573-575 / 536-539, at 128K 510 / 459;
 * 8 at 96K 282-295 / 283-289, at 128K 262-268 / 260-265; 4 at 64K 240-289 / 305-307, at 96K 231-261
 * / 268-269, at 128K 233-246 / 244-245.
 */
export const UNION_MIN_KEYS = 1 << 20;
/**
 * Most context keys a union may hold for each key its sequences selected (its share: 1/seqs where
 * they all chose the same keys, near 1 where they chose apart) for the batch to attend as unions
 * (decode.ts reads it back as the steps run). H100, 16 sequences, CSA tokens/s as unions / one by
 * one (docs/perf-notes.md, sessions 38-40): one question 16 times (share 1/16) 573-577 / 536-539 at
 * 96K, 510-514 / 459 at 128K; random-token questions of their own (share 0.62) 466 / 533 and 401-405
 * / 450-451: linear between the two, break-even near 0.26 at 96K and 0.36 at 128K. On real text a
 * batch's questions share most of their picks (session 36, tinylm: 8 questions 0.33).
 */
export const UNION_MAX_SHARE = 0.3;
/**
 * csa_union.wgsl's workgroup and the keys a COUNT or SCATTER workgroup takes (WG · PER): consts there
 * (PER sizes a thread's array, which an override cannot), so mirrored here; test/union.test.ts's
 * union over three chunks fails if the two part.
 */
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

/** Bytes of a union probe of `seqs` sequences over Hkv KV heads (unionProbe). */
export function unionProbeBytes(Hkv: number, seqs: number): number {
  return Hkv * (1 + seqs) * 4;
}

/**
 * The union of sequences [0, seqs) of `lists` built into x, and copied into `probe` (u32): its size
 * for each KV head, then those sequences' list counts (unionShare reads it).
 */
export function unionProbe(k: Kernels, lists: UnionLists, x: UnionScratch, seqs: number, probe: GPUBuffer): Op[] {
  check(probe.size >= unionProbeBytes(x.Hkv, seqs), `a union probe of ${seqs} sequences needs ${unionProbeBytes(x.Hkv, seqs)} bytes`);
  return [
    ...unionDispatches(k, lists, x, 0, seqs),
    { copy: { src: x.n, srcOffset: 0, dst: probe, dstOffset: 0, size: x.Hkv * 4 } },
    { copy: { src: lists.counts, srcOffset: 0, dst: probe, dstOffset: x.Hkv * 4, size: seqs * x.Hkv * 4 } },
  ];
}

/**
 * A probe's union keys per key its sequences selected (their own rows past the context count as
 * selected, not in the union); null where nothing was selected (a probe not yet written).
 */
export function unionShare(probe: Uint32Array, Hkv: number): number | null {
  const sum = (a: Uint32Array) => a.reduce((s, v) => s + v, 0);
  const selected = sum(probe.subarray(Hkv));
  return selected === 0 ? null : sum(probe.subarray(0, Hkv)) / selected;
}
