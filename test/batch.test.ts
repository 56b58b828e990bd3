/**
 * Batched decoding over one bundle (src/batch.ts): questions of different lengths decoding
 * together, slots refilled as answers stop, each with its own stop strings, give the answers of the
 * same questions decoded one after another (greedy), with full attention and with CSA.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prefillDocument } from '../src/prefill.js';
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH_TENSOR_CORES, Session, defaultBatch, type Answer, type SparseOptions } from '../src/decode.js';
import { textSink } from '../src/generate.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';
import type { AttentionKind } from '../src/attention/methods.js';
import { createLogger } from '../src/log.js';
import { runCsattn } from './helpers/cli.js';
import { KV_FORMATS, type KvFormat } from '../src/model/kvcache.js';
import { CACHE_PAD } from '../src/ops/attention.js';
import { BatchGenerator, type BatchAttention, type SwitchedAttention } from '../src/batch.js';
import { collecting, release } from '../src/gpu/device.js';
import { storage } from '../src/gpu/kernels.js';
import type { Batch, DecodeAttention } from '../src/model/model.js';
import { uploadU32 } from './helpers/gpu.js';

const MODEL = 'fixtures/models/tinylm';
const record = JSON.parse(readFileSync('fixtures/facts.tiny.jsonl', 'utf8').trim().split('\n')[0]);
const dir = mkdtempSync(join(tmpdir(), 'csattn-batch-'));
const out = join(dir, 'doc.csa');
const greedy = { maxTokens: 10, temperature: 0, topP: 1, seed: 0 };
const ROOM = 48;
const B = 2;
// Six questions of different lengths for two slots: four refills. The last two are the same: the
// second starts from the first's prefill (BatchGenerator.start; batch steps may run in between).
const questions = [
  `Question: ${record.input}\nAnswer:`,
  'Question: Who is mentioned first?\nAnswer:',
  `Question: ${record.input} Answer with one word, please, and nothing else.\nAnswer:`,
  'Question: What does the manual page describe?\nAnswer:',
  'Q:',
  'Q:',
];

const sessions: Partial<Record<KvFormat, Session>> = {};
let session: Session;
beforeAll(async () => {
  const doc = join(dir, 'doc.txt');
  writeFileSync(doc, record.context);
  for (const kv of KV_FORMATS) {
    const path = kv === 'f16' ? out : join(dir, `doc.${kv}.csa`);
    await prefillDocument({
      document: doc, out: path, modelDir: MODEL, weights: 'f16', kv, template: 'auto', reserve: 64, chunkSize: 256,
      csa: { ...DEFAULT_CSA, centroids: 16, kmeansIters: 4 }, log: createLogger('silent'),
    });
    sessions[kv] = await Session.open(path, MODEL, (B + 1) * ROOM);
  }
}, 600_000);

/** Every question answered alone (Session.answer), with its stop strings: text, ids and why it stopped. */
async function oneByOne(attention: AttentionKind, sparse: SparseOptions, stops: string[][]) {
  const answers = [];
  for (const [i, q] of questions.entries()) {
    const sink = textSink(session.tok, stops[i], () => {});
    const r = await session.answer(q, attention, sparse, { ...greedy, stopIds: session.tok.eosIds, stopStrings: stops[i] }, sink.onToken);
    answers.push({ text: sink.finish(), ids: r.ids, stopReason: r.stopReason });
  }
  return answers;
}

/** The same questions as one batch of B. */
async function batched(attention: AttentionKind, sparse: SparseOptions, stops: string[][]) {
  const sinks = questions.map((_, i) => textSink(session.tok, stops[i], () => {}));
  const got: (Answer | undefined)[] = [];
  await session.answerBatch(questions, attention, sparse, { ...greedy, stopIds: session.tok.eosIds }, B, ROOM,
    (i, a) => { got[i] = a; }, (i, id) => sinks[i].onToken(id));
  return got.map((a, i) => ({ text: sinks[i].finish(), ids: a!.ids, stopReason: a!.stopReason }));
}

describe.each<[AttentionKind, SparseOptions, KvFormat]>([
  ['full', { sparsity: 0, sink: 0, window: 0 }, 'f16'],
  ['csa', { sparsity: 0.5, sink: 4, window: 16 }, 'f16'],
  ['full', { sparsity: 0, sink: 0, window: 0 }, 'q8'],
])('batched decoding with %s attention (%s KV cache)', (attention, sparse, kv) => {
  it('answers as one-by-one decoding does: refills, early stops, per-question stop strings', async () => {
    session = sessions[kv]!;
    const plain = await oneByOne(attention, sparse, questions.map(() => []));
    // A stop string from the middle of the second answer stops it early; the others keep theirs.
    const word = plain[1].text.trim().split(/\s+/).slice(1, 2).join('');
    const stops = questions.map((_, i) => (i === 1 && word ? [word] : ['never-seen']));
    const want = await oneByOne(attention, sparse, stops);
    if (word) expect(want[1].stopReason).toBe('stop-string');
    expect(want.some((a) => a.ids.length < greedy.maxTokens)).toBe(true);
    const got = await batched(attention, sparse, stops);
    expect(got).toEqual(want);
  }, 600_000);
});

// A batch whose attention has two forms (decode.ts: unions or each selection, on tensor cores) runs
// the form its probe chose at each read-back. Here both forms are full attention, each writing its
// number into the probe, and the choice alternates: the answers stay those of one form, and the
// probes read back show both forms ran.
describe('a batch switching between forms of its attention (SwitchedAttention)', () => {
  it('takes the chosen form from the next step on and answers as a single form does', async () => {
    session = sessions.f16!;
    const m = session.model;
    const answer = async (attention: (batch: Batch) => BatchAttention) => {
      const made: GPUBuffer[] = [];
      const batch = collecting(m.gpu, made, () => m.batch(session.contextTokens, B, ROOM));
      const generator = collecting(m.gpu, made, () => new BatchGenerator(m, batch, greedy, attention(batch)));
      const ids: number[][] = [];
      try {
        const prompts = questions.map((q) => ({ ids: session.questionIds(q, greedy.maxTokens, ROOM), maxTokens: greedy.maxTokens, stopIds: [] }));
        await generator.run(prompts, (i, g) => { ids[i] = g.ids; });
      } finally {
        generator.destroy();
        for (const b of made) release(m.gpu, b);
      }
      return ids;
    };
    const seen: number[] = [];
    const switched = (batch: Batch): SwitchedAttention => {
      const probe = storage(m.gpu, 4, 'probe');
      const full = m.batchAttention(batch);
      const form = (i: number): DecodeAttention => {
        const mark = uploadU32(m.gpu, [i + 1]);
        return (l, q, out) => [...full(l, q, out), ...(l === 0 ? [{ copy: { src: mark, srcOffset: 0, dst: probe, dstOffset: 0, size: 4 } }] : [])];
      };
      return {
        forms: [form(0), form(1)], names: ['first', 'second'], probe: () => probe,
        measure: (data) => new Uint32Array(data)[0],
        choose: (mark, current) => { seen.push(mark!); return 1 - current; },
      };
    };
    const want = await answer((batch) => m.batchAttention(batch));
    expect(await answer(switched)).toEqual(want);
    // Each read-back saw the form of the last step before it: 1 (form 0) first, then both.
    expect(seen[0]).toBe(1);
    expect(new Set(seen)).toEqual(new Set([1, 2]));
  }, 600_000);
});

describe('csattn decode --prompts --batch', () => {
  it('prints the answers of --batch 1, in the questions\' order, with the batch in each line', () => {
    const prompts = join(dir, 'q.jsonl');
    writeFileSync(prompts, questions.map((prompt, i) => JSON.stringify({ id: `q${i}`, prompt })).join('\n') + '\n');
    const decode = (...extra: string[]) => {
      const r = runCsattn(['decode', out, '--model', MODEL, '--prompts', prompts, '--max-tokens', '8', '--stop', 'httpd', ...extra]);
      expect(r.status, r.stderr).toBe(0);
      return { lines: r.stdout.trim().split('\n').map((l) => JSON.parse(l)), err: r.errLines };
    };
    const one = decode('--batch', '1');
    const three = decode('--batch', '3');
    const fitting = decode();
    expect(three.err).toContain('[decoding 3 questions at a time]');
    expect(fitting.err).toContain(`[decoding ${questions.length} questions at a time (--batch default)]`);
    const answer = (l: Record<string, unknown>) => [l.id, l.text, l.ids, l.stopReason, l.questionTokens];
    expect(three.lines.map(answer)).toEqual(one.lines.map(answer));
    expect(fitting.lines.map(answer)).toEqual(one.lines.map(answer));
    expect(one.lines.map((l) => l.id)).toEqual(questions.map((_, i) => `q${i}`));
    expect(one.lines.some((l) => l.stopReason === 'stop-string')).toBe(true);
    expect([one, three].map((r) => r.lines[0].batch)).toEqual([1, 3]);
    // The same fields either way, the timings among them.
    expect(Object.keys(three.lines[0]).sort()).toEqual(Object.keys(one.lines[0]).sort());
    for (const l of three.lines) expect(l.msPerToken).toBeGreaterThan(0);
  }, 600_000);
});

describe('decode --batch default', () => {
  const shape = { kvHeads: 2, headDim: 64 };
  const roomy = { maxBinding: 2 ** 30, maxPositions: 1 << 20 };
  it('takes as many questions as there are, up to 8, or 16 with tensor cores', () => {
    expect(defaultBatch({ ...roomy, tensorCores: false }, shape, 1000, 50, 3)).toBe(3);
    expect(defaultBatch({ ...roomy, tensorCores: false }, shape, 1000, 50, 40)).toBe(DEFAULT_MAX_BATCH);
    expect(defaultBatch({ ...roomy, tensorCores: true }, shape, 1000, 50, 40)).toBe(DEFAULT_MAX_BATCH_TENSOR_CORES);
    expect([DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH_TENSOR_CORES]).toEqual([8, 16]);
  });
  it('fewer where the rows would pass the model positions or a binding', () => {
    // 1000 + (B + 1)·50 <= 1400 positions: B = 7.
    expect(defaultBatch({ ...roomy, maxPositions: 1400, tensorCores: true }, shape, 1000, 50, 40)).toBe(7);
    // (2 · (1000 + (B + 1)·50) + CACHE_PAD) · 64 · 2 bytes <= 440,000, 16 spare rows: B = 13.
    expect(CACHE_PAD).toBe(16);
    expect(defaultBatch({ ...roomy, maxBinding: 440_000, tensorCores: true }, shape, 1000, 50, 40)).toBe(13);
    expect(defaultBatch({ ...roomy, maxPositions: 1000, tensorCores: true }, shape, 1000, 50, 40)).toBe(1);
  });
});
