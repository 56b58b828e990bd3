/**
 * The product's promise on the bundled model: a fact placed in a ~6K-token document is answered
 * from the prefilled bundle with full attention and with CSAttention at 95% sparsity (default
 * settings). The slowest test here (a 6,284-token prefill on lavapipe takes about two minutes).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prefillDocument } from '../src/prefill.js';
import { Session } from '../src/decode.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';
import { createLogger } from '../src/log.js';

const MODEL = 'fixtures/models/tinylm';
const { question, answer } = JSON.parse(readFileSync('fixtures/docs/facts-6k.question.json', 'utf8'));
const out = join(mkdtempSync(join(tmpdir(), 'csattn-6k-')), 'doc.csa');
const greedy = { maxTokens: 8, temperature: 0, topP: 1, seed: 0, stopIds: [1] };
let session: Session;

beforeAll(async () => {
  const s = await prefillDocument({
    document: 'fixtures/docs/facts-6k.txt', out, modelDir: MODEL, template: 'auto', reserve: 512,
    weights: 'f16', chunkSize: 256, csa: DEFAULT_CSA, log: createLogger('silent'),
  });
  expect(s.tokens).toBeGreaterThan(6000);
  session = await Session.open(out, MODEL, 64);
}, 900_000);

describe('fact retrieval from a ~6K-token bundle', () => {
  it('full attention answers it', async () => {
    const r = await session.answer(question, 'full', { sparsity: 0, sink: 0, window: 0 }, greedy);
    expect(session.tok.decode(r.ids)).toContain(answer);
  });

  it('CSAttention at sparsity 0.95 answers it too, reading 5% of the context', async () => {
    const r = await session.answer(question, 'csa', { sparsity: 0.95, sink: 4, window: 64 }, greedy);
    expect(session.tok.decode(r.ids)).toContain(answer);
    expect(r.kvBytesPerStep).toBeLessThan(0.1 * 2 * 6 * 2 * 64 * 2 * session.contextTokens);
  });

  it('the sink + window floor at the same budget does not (the test can fail)', async () => {
    const r = await session.answer(question, 'streaming', { sparsity: 0.95, sink: 4, window: 64 }, greedy);
    expect(session.tok.decode(r.ids)).not.toContain(answer);
  });
});
