import { describe, expect, it } from 'vitest';
import { Kernels, readBuffer, uniform, upload } from '../src/gpu/kernels.js';
import { argmax, convertBf16, embedding, ropeKv, rmsnorm, sample, sampleUniform } from '../src/ops/dense.js';
import { bf16ToF16, roundF16 } from '../src/weights/f16.js';
import * as ref from './ref/dense.js';
import * as qref from './ref/quant.js';
import * as refAttention from './ref/attention.js';
import { f16Modes, gpuContext, maxAbsDiff, rand, readF16, readF32, readU32, runDispatches, uploadF16, uploadF32, uploadU32, type Ctx } from './helpers/gpu.js';

const U = 2 ** -24; // f32 unit roundoff

/** The kernels of a context, and the same kernels compiled without subgroups (the fallback path). */
function kernelSets(ctx: Ctx): [string, Kernels][] {
  return [['subgroups', ctx.kernels], ['no subgroups', new Kernels({ ...ctx.gpu, subgroups: false })]];
}

describe.each(await f16Modes())('dense kernels (packedF16=%s)', (packed) => {
  const context = () => gpuContext(packed);

  it('embedding gathers f16 rows, also from a table split over several bindings', async () => {
    const ctx = await context();
    const vocab = 50, H = 40, ids = [3, 49, 0, 17, 3, 32, 31];
    const table = roundF16(rand(vocab * H, 7));
    const want = ref.embedding(ids, table, H);
    // 2560-byte bindings: 32 rows of 80 bytes (multiples of 16 rows keep offsets 256-aligned).
    for (const [maxBinding, parts] of [[ctx.gpu.maxBinding, 1], [2560, 2]]) {
      const out = uploadF32(ctx.gpu, new Float32Array(ids.length * H));
      const k = new Kernels({ ...ctx.gpu, maxBinding });
      const ds = embedding(k, { ids: uploadU32(ctx.gpu, ids), table: uploadF16(ctx.gpu, table), out, T: ids.length, H });
      expect(ds.length).toBe(parts);
      runDispatches(ctx, ds);
      expect(await readF32(ctx.gpu, out, ids.length * H)).toEqual(want);
    }
  });

  it.each([[3, 1000], [2, 64]])('rmsnorm of %i rows of %i', async (rows, n) => {
    const ctx = await context();
    const x = rand(rows * n, 11, 3), w = roundF16(rand(n, 12));
    const want = ref.rmsnorm(x, w, n, 1e-5);
    for (const [, k] of kernelSets(ctx)) {
      const out = uploadF32(ctx.gpu, new Float32Array(rows * n));
      runDispatches(ctx, rmsnorm(k, { x: uploadF32(ctx.gpu, x), weight: uploadF16(ctx.gpu, w), out, rows, n, eps: 1e-5 }));
      const got = await readF32(ctx.gpu, out, rows * n);
      // Σx² in f32, any order: relative error ≤ n·u; rsqrt and the two products add a few ulp.
      got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual((n + 8) * U * Math.abs(want[i])));
    }
  });

  it('converts bf16 to f16 in place as the CPU does, for every bf16 bit pattern, across binding parts', async () => {
    const ctx = await context();
    // All 65,536 patterns and one more (an odd count: the last word's high half is padding).
    const bf16 = Uint16Array.from({ length: 65537 }, (_, i) => i & 0xffff);
    const want = bf16ToF16(bf16);
    // 64 KiB bindings: 16,384 words each, three parts.
    const k = new Kernels({ ...ctx.gpu, maxBinding: 65536 });
    const data = upload(ctx.gpu, Uint16Array.from([...bf16, 0]));
    const ds = convertBf16(k, { data, n: bf16.length });
    expect(ds.length).toBe(3);
    runDispatches(ctx, ds);
    const got = new Uint16Array(await readBuffer(ctx.gpu, data, want.byteLength + 2));
    const wrong = [...want.keys()].filter((i) => got[i] !== want[i]);
    expect(wrong.slice(0, 5).map((i) => [bf16[i], got[i], want[i]])).toEqual([]);
    expect(got[bf16.length]).toBe(0);
  });

  describe('rope + KV cache write', () => {
    const T = 3, Hq = 4, Hkv = 2, pos0 = 998, capacity = 1004;

    /** The fused projection's rows: each token's q heads, then its k heads, then its v heads. */
    const fusedRows = (q: Float32Array, kx: Float32Array, v: Float32Array, d: number) =>
      Array.from({ length: T }, (_, t) => [q, kx, v].flatMap((x, i) => {
        const w = (i === 0 ? Hq : Hkv) * d;
        return [...x.subarray(t * w, (t + 1) * w)];
      }));

    async function check(d: number, theta: number, pos: number, cap: number, norm?: boolean) {
      const ctx = await context();
      const gpu = ctx.gpu;
      const q = rand(T * Hq * d, d, 2), kx = rand(T * Hkv * d, d + 1, 2), v = rand(T * Hkv * d, d + 2, 2);
      const invFreq = Float32Array.from({ length: d / 2 }, (_, i) => theta ** (-(2 * i) / d));
      const qw = roundF16(rand(d, d + 3, 2)), kw = roundF16(rand(d, d + 4, 2));
      const kCache0 = roundF16(rand(Hkv * cap * d, d + 5)), vCache0 = roundF16(rand(Hkv * cap * d, d + 6));
      const rows = fusedRows(q, kx, v, d);
      const bq = uploadF32(gpu, new Float32Array(T * Hq * d)), bk = uploadF16(gpu, kCache0), bv = uploadF16(gpu, vCache0);
      runDispatches(ctx, ropeKv(ctx.kernels, {
        qkv: uploadF32(gpu, Float32Array.from(rows.flat())), q: bq, kCache: bk, vCache: bv,
        invFreq: uploadF32(gpu, invFreq), step: uniform(gpu, [pos]), T, Hq, Hkv, d, capacity: cap,
        qkNorm: norm ? { q: uploadF16(gpu, qw), k: uploadF16(gpu, kw), eps: 1e-6 } : undefined,
      }));
      const rope = (x: Float32Array, H: number, w: Float32Array) =>
        ref.rope({ x, T, H, d, pos0: pos, invFreq, norm: norm ? { w, eps: 1e-6 } : undefined });
      const wantQ = rope(q, Hq, qw);
      const wantK = kCache0.slice(), wantV = vCache0.slice();
      ref.cacheWrite(wantK, rope(kx, Hkv, kw), T, Hkv, d, cap, pos);
      ref.cacheWrite(wantV, v, T, Hkv, d, cap, pos);
      // Rotations of values ≤ 2 (≤ ~11 after the norm, whose weights are ≤ 2): a few f32 ulp from
      // the products, and sin/cos of the reduced angle (≤ 2^-21 absolute on [-π, π]). Largest error
      // seen, on lavapipe and on an H100: 7e-7. Without the range reduction, the H100 is off by 3e-4
      // at position 1000 and by 4e-2 at 131000.
      const scale = norm ? 11 : 2;
      expect(maxAbsDiff(await readF32(gpu, bq, q.length), wantQ)).toBeLessThan(2e-6 * scale);
      // f16 caches: the same f32 value rounds the same way unless it sits within the f32 error
      // of a rounding boundary, which moves it by one f16 ulp (≤ 2^-10 · 16 here).
      expect(maxAbsDiff(await readF16(gpu, bk, wantK.length), wantK)).toBeLessThanOrEqual(2 ** -10 * 16);
      expect(maxAbsDiff(await readF16(gpu, bv, wantV.length), wantV)).toBe(0);
    }

    it.each([16, 64, 128])('d = %i at positions around 1000', (d) => check(d, 10000, pos0, capacity));

    // A q8 cache (src/model/kvcache.ts): each written row as int8 with its scale, as test/ref/quant.ts
    // quantizes the CPU's rotated rows (one block a row); every other row keeps its bytes.
    it.each([{ d: 64, norm: false }, { d: 128, norm: true }])('q8 cache, d = $d (q/k norm: $norm)', async ({ d, norm }) => {
      const ctx = await context();
      const gpu = ctx.gpu;
      const cap = capacity;
      const kx = rand(T * Hkv * d, d + 1, 2), v = rand(T * Hkv * d, d + 2, 2);
      const invFreq = Float32Array.from({ length: d / 2 }, (_, i) => 1e4 ** (-(2 * i) / d));
      const kw = roundF16(rand(d, d + 4, 2));
      const rows = Array.from({ length: T }, (_, t) => [new Float32Array(Hq * d), kx, v].flatMap((x, i) => {
        const w = (i === 0 ? Hq : Hkv) * d;
        return i === 0 ? [...x.subarray(0, w)] : [...x.subarray(t * w, (t + 1) * w)];
      }));
      const garbage = (n: number, seed: number) => Uint8Array.from(rand(n, seed), (x) => Math.floor((x + 1) * 127.5));
      const before = { k: garbage(Hkv * cap * d, 7), v: garbage(Hkv * cap * d, 8), ks: rand(Hkv * cap, 9), vs: rand(Hkv * cap, 10) };
      const bk = upload(gpu, before.k), bv = upload(gpu, before.v);
      const scales = { k: uploadF32(gpu, before.ks), v: uploadF32(gpu, before.vs) };
      runDispatches(ctx, ropeKv(ctx.kernels, {
        qkv: uploadF32(gpu, Float32Array.from(rows.flat())), q: uploadF32(gpu, new Float32Array(T * Hq * d)), kCache: bk, vCache: bv, scales,
        invFreq: uploadF32(gpu, invFreq), step: uniform(gpu, [pos0]), T, Hq, Hkv, d, capacity: cap,
        qkNorm: norm ? { q: uploadF16(gpu, roundF16(rand(d, 3, 2))), k: uploadF16(gpu, kw), eps: 1e-6 } : undefined,
      }));
      const wantK = ref.rope({ x: kx, T, H: Hkv, d, pos0, invFreq, norm: norm ? { w: kw, eps: 1e-6 } : undefined });
      for (const [name, data, scale, x, old, oldScale] of [['K', bk, scales.k, wantK, before.k, before.ks], ['V', bv, scales.v, v, before.v, before.vs]] as const) {
        const got = new Int8Array(await readBuffer(gpu, data, Hkv * cap * d));
        const gotScale = await readF32(gpu, scale, Hkv * cap);
        const expected = { q: new Int8Array(old.buffer.slice(0)), scales: Float32Array.from(oldScale) };
        for (let t = 0; t < T; t++) {
          for (let h = 0; h < Hkv; h++) {
            const row = h * cap + pos0 + t;
            const r = qref.quantize('q8', x.subarray((t * Hkv + h) * d, (t * Hkv + h + 1) * d), d);
            expected.q.set(r.q, row * d);
            expected.scales[row] = r.scales[0];
          }
        }
        // The GPU rotates in f32 (7e-7 from the CPU's): a value within that of a rounding tie may
        // round the other way, one step of its row; scales match (an f16 max moves only at a tie too).
        expect(maxAbsDiff(gotScale, expected.scales), `${name} scales`).toBe(0);
        expect(maxAbsDiff(got, expected.q), `${name} values`).toBeLessThanOrEqual(1);
        expect(got.filter((q, i) => q !== expected.q[i]).length, `${name} values off by one step`).toBeLessThanOrEqual(2);
      }
    });
    // A batch (src/ops/attention.ts, BatchRows): token t is sequence t's, at its own position, and
    // its K/V go to the sequence's row of that position; every other row keeps its values.
    it('a batch: each token at its own position and its sequence\'s row', async () => {
      const ctx = await context();
      const gpu = ctx.gpu;
      const d = 64, rows = { ctx: 900, room: 30 }, cap = rows.ctx + (T + 1) * rows.room;
      const pos = [rows.ctx + 4, rows.ctx, rows.ctx + rows.room - 1];
      const q = rand(T * Hq * d, 61, 2), kx = rand(T * Hkv * d, 62, 2), v = rand(T * Hkv * d, 63, 2);
      const invFreq = Float32Array.from({ length: d / 2 }, (_, i) => 1e4 ** (-(2 * i) / d));
      const kCache0 = roundF16(rand(Hkv * cap * d, 64)), vCache0 = roundF16(rand(Hkv * cap * d, 65));
      const fused = fusedRows(q, kx, v, d);
      const bq = uploadF32(gpu, new Float32Array(T * Hq * d)), bk = uploadF16(gpu, kCache0), bv = uploadF16(gpu, vCache0);
      runDispatches(ctx, ropeKv(ctx.kernels, {
        qkv: uploadF32(gpu, Float32Array.from(fused.flat())), q: bq, kCache: bk, vCache: bv,
        invFreq: uploadF32(gpu, invFreq), step: uniform(gpu, [0]), T, Hq, Hkv, d, capacity: cap,
        batch: { positions: uploadU32(gpu, pos), rows },
      }));
      const one = (x: Float32Array, H: number, t: number) => ref.rope({ x: x.subarray(t * H * d, (t + 1) * H * d), T: 1, H, d, pos0: pos[t], invFreq });
      const wantQ = Float32Array.from(pos.flatMap((_, t) => [...one(q, Hq, t)]));
      const wantK = kCache0.slice(), wantV = vCache0.slice();
      pos.forEach((p, t) => {
        const row = refAttention.batchRow(rows, t, p);
        ref.cacheWrite(wantK, one(kx, Hkv, t), 1, Hkv, d, cap, row);
        ref.cacheWrite(wantV, v.subarray(t * Hkv * d, (t + 1) * Hkv * d), 1, Hkv, d, cap, row);
      });
      expect(maxAbsDiff(await readF32(gpu, bq, q.length), wantQ)).toBeLessThan(4e-6);
      expect(maxAbsDiff(await readF16(gpu, bk, wantK.length), wantK)).toBeLessThanOrEqual(2 ** -10 * 16);
      expect(maxAbsDiff(await readF16(gpu, bv, wantV.length), wantV)).toBe(0);
    });
    it('Qwen3 q/k norm before rotating', () => check(128, 1e6, pos0, capacity, true));
    it('far positions (angles ~1e5 rad)', () => check(16, 1e6, 131000, 131003));
  });

  describe('argmax', () => {
    it.each([100, 5000])('V = %i, lowest index on ties', async (V) => {
      const ctx = await context();
      const logits = rand(V, V, 10);
      for (const i of [V - 1, 71, 5, 70]) logits[i] = 11;
      for (const [, k] of kernelSets(ctx)) {
        const next = uploadU32(ctx.gpu, [0]), history = uploadU32(ctx.gpu, new Uint32Array(64));
        runDispatches(ctx, argmax(k, { logits: uploadF32(ctx.gpu, logits), next, history, step: uniform(ctx.gpu, [40]), V }));
        expect(ref.argmax(logits)).toBe(5);
        expect((await readU32(ctx.gpu, next, 1))[0]).toBe(5);
        expect((await readU32(ctx.gpu, history, 64))[41]).toBe(5);
      }
    });
  });

  describe('a batch of token choices', () => {
    // Row b's token goes to next[b] and history[row · B + b]; sampling draws at row b's position.
    it.each(['argmax', 'sample'])('%s: one workgroup a row', async (name) => {
      const ctx = await context();
      const gpu = ctx.gpu;
      const B = 3, V = 700, historyRow = 2;
      const logits = rand(B * V, 71, 6);
      const pos = [500, 42, 9];
      const next = uploadU32(gpu, new Uint32Array(B)), history = uploadU32(gpu, new Uint32Array(4 * B));
      const args = { logits: uploadF32(gpu, logits), next, history, step: uniform(gpu, [0]), V, batch: { B, positions: uploadU32(gpu, [...pos, historyRow]) } };
      for (const [, k] of kernelSets(ctx)) {
        runDispatches(ctx, name === 'argmax' ? argmax(k, args) : sample(k, { ...args, temperature: 0.9, topP: 0.95, seed: 3 }));
        const row = (b: number) => logits.subarray(b * V, (b + 1) * V);
        const want = pos.map((p, b) => (name === 'argmax' ? ref.argmax(row(b)) : ref.sample(row(b), 0.9, 0.95, sampleUniform(3, p))));
        expect([...(await readU32(gpu, next, B))]).toEqual(want);
        expect([...(await readU32(gpu, history, 4 * B))]).toEqual([...new Array(historyRow * B).fill(0), ...want, 0, 0, 0]);
      }
    });
  });

  describe('sample', () => {
    /** Runs `sample` once per position, rewriting step in between; returns history[pos + 1]. */
    async function draws(k: Kernels, logits: Float32Array, temperature: number, topP: number, seed: number, positions: number[]) {
      const ctx = await context();
      const gpu = ctx.gpu;
      const step = uniform(gpu, [0]);
      const history = uploadU32(gpu, new Uint32Array(Math.max(...positions) + 2));
      const d = sample(k, { logits: uploadF32(gpu, logits), next: uploadU32(gpu, [0]), history, step, V: logits.length, temperature, topP, seed });
      for (const pos of positions) {
        gpu.device.queue.writeBuffer(step, 0, Uint32Array.of(pos));
        runDispatches(ctx, d);
      }
      const h = await readU32(gpu, history, history.size / 4);
      return positions.map((pos) => h[pos + 1]);
    }
    const positions = Array.from({ length: 48 }, (_, i) => 3 * i);

    it('with a tiny top-p it is greedy', async () => {
      const ctx = await context();
      const logits = rand(3000, 21, 5);
      for (const [, k] of kernelSets(ctx)) {
        expect(await draws(k, logits, 0.8, 1e-6, 7, positions.slice(0, 5))).toEqual(Array(5).fill(ref.argmax(logits)));
      }
    });

    it('keeps the top-p set with its ties and draws like the CPU reference', async () => {
      const ctx = await context();
      // p ∝ [.05, .3, .15, .1, .15, .15, tiny…]: top-p 0.55 keeps .3 and all three .15 (the third
      // crosses 0.55), never the .1 or the .05.
      const probs = [0.05, 0.3, 0.15, 0.1, 0.15, 0.15, ...Array(40).fill(0.1 / 40)];
      const logits = Float32Array.from(probs, Math.log);
      for (const [, k] of kernelSets(ctx)) {
        const got = await draws(k, logits, 1, 0.55, 1234, positions);
        expect(got).toEqual(positions.map((pos) => ref.sample(logits, 1, 0.55, sampleUniform(1234, pos))));
        expect(new Set(got)).toEqual(new Set([1, 2, 4, 5]));
      }
    });

    it('matches the CPU reference on random logits', async () => {
      const ctx = await context();
      const logits = rand(5000, 31, 6);
      for (const [, k] of kernelSets(ctx)) {
        for (const [temperature, topP] of [[0.7, 0.9], [1.3, 1]]) {
          const got = await draws(k, logits, temperature, topP, 99, positions);
          expect(got).toEqual(positions.map((pos) => ref.sample(logits, temperature, topP, sampleUniform(99, pos))));
          expect(new Set(got).size).toBeGreaterThan(10);
        }
      }
    });

    it('is reproducible for a seed and position, and the seed matters', async () => {
      const ctx = await context();
      const logits = rand(1000, 41, 2);
      const first = await draws(ctx.kernels, logits, 1, 0.95, 5, positions);
      expect(await draws(ctx.kernels, logits, 1, 0.95, 5, positions)).toEqual(first);
      expect(await draws(ctx.kernels, logits, 1, 0.95, 6, positions)).not.toEqual(first);
    });

    it('rejects a temperature of 0', async () => {
      const { gpu, kernels } = await context();
      const b = uploadU32(gpu, [0]);
      expect(() => sample(kernels, { logits: b, next: b, history: b, step: b, V: 1, temperature: 0, topP: 1, seed: 0 })).toThrow(/temperature/);
    });
  });
});
