/**
 * csattn perplexity against transformers: the bundled model's reference logits (fixtures/reference/
 * tinylm, every position of a 60-token text) give the teacher-forced NLL of the window's second half
 * on the CPU; csattn scores the same tokens through its decode step.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGpu } from '../src/gpu/device.js';
import { loadModel } from '../src/model/load.js';
import { Tokenizer } from '../src/tokenizer.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';
import { DEFAULT_SPARSE } from '../src/decode.js';
import { createLogger } from '../src/log.js';
import { negLogLikelihood, perplexity, windowsOf, type PerplexityJob } from '../src/perplexity.js';
import { gpuContext } from './helpers/gpu.js';
import { readNpy } from './helpers/npy.js';
import { expectOneLineError, runCsattn } from './helpers/cli.js';

const REF = 'fixtures/reference/tinylm';
const MODEL = 'fixtures/models/tinylm';
const spec = JSON.parse(readFileSync(join(REF, 'case.json'), 'utf8'));
const ids: number[] = JSON.parse(readFileSync(join(REF, 'expected.json'), 'utf8')).ids;

describe('perplexity', async () => {
  const tok = await Tokenizer.load(MODEL);
  const { gpu } = await gpuContext(false);
  const model = await loadModel(gpu, MODEL, { capacity: ids.length });
  const job = (o: Partial<PerplexityJob>): PerplexityJob => ({
    model, tok, text: spec.text, context: ids.length, attention: 'full', sparse: DEFAULT_SPARSE, csa: DEFAULT_CSA, log: createLogger('warn'), ...o,
  });

  it('one window of the reference text is its token ids', () => {
    expect(windowsOf(tok, spec.text, ids.length)).toEqual([ids]);
    expect(windowsOf(tok, spec.text + spec.text, ids.length, 5)).toHaveLength(2);
  });

  it('full attention through the decode step scores the second half as transformers does', async () => {
    const ref = readNpy(join(REF, 'logits.npy'));
    const V = ref.shape[1];
    const P = ids.length / 2;
    // Reference row t predicts token t + 1: rows P-1 .. 58 score tokens P .. 59.
    const want = negLogLikelihood(ref.data.subarray((P - 1) * V, (ids.length - 1) * V), ids.slice(P), V) / (ids.length - P);
    const r = await perplexity(job({}));
    expect(r.tokens).toBe(ids.length - P);
    console.log(`tinylm: mean NLL ${r.nll.toFixed(5)} against transformers' ${want.toFixed(5)}`);
    expect(Math.abs(r.nll - want)).toBeLessThan(2e-3); // measured 1.8e-4 on lavapipe
    // Once the model has made its scratch buffers, a run frees every window's recording and history.
    const before = gpu.memory.current;
    expect((await perplexity(job({}))).nll).toBe(r.nll);
    expect(gpu.memory.current).toBe(before);
  });

  it('with a q8 KV cache, full attention scores as transformers does within int8 rounding, and says kv q8', async () => {
    const q8 = await loadModel(await createGpu(), MODEL, { capacity: ids.length, kv: 'q8' });
    const ref = readNpy(join(REF, 'logits.npy'));
    const V = ref.shape[1];
    const P = ids.length / 2;
    const want = negLogLikelihood(ref.data.subarray((P - 1) * V, (ids.length - 1) * V), ids.slice(P), V) / (ids.length - P);
    const r = await perplexity(job({ model: q8 }));
    console.log(`tinylm, q8 K/V: mean NLL ${r.nll.toFixed(5)} against transformers' ${want.toFixed(5)}`);
    expect(r.kv).toBe('q8');
    expect(Math.abs(r.nll - want)).toBeLessThan(2e-2); // measured 6.3e-3 on lavapipe (f16 K/V: 1.8e-4)
    q8.destroy();
  });

  it('CSA attending every key (sparsity 0) equals full attention; at 0.5 it is another, finite figure; a short tail scores as transformers does', async () => {
    const full = await perplexity(job({}));
    const before = gpu.memory.current;
    const all = await perplexity(job({ attention: 'csa', sparse: { ...DEFAULT_SPARSE, sparsity: 0 } }));
    expect(Math.abs(all.nll - full.nll)).toBeLessThan(1e-4);
    // A method that reads no CSA tables (none are built for it) attending every key: full attention too.
    const oracle = await perplexity(job({ attention: 'oracle', sparse: { ...DEFAULT_SPARSE, sparsity: 0 } }));
    expect(Math.abs(oracle.nll - full.nll)).toBeLessThan(1e-4);
    const half = await perplexity(job({ attention: 'csa', sparse: { ...DEFAULT_SPARSE, sparsity: 0.5 } }));
    expect(half.sparsity).toBe(0.5);
    expect(Number.isFinite(half.perplexity)).toBe(true);
    expect(half.nll).not.toBe(full.nll);
    expect(gpu.memory.current).toBe(before); // tables, selection and recordings freed
    // A 10-token tail after 50 of context: the reference logits score it too.
    const tail = await perplexity(job({ scored: 10 }));
    const ref = readNpy(join(REF, 'logits.npy'));
    const V = ref.shape[1];
    expect(tail.tokens).toBe(10);
    expect(Math.abs(tail.nll - negLogLikelihood(ref.data.subarray(49 * V, 59 * V), ids.slice(50), V) / 10)).toBeLessThan(2e-3);
  });

  it('the command prints JSON, and refuses a text shorter than one window in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'csattn-ppl-'));
    const file = join(dir, 'text.txt');
    writeFileSync(file, spec.text);
    const r = runCsattn(['perplexity', file, '--context', String(ids.length), '--json', '--log-level', 'warn']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ tokens: ids.length / 2, windows: 1, context: ids.length, scored: ids.length / 2, attention: 'full', sparsity: null, weights: 'f16', kv: 'f16' });
    expect(out.perplexity).toBeCloseTo(Math.exp(out.nll), 6);
    expectOneLineError(runCsattn(['perplexity', file, '--context', '200']), /the text has 59 tokens: --context 200 needs at least 199/);
    expectOneLineError(runCsattn(['perplexity', file, '--context', '60', '--scored', '59']), /--scored 59 must leave at least 2 tokens of context/);
  });
});
