/**
 * The centroid probe of `csattn eval` (src/eval/centroids.ts): the cosine of the decode-time query
 * to its nearest centroid, per table group. On synthetic tables against an independent f64
 * computation (test/ref/csa.ts's view of a query), with exact cases (a query on a centroid gives
 * 1, also through pre-RoPE tables); then on lavapipe, the probe step of a real session (bundled
 * model, a ~600-token fact context, query-head pre-RoPE tables and keypq's key tables) against the
 * same reference on the query a plain prefill of the same tokens computes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { centroidCosine, nearestCosines, tableQueries } from '../src/eval/centroids.js';
import { RecallProbe } from '../src/eval/recall.js';
import { DEFAULT_CSA, shapeOf, type CsaParams } from '../src/attention/csa/tables.js';
import { ropeInvFreq } from '../src/model/config.js';
import { readBuffer } from '../src/gpu/kernels.js';
import { prefillIds } from '../src/prefill.js';
import { Session } from '../src/decode.js';
import { Tokenizer } from '../src/tokenizer.js';
import { questionIds } from '../src/template.js';
import { createLogger } from '../src/log.js';
import { asSeen, normalized, rope, sub } from './ref/csa.js';
import { prng } from './helpers/gpu.js';

interface Heads { Hq: number; Hkv: number; d: number }

/** The reference: per group, the mean over its heads and subspaces of max_c cos, in f64 on normalised rows. */
function refCosines(q: Float32Array, centroids: Float32Array, p: CsaParams, h: Heads, pos: number, invFreq: Float32Array): number[] {
  const { subspaces: m, centroids: C } = p;
  const ds = h.d / m;
  const perGroup = p.granularity === 'kv-head' ? h.Hq / h.Hkv : 1;
  return Array.from({ length: h.Hq / perGroup }, (_, g) => {
    let sum = 0;
    for (let head = g * perGroup; head < (g + 1) * perGroup; head++) {
      const row = asSeen(q.subarray(head * h.d, (head + 1) * h.d), pos, { d: h.d, invFreq, params: p });
      for (let j = 0; j < m; j++) {
        const v = normalized(sub(row, j, ds));
        let best = -Infinity;
        for (let c = 0; c < C; c++) {
          const at = ((g * m + j) * C + c) * ds;
          const mu = normalized(centroids.subarray(at, at + ds));
          best = Math.max(best, v.reduce((s, x, i) => s + x * mu[i], 0));
        }
        sum += best;
      }
    }
    return sum / (perGroup * m);
  });
}

const HEADS: Heads = { Hq: 6, Hkv: 2, d: 32 };
const INV_FREQ = Float32Array.from({ length: HEADS.d / 2 }, (_, i) => 10000 ** (-2 * i / HEADS.d));
const POS = 3001;

function params(granularity: CsaParams['granularity'], r: CsaParams['rope']): CsaParams {
  return { ...DEFAULT_CSA, subspaces: 4, centroids: 5, granularity, rope: r };
}

function randoms(n: number, rand: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => 2 * rand() - 1);
}

const groupsOf = (p: CsaParams) => shapeOf(p, HEADS.Hq, HEADS.Hkv, HEADS.d).G;

describe('nearest-centroid cosine on synthetic tables', () => {
  it.each([
    ['kv-head', 'post'], ['kv-head', 'pre'], ['query-head', 'post'], ['query-head', 'pre'],
  ] as const)('random queries and centroids (%s, %s-RoPE) match the f64 reference', (granularity, r) => {
    const p = params(granularity, r);
    const rand = prng(7);
    const layers = 2;
    const queries = randoms(layers * HEADS.Hq * HEADS.d, rand);
    const centroids = Array.from({ length: layers }, () => randoms(groupsOf(p) * p.subspaces * p.centroids * (HEADS.d / p.subspaces), rand));
    const got = centroidCosine(queries, { centroids, params: p }, { ...HEADS, pos: POS, invFreq: INV_FREQ });
    expect(got.groups).toHaveLength(layers);
    for (let l = 0; l < layers; l++) {
      const q = queries.subarray(l * HEADS.Hq * HEADS.d, (l + 1) * HEADS.Hq * HEADS.d);
      const want = refCosines(q, centroids[l], p, HEADS, POS, INV_FREQ);
      expect(got.groups[l]).toHaveLength(granularity === 'kv-head' ? HEADS.Hkv : HEADS.Hq);
      got.groups[l].forEach((x, g) => expect(x).toBeCloseTo(want[g], 6));
      expect(got.layers[l]).toBeCloseTo(want.reduce((a, b) => a + b, 0) / want.length, 6);
      // random 8-dim directions against 5 centroids: well inside (0, 1)
      for (const x of got.groups[l]) expect(x > 0 && x < 0.99).toBe(true);
    }
  });

  it.each(['kv-head', 'query-head'] as const)('a query on a centroid (scaled) has cosine 1; through pre-RoPE tables too (%s)', (granularity) => {
    const rand = prng(11);
    for (const r of ['post', 'pre'] as const) {
      const p = params(granularity, r);
      const s = shapeOf(p, HEADS.Hq, HEADS.Hkv, HEADS.d);
      const centroids = randoms(s.G * s.m * s.C * s.ds, rand);
      // Each head's sub-vector j is 3x centroid (j + head) mod C of its group: the tables' view of the query.
      const q = new Float32Array(HEADS.Hq * HEADS.d);
      for (let h = 0; h < HEADS.Hq; h++) {
        const g = Math.floor(h / s.perGroup);
        for (let j = 0; j < s.m; j++) {
          const at = ((g * s.m + j) * s.C + ((j + h) % s.C)) * s.ds;
          for (let i = 0; i < s.ds; i++) q[h * s.d + j * s.ds + i] = 3 * centroids[at + i];
        }
        // Attention sees the query rotated by +pos; 'pre' tables rotate it back.
        if (r === 'pre') rope(q.subarray(h * s.d, (h + 1) * s.d), POS, INV_FREQ);
      }
      const got = centroidCosine(q, { centroids: [centroids], params: p }, { ...HEADS, pos: POS, invFreq: INV_FREQ });
      for (const x of got.groups[0]) expect(x).toBeCloseTo(1, 5);
      // Read as post-RoPE, the rotated query is off its centroids.
      if (r === 'pre') expect(centroidCosine(q, { centroids: [centroids], params: { ...p, rope: 'post' } }, { ...HEADS, pos: POS, invFreq: INV_FREQ }).layers[0]).toBeLessThan(0.95);
    }
  });

  it('a zero query has no nearest centroid: cosine 0; pre-RoPE leaves post tables\' queries as they are', () => {
    const p = params('kv-head', 'post');
    const s = shapeOf(p, HEADS.Hq, HEADS.Hkv, HEADS.d);
    const centroids = randoms(s.G * s.m * s.C * s.ds, prng(3));
    expect(nearestCosines(new Float32Array(HEADS.Hq * HEADS.d), centroids, s)).toEqual([0, 0]);
    const q = randoms(HEADS.d, prng(5));
    expect(tableQueries(q, 'post', { d: HEADS.d, pos: POS, invFreq: INV_FREQ })).toBe(q);
    expect(Array.from(tableQueries(q, 'pre', { d: HEADS.d, pos: 0, invFreq: INV_FREQ }))).toEqual(Array.from(q));
  });
});

describe('the probe step of a session (bundled model, lavapipe)', () => {
  const MODEL = resolve('fixtures/models/tinylm');
  const dir = mkdtempSync(join(tmpdir(), 'csattn-centroids-'));
  const record = JSON.parse(readFileSync('fixtures/facts.tiny.jsonl', 'utf8').split('\n')[0]);
  const question = `\n\nQuestion: ${record.input}\nAnswer:`;
  // Query-head pre-RoPE tables for csa, so both groupings and the un-rotation run (keypq's are per KV head).
  const csa: CsaParams = { ...DEFAULT_CSA, centroids: 16, kmeansIters: 2, granularity: 'query-head', rope: 'pre' };
  let session: Session;
  afterAll(async () => {
    await session?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeAll(async () => {
    const tok = await Tokenizer.load(MODEL);
    const out = join(dir, 'ctx.csa');
    await prefillIds({
      ids: tok.promptIds(record.context, { chat: false }), template: { kind: 'plain', separator: '', suffix: '' },
      out, modelDir: MODEL, chunkSize: 256, csa, log: createLogger('silent'),
    });
    session = await Session.open(out, MODEL, 64);
  }, 300_000);

  it('csa\'s and keypq\'s cosines are the reference\'s on the query a prefill of the same tokens computes', async () => {
    const probe = new RecallProbe(session);
    const sparse = { sparsity: 0.9, sink: 4, window: 16 };
    const got = { csa: await probe.recall(question, 'csa', sparse), keypq: await probe.recall(question, 'keypq', sparse) };
    const { layers, heads: Hq, kvHeads: Hkv, headDim: d } = session.model.cfg;
    expect(got.csa.centroidCosine!.groups.map((g) => g.length)).toEqual(Array(layers).fill(Hq));
    expect(got.keypq.centroidCosine!.groups.map((g) => g.length)).toEqual(Array(layers).fill(Hkv));
    expect((await probe.recall(question, 'streaming', sparse)).centroidCosine).toBeUndefined();

    // The probe step's query, another way: the question and the first answer token prefilled after the context.
    const N = session.contextTokens;
    const first = (await session.answer(question, 'full', { sparsity: 0, sink: 0, window: 0 }, { maxTokens: 1, temperature: 0, topP: 1, seed: 0, stopIds: [] })).ids[0];
    const ids = [...questionIds(session.tok, session.bundle.meta.template, question), first];
    const gpu = session.model.gpu;
    const queries: Float32Array[] = [];
    await session.model.prefill(ids, N, {
      keepQueries: true, logits: 'none',
      onLayer: async (_l, q) => { queries.push(new Float32Array(await readBuffer(gpu, q, Hq * d * 4, (ids.length - 1) * Hq * d * 4))); },
    });
    const keypq = (await session.prepare('keypq')).centroids!;
    const pos = N + ids.length - 1;
    const invFreq = ropeInvFreq(session.model.cfg);
    for (let l = 0; l < layers; l++) {
      const tables = [
        { name: 'csa', p: csa, t: session.tables[l] },
        { name: 'keypq', p: keypq.params, t: keypq.layers[l] },
      ] as const;
      for (const { name, p, t } of tables) {
        const cents = new Float32Array(await readBuffer(gpu, t.centroids, t.groups * t.m * t.C * t.ds * 4));
        const want = refCosines(queries[l], cents, p, { Hq, Hkv, d }, pos, invFreq);
        // decode and prefill kernels sum in other orders: the queries differ in f32 rounding only
        got[name].centroidCosine!.groups[l].forEach((x, g) => expect(Math.abs(x - want[g]), `${name} layer ${l} group ${g}`).toBeLessThan(2e-3));
        for (const x of want) expect(x > 0 && x <= 1).toBe(true); // the nearest of 16 centroids points the query's way
      }
    }
  }, 300_000);
});
