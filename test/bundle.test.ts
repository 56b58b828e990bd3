/**
 * Prefill → bundle → decode with the bundled model on a small fact document (~1.2K tokens):
 * the bundle round-trips, its KV equals the plain forward pass, CSA at sparsity 0 is full
 * attention, and `--attention full` from a bundle equals generation over the concatenated ids.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bundle, FORMAT_VERSION, modelIdentity, writeBundle, type BundleMeta } from '../src/bundle.js';
import { prefillDocument } from '../src/prefill.js';
import { Session } from '../src/decode.js';
import { loadModel } from '../src/model/load.js';
import { Generator } from '../src/generate.js';
import { Tokenizer } from '../src/tokenizer.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';
import { readBuffer } from '../src/gpu/kernels.js';
import { createGpu } from '../src/gpu/device.js';
import { createLogger } from '../src/log.js';
import { contextIds, questionIds, splitTemplate } from '../src/template.js';
import { gpuContext } from './helpers/gpu.js';

const MODEL = 'fixtures/models/tinylm';
const record = JSON.parse(readFileSync('fixtures/facts.tiny.jsonl', 'utf8').trim().split('\n')[3]);
const question = `Question: ${record.input}\nAnswer:`;
const dir = mkdtempSync(join(tmpdir(), 'csattn-bundle-'));
const doc = join(dir, 'doc.txt');
const out = join(dir, 'doc.csa');
const greedy = { maxTokens: 12, temperature: 0, topP: 1, seed: 0, stopIds: [1] };

beforeAll(async () => {
  writeFileSync(doc, record.context);
  await prefillDocument({
    document: doc, out, modelDir: MODEL, weights: 'f16', template: 'auto', reserve: 512, chunkSize: 128,
    csa: { ...DEFAULT_CSA, centroids: 16, kmeansIters: 4 }, log: createLogger('silent'),
  });
}, 600_000);

describe('bundle', () => {
  it('round-trips metadata and tensors through writeBundle / Bundle.open', async () => {
    const meta: BundleMeta = {
      formatVersion: FORMAT_VERSION, csattnVersion: 'test',
      model: { fingerprint: 'f', parts: { config: 'a', tokenizer: 'b', tensors: 'c', weights: 'd' }, architecture: 'LlamaForCausalLM', name: 'm' },
      contextIds: [0, 5, 7], template: { kind: 'plain', separator: '\n\n', suffix: '' },
      csa: { ...DEFAULT_CSA, subspaces: 2, centroids: 2 }, kv: 'f16', shape: { layers: 1, heads: 2, kvHeads: 1, headDim: 4, groups: 1, L: 2 },
      stats: { prefillMs: 1 },
    };
    const fill = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
    const sizes: Record<string, number> = { k: 1 * 3 * 4 * 2, v: 24, centroids: 1 * 2 * 2 * 2 * 4, listIdx: 2 * 2 * 2 * 4, listScore: 2 * 2 * 2 * 2, listLen: 2 * 2 * 4 };
    const path = join(dir, 'rt.csa');
    await writeBundle(path, meta, () => Object.fromEntries(Object.entries(sizes).map(([k, n], i) => [k, async () => fill(n, i)])) as any);
    const b = await Bundle.open(path);
    expect(b.meta).toEqual(meta);
    const names = ['k', 'v', 'centroids', 'list_idx', 'list_score', 'list_len'];
    for (const [i, n] of Object.values(sizes).entries()) expect(await b.read(`L0.${names[i]}`)).toEqual(fill(n, i));
    await b.close();
    // Every CSA parameter is range-checked on load.
    const tensors = () => Object.fromEntries(Object.entries(sizes).map(([k, n], i) => [k, async () => fill(n, i)])) as any;
    for (const csa of [{ rope: 'sideways' }, { listFraction: 2 }, { listFraction: 0 }, { granularity: 'token' }, { scoreScale: 'x' }, { kmeansIters: -1 }, { seed: 0.5 }, { choice: 'all' }]) {
      const badPath = join(dir, 'bad.csa');
      await writeBundle(badPath, { ...meta, csa: { ...meta.csa, ...csa } as any }, tensors);
      await expect(Bundle.open(badPath), JSON.stringify(csa)).rejects.toThrow(/not a valid csattn bundle \(csa\)/);
    }
    // A bundle from before the pooled choice (no `choice`) chose per head.
    const older = join(dir, 'older.csa');
    const { choice: _, ...before } = meta.csa;
    await writeBundle(older, { ...meta, csa: before as any }, tensors);
    const o = await Bundle.open(older);
    expect(o.meta.csa).toEqual({ ...meta.csa, choice: 'per-head' });
    await o.close();
  });

  it('holds the context ids, template and the same KV as a plain forward pass', async () => {
    const b = await Bundle.open(out);
    const tok = await Tokenizer.load(MODEL);
    const ids = contextIds(tok, splitTemplate(tok, 'auto'), record.context);
    expect(b.meta.contextIds).toEqual(ids);
    expect(b.meta.template).toEqual({ kind: 'plain', separator: '\n\n', suffix: '' });
    // A different chunk size (256 vs 128) and no table building: the same keys and values.
    const { gpu } = await gpuContext(false);
    const model = await loadModel(gpu, MODEL, { capacity: ids.length, chunkSize: 256 });
    await model.prefill(ids, 0, { logits: 'none' });
    const { kvHeads, headDim: d } = model.cfg;
    for (let l = 0; l < model.cfg.layers; l++) {
      for (const [name, cache] of [['k', model.cache.k[l]], ['v', model.cache.v[l]]] as const) {
        const stored = new Uint16Array((await b.read(`L${l}.${name}`)).slice().buffer);
        const live = new Uint16Array(await readBuffer(gpu, cache, kvHeads * ids.length * d * 2));
        // f16 values from chunked attention in a different order may differ in the last bit.
        let worst = 0;
        for (let i = 0; i < live.length; i++) worst = Math.max(worst, Math.abs(stored[i] - live[i]));
        expect(worst).toBeLessThanOrEqual(2);
      }
    }
    await b.close();
  });
});

describe('decode from a bundle', () => {
  let session: Session;
  beforeAll(async () => {
    session = await Session.open(out, MODEL, 64);
  });

  it('answers the fact question with full attention', async () => {
    const r = await session.answer(question, 'full', { sparsity: 0, sink: 0, window: 0 }, greedy);
    expect(session.tok.decode(r.ids)).toContain(record.answers[0]);
  });

  it('csa at sparsity 0 gives exactly the tokens of full attention, logits within float tolerance', async () => {
    const full = await session.answer(question, 'full', { sparsity: 0, sink: 0, window: 0 }, { ...greedy, keepLogits: true });
    const csa = await session.answer(question, 'csa', { sparsity: 0, sink: 4, window: 16 }, { ...greedy, keepLogits: true });
    expect(csa.ids).toEqual(full.ids);
    let worst = 0;
    for (let i = 0; i < full.logits!.length; i++) worst = Math.max(worst, Math.abs(full.logits![i] - csa.logits![i]));
    // Same keys, attended in another order (selection list vs cache order): f32 rounding only.
    expect(worst).toBeLessThan(1e-3);
  });

  it('a question prefilled token by token through csa at sparsity 0 gives the tokens of the full-attention prefill', async () => {
    const full = await session.answer(question, 'full', { sparsity: 0, sink: 0, window: 0 }, { ...greedy, keepLogits: true });
    const csa = await session.answer(question, 'csa', { sparsity: 0, sink: 4, window: 16 }, { ...greedy, keepLogits: true, promptAttention: 'sparse' });
    expect(csa.ids).toEqual(full.ids);
    let worst = 0, lo = Infinity, hi = -Infinity;
    for (let i = 0; i < full.logits!.length; i++) {
      worst = Math.max(worst, Math.abs(full.logits![i] - csa.logits![i]));
      lo = Math.min(lo, full.logits![i]);
      hi = Math.max(hi, full.logits![i]);
    }
    // The question's K/V come from matvecs instead of the prefill's tiled matmul (another f32
    // summation order) and are stored as f16: an f16 rounding step of a few entries, as against
    // transformers (bound 1e-3 of the logit range). On tensor cores the tiled product also rounds x
    // to f16: 2.6e-4 of the range, measured on an H100.
    expect(worst).toBeLessThan(1e-3 * (hi - lo));
    // At 0.95 the question attends only the selected keys: other logits, the answer still right.
    const sparse = await session.answer(question, 'csa', { sparsity: 0.95, sink: 4, window: 16 }, { ...greedy, keepLogits: true, promptAttention: 'sparse' });
    const dense = await session.answer(question, 'csa', { sparsity: 0.95, sink: 4, window: 16 }, { ...greedy, keepLogits: true });
    expect(Math.max(...sparse.logits!.slice(0, 1000).map((x, i) => Math.abs(x - dense.logits![i])))).toBeGreaterThan(1e-3);
    expect(session.tok.decode(sparse.ids)).toContain(record.answers[0]);
  });

  it('--attention full from a bundle equals generation over the concatenated ids', async () => {
    const fromBundle = await session.answer(question, 'full', { sparsity: 0, sink: 0, window: 0 }, greedy);
    const tok = session.tok;
    const ids = [...session.bundle.meta.contextIds, ...questionIds(tok, session.bundle.meta.template, question)];
    const { gpu } = await gpuContext(false);
    const model = await loadModel(gpu, MODEL, { capacity: ids.length + 16 });
    const direct = await new Generator(model).generate(ids, 0, greedy);
    expect(fromBundle.ids).toEqual(direct.ids);
  });

  it('answers several questions from one load, each from the same stored context', async () => {
    const t = session.tables[0];
    const lists = t.groups * t.m * t.C;
    const tables = async () => [await readBuffer(session.model.gpu, t.listLen, lists * 4), await readBuffer(session.model.gpu, t.listEntry, lists * t.L * 4)];
    const loaded = await tables();
    const a = await session.answer(question, 'csa', { sparsity: 0.5, sink: 4, window: 16 }, greedy);
    const other = await session.answer('Question: What is the name of this manual page?\nAnswer:', 'csa', { sparsity: 0.5, sink: 4, window: 16 }, greedy);
    const again = await session.answer(question, 'csa', { sparsity: 0.5, sink: 4, window: 16 }, greedy);
    expect(other.ids).not.toEqual(a.ids);
    expect(again.ids).toEqual(a.ids);
    expect(await tables()).toEqual(loaded); // answers leave the lists as the bundle had them
  });
});

describe('sessions over a loaded model (as eval opens one a record)', () => {
  it("a closed session gives back every buffer it made: the model's GPU memory stays where it was", async () => {
    const gpu = await createGpu();
    const model = await loadModel(gpu, MODEL, { capacity: 2048 });
    const loaded = { model, identity: await modelIdentity(MODEL, model.cfg, 'f16'), tok: await Tokenizer.load(MODEL) };
    const sparse = { sparsity: 0.9, sink: 4, window: 16 };
    const after: number[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await Session.open(out, MODEL, 64, { loaded });
      await s.answer(question, 'full', { sparsity: 0, sink: 0, window: 0 }, { ...greedy, maxTokens: 2 }); // recorded steps, one a method
      await s.answer(question, 'csa', sparse, { ...greedy, maxTokens: 2 });
      const batch = await s.batch([{ attention: 'full', sparse }, { attention: 'csa', sparse }], greedy, 24);
      await batch.answer([0, 1].map((slot) => ({ question, stopIds: greedy.stopIds, slot, maxTokens: 2 })), () => {});
      batch.close();
      await s.close();
      after.push(gpu.memory.current);
    }
    // The first session leaves what the model keeps for good (its prefill recording of the question); the others none.
    expect(after[2]).toBe(after[1]);
    model.destroy();
  });
});

describe('the centroid choice, a decode-time setting', () => {
  it('Session.open\'s choice overrides the bundle\'s: the selector gets it, and the sparse logits change', async () => {
    const sessions = [await Session.open(out, MODEL, 64), await Session.open(out, MODEL, 64, { choice: 'pooled' })];
    try {
      expect(sessions.map((s) => [s.bundle.meta.csa.choice, s.csa.choice])).toEqual([['per-head', 'per-head'], ['per-head', 'pooled']]);
      expect(sessions[1].csa).toEqual({ ...sessions[0].csa, choice: 'pooled' });
      const prepared = await Promise.all(sessions.map((s) => s.prepare('csa')));
      expect(prepared.map((p) => p.centroids?.params.choice)).toEqual(['per-head', 'pooled']);
      const answer = (s: Session) => s.answer(question, 'csa', { sparsity: 0.95, sink: 4, window: 16 }, { ...greedy, keepLogits: true });
      const perHead = await answer(sessions[0]);
      const pooled = await answer(sessions[1]);
      // The first token's logits come from the question's prefill (full attention); the later ones through the selection.
      let differs = 0;
      for (let i = 0; i < Math.min(perHead.logits!.length, pooled.logits!.length); i++) differs = Math.max(differs, Math.abs(pooled.logits![i] - perHead.logits![i]));
      expect(differs).toBeGreaterThan(1e-3);
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  });
});

describe('a q8 KV cache (--kv q8)', () => {
  const q8 = join(dir, 'doc-q8.csa');
  beforeAll(async () => {
    await prefillDocument({
      document: doc, out: q8, modelDir: MODEL, weights: 'f16', kv: 'q8', template: 'auto', reserve: 512, chunkSize: 128,
      csa: { ...DEFAULT_CSA, centroids: 16, kmeansIters: 4 }, log: createLogger('silent'),
    });
  }, 600_000);

  it('is stored as int8 rows with f16 scales, and decodes as generation over the concatenated ids with a q8 cache', async () => {
    const session = await Session.open(q8, MODEL, 64);
    try {
      const { kvHeads, headDim: d } = session.model.cfg;
      const N = session.contextTokens;
      expect(session.bundle.meta.kv).toBe('q8');
      expect(session.model.cache.format).toBe('q8');
      for (const [name, dtype, shape] of [['L0.k', 'I8', [kvHeads, N, d]], ['L0.v_scale', 'F16', [kvHeads, N]]] as const) {
        expect(session.bundle.file.tensors.get(name)).toMatchObject({ dtype, shape });
      }
      const fromBundle = await session.answer(question, 'full', { sparsity: 0, sink: 0, window: 0 }, greedy);
      expect(session.tok.decode(fromBundle.ids)).toContain(record.answers[0]);
      const ids = [...session.bundle.meta.contextIds, ...questionIds(session.tok, session.bundle.meta.template, question)];
      const { gpu } = await gpuContext(false);
      const model = await loadModel(gpu, MODEL, { capacity: ids.length + 16, kv: 'q8' });
      expect((await new Generator(model).generate(ids, 0, greedy)).ids).toEqual(fromBundle.ids);
      const csa = await session.answer(question, 'csa', { sparsity: 0.9, sink: 4, window: 16 }, { ...greedy, promptAttention: 'sparse' });
      expect(session.tok.decode(csa.ids)).toContain(record.answers[0]);
    } finally {
      await session.close();
    }
  });
});

