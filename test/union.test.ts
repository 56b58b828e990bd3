import { describe, expect, it } from 'vitest';
import { UNION_MAX_SEQS, unionDispatches, unionProbe, unionProbeBytes, unionScratch, unionShare } from '../src/ops/union.js';
import { encodeOps, storage } from '../src/gpu/kernels.js';
import { CACHE_PAD, unionPays, unionsRun } from '../src/ops/attention.js';
import type { Kernels } from '../src/gpu/kernels.js';
import { gpuContext, prng, readU32, runDispatches, uploadU32 } from './helpers/gpu.js';

// The union of a batch's selections (wgsl/csa_union.wgsl) against a CPU reference: per KV head, the
// context keys any sequence of the group selected, ascending, with the bits of those sequences.

/**
 * Lists (sequence, KV head) of distinct keys, in no order: a core every sequence of a KV head shares,
 * its own picks, and its own positions past ctx; never ctx - 1 (packed's garbage).
 */
function selections(B: number, Hkv: number, ctx: number, seed: number): number[][] {
  const r = prng(seed);
  const pick = (n: number) => Array.from({ length: n }, () => Math.floor(r() * (ctx - 1)));
  return Array.from({ length: B * Hkv }, (_, list) => {
    const core = Array.from({ length: 40 }, (_, i) => (i * 97 + (list % Hkv) * 13) % (ctx - 1));
    const own = Array.from({ length: 1 + (list % 5) }, (_, i) => ctx + 3 + i);
    return [...new Set([...core, ...pick(30 + (list % 7) * 20), ...own])].sort(() => r() - 0.5);
  });
}

/** The lists padded to kmax with a context key no list holds (read past a count, it would join the union). */
function packed(lists: number[][], kmax: number, ctx: number): Uint32Array {
  const out = new Uint32Array(lists.length * kmax).fill(ctx - 1);
  lists.forEach((l, i) => out.set(l, i * kmax));
  return out;
}

/** The reference: per KV head, [key, bits] of the keys < ctx selected by sequences [seq0, seq0 + seqs). */
function unionRef(lists: number[][], Hkv: number, ctx: number, seq0: number, seqs: number): [number, number][][] {
  return Array.from({ length: Hkv }, (_, h) => {
    const bits = new Map<number, number>();
    for (let s = 0; s < seqs; s++) {
      for (const key of lists[(seq0 + s) * Hkv + h]) if (key < ctx) bits.set(key, ((bits.get(key) ?? 0) | (1 << s)) >>> 0);
    }
    return [...bits.entries()].sort((a, b) => a[0] - b[0]);
  });
}

describe('the union of a batch selection (csa_union: mark, count, scatter)', () => {
  it.each([
    { Hkv: 2, ctx: 300, B: 3, seq0: 0, seqs: 3 },
    { Hkv: 3, ctx: 9000, B: 6, seq0: 2, seqs: 4 }, // three chunks of 4096 keys
    { Hkv: 1, ctx: 5000, B: 33, seq0: 1, seqs: UNION_MAX_SEQS }, // the last bit
  ])('Hkv=$Hkv ctx=$ctx: $seqs sequences of $B from $seq0, twice over one scratch', async ({ Hkv, ctx, B, seq0, seqs }) => {
    const c = await gpuContext(true);
    const x = unionScratch(c.gpu, Hkv, ctx);
    for (const seed of [1, 2]) {
      const lists = selections(B, Hkv, ctx, seed);
      const kmax = Math.max(...lists.map((l) => l.length)) + 3;
      const sel = { sel: uploadU32(c.gpu, packed(lists, kmax, ctx)), counts: uploadU32(c.gpu, lists.map((l) => l.length)), kmax };
      runDispatches(c, unionDispatches(c.kernels, sel, x, seq0, seqs));
      const want = unionRef(lists, Hkv, ctx, seq0, seqs);
      const n = await readU32(c.gpu, x.n, Hkv);
      const keys = await readU32(c.gpu, x.keys, Hkv * ctx), bits = await readU32(c.gpu, x.bits, Hkv * ctx);
      for (let h = 0; h < Hkv; h++) {
        const got = Array.from({ length: n[h] }, (_, i): [number, number] => [keys[h * ctx + i], bits[h * ctx + i]]);
        expect(got, `KV head ${h}, lists of seed ${seed}`).toEqual(want[h]);
      }
      expect((await readU32(c.gpu, x.mask, Hkv * ctx)).every((m) => m === 0), 'the mask is clear again').toBe(true);
    }
  });

  it('refuses more sequences than a u32 has bits', async () => {
    const c = await gpuContext(true);
    const x = unionScratch(c.gpu, 1, 100);
    const sel = { sel: uploadU32(c.gpu, [0]), counts: uploadU32(c.gpu, [1]), kmax: 1 };
    expect(() => unionDispatches(c.kernels, sel, x, 0, UNION_MAX_SEQS + 1)).toThrow(/a union of 1 to 32 sequences, not 33/);
  });
});

// The probe a batch reads back to choose between unions and each selection (decode.ts): the union's
// sizes and the selections' counts, copied after the build.
describe('unionProbe and unionShare', () => {
  it('Hkv=2 ctx=300: 3 sequences of 4, the union built and copied with their counts', async () => {
    const c = await gpuContext(true);
    const [Hkv, ctx, B, seqs] = [2, 300, 4, 3];
    const x = unionScratch(c.gpu, Hkv, ctx);
    const lists = selections(B, Hkv, ctx, 3);
    const kmax = Math.max(...lists.map((l) => l.length));
    const sel = { sel: uploadU32(c.gpu, packed(lists, kmax, ctx)), counts: uploadU32(c.gpu, lists.map((l) => l.length)), kmax };
    const probe = storage(c.gpu, unionProbeBytes(Hkv, seqs), 'probe');
    const enc = c.gpu.device.createCommandEncoder();
    encodeOps(enc, unionProbe(c.kernels, sel, x, seqs, probe));
    c.gpu.device.queue.submit([enc.finish()]);
    const got = await readU32(c.gpu, probe, Hkv * (1 + seqs));
    const sizes = unionRef(lists, Hkv, ctx, 0, seqs).map((u) => u.length);
    const counts = lists.slice(0, seqs * Hkv).map((l) => l.length);
    expect([...got]).toEqual([...sizes, ...counts]);
    const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
    expect(unionShare(got, Hkv)).toBeCloseTo(sum(sizes) / sum(counts), 12);
  });

  it('a share of 1/seqs for one selection, 1 for selections apart, none before a probe is written', () => {
    // Hkv = 2: sizes, then counts of (sequence, KV head).
    expect(unionShare(Uint32Array.from([10, 6, 10, 6, 10, 6, 10, 6]), 2)).toBeCloseTo(1 / 3, 12);
    expect(unionShare(Uint32Array.from([30, 18, 10, 6, 10, 6, 10, 6]), 2)).toBe(1);
    expect(unionShare(new Uint32Array(8), 2)).toBeNull();
  });
});

// Where unions can run at all (decode.ts records its two forms only there; attentionDecodeBatch
// attends unions only there): tensor cores, f16 rows, lists per KV head, two sequences or more.
describe('unionsRun', () => {
  const [Hkv, d, capacity] = [8, 128, 4096];
  const rows = { size: (Hkv * capacity + CACHE_PAD) * d * 2 } as GPUBuffer;
  const shape = { kCache: rows, vCache: rows, Hkv, d, capacity, B: 16 };
  const on = (tensorCores: boolean) => ({ gpu: { tensorCores } }) as unknown as Kernels;
  const pooled = { perQueryHead: false };
  it('on tensor cores over f16 rows with lists per KV head, from two sequences', () => {
    expect(unionsRun(on(true), shape, pooled)).toBe(true);
    expect(unionsRun(on(false), shape, pooled)).toBe(false);
    expect(unionsRun(on(true), shape, { perQueryHead: true })).toBe(false);
    expect(unionsRun(on(true), { ...shape, scales: {} as never }, pooled)).toBe(false);
    expect(unionsRun(on(true), { ...shape, B: 1 }, pooled)).toBe(false);
    expect(unionsRun(on(true), { ...shape, d: 72 }, pooled)).toBe(false);
  });
});

// Where a batch takes unions: the measured points of UNION_MIN_KEYS (H100, Llama-3.1-8B's 32 query
// heads on 8 KV heads, 16 sequences a union at most), and a GQA group of 1 (32 a union).
describe('unionPays', () => {
  it.each([
    [16, 98304, true], [16, 131072, true], [16, 65536, false], [64, 32768, false], [8, 130775, false], [4, 131072, false], [1, 1 << 22, false],
  ])('Hq 32, Hkv 8: B = %i over %i keys: %s', (B, ctx, pays) => {
    expect(unionPays(32, 8, B, ctx)).toBe(pays);
  });
  it('a GQA group of 1 puts 32 sequences in a union', () => {
    expect(unionPays(8, 8, 32, 32769)).toBe(true);
    expect(unionPays(8, 8, 16, 65536)).toBe(false);
  });
});
