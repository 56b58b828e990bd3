/**
 * The engine against Hugging Face transformers (fixtures/reference/, made by
 * scripts/reference/make_reference.py on an H100 with transformers 5.17, float32 math on the same
 * f16/bf16/f32 weights). Every supported family, plus the bundled model.
 *
 * Tolerance: |logit difference| ≤ 1e-3 × the case's logit range (max − min). Both sides use
 * the same weights in f32 arithmetic; csattn additionally stores K and V in f16 (as every f16
 * inference engine does) and sums in a different order, so differences are rounding of order
 * 2^-11 relative in the attention inputs: measured maxima are printed and well below the bound.
 * On tensor cores (an H100) the prefill's products and attention round their inputs to f16 as
 * well: at most 4e-4 of the range there (tinylm 3.8e-4, qwen3 4.0e-4).
 *
 * With q8 weights (--weights q8) the model differs from transformers' by the quantization itself:
 * each weight moves by up to d/2, d = a block's max |w| / 127, uniformly, so a product's outputs
 * move by about max/rms(block) / (127 √12) ≈ 0.6% of their size (max/rms ≈ 2.4 for 32 normal
 * values). Along the residual stream the 7 products of a layer add up in quadrature: √(7·6 layers)
 * · 0.6% ≈ 4% of a logit's spread (RMS) at most, and over 40 positions × the vocabulary the largest
 * of those errors is ~4.5 of them, ~18% of the spread, which is ~1/8 of the range: Q8_TOL = 2e-2 ×
 * range. (Chunks of at most 8 tokens, as the last one here, go through the matvec, which also rounds
 * x to int8 per block of 16 for packed int8 products: an error of the same kind, √2 on the above.)
 * Measured on lavapipe: 3.0e-3 (llama-tied) to 7.3e-3 (tinylm) of the range.
 *
 * q4 (--weights q4: 4-bit codes, a scale and an offset a block) moves each weight by up to half of
 * (max - min) / 15 of its block, against q8's max |w| / 127: (127 / 15) · (max - min) / max |w|
 * ≈ 8.5 · 1.8 ≈ 15 times q8's error, so Q4_TOL = 0.3 × range. A loose bound, there to catch a
 * wrong layout or a lost scale end to end on every family (the kernels are checked exactly against
 * CPU references in test/matmul.test.ts); measured on lavapipe (lm_head at q8, as load.ts keeps
 * it for q4): 4.0e-2 (qwen2) to 1.1e-1 (tinylm) of the range.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/model/load.js';
import type { WeightFormat } from '../src/ops/quant.js';
import { Generator } from '../src/generate.js';
import { Tokenizer } from '../src/tokenizer.js';
import { gpuContext } from './helpers/gpu.js';
import { readNpy } from './helpers/npy.js';

const ROOT = 'fixtures/reference';
const CASES = ['llama', 'llama-tied', 'qwen2', 'qwen3', 'mistral', 'tinylm'];
const REL_TOL = 1e-3;
const Q8_TOL = 2e-2;
const Q4_TOL = 0.3;

interface Expected { ids: number[]; generated: number[]; margins: number[] }

describe.each(CASES)('transformers reference: %s', (name) => {
  const dir = join(ROOT, name);
  const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
  const expected: Expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
  const ref = readNpy(join(dir, 'logits.npy'));
  const range = ref.data.reduce((a, b) => Math.max(a, b), -Infinity) - ref.data.reduce((a, b) => Math.min(a, b), Infinity);

  async function load(chunkSize: number, weights: WeightFormat = 'f16') {
    const { gpu } = await gpuContext(false);
    return loadModel(gpu, spec.model, { capacity: expected.ids.length + expected.generated.length + 8, chunkSize, weights });
  }

  /** The largest |logit difference| from transformers' over every position. */
  async function worstDifference(weights: WeightFormat): Promise<{ got: Float32Array; worst: number }> {
    const model = await load(16, weights); // several chunks: exercises the chunked, layer-major prefill
    const got = (await model.prefill(expected.ids, 0, { logits: 'all' }))!;
    expect(got.length).toBe(ref.data.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref.data[i]));
    console.log(`${name} (${weights}): max |Δlogit| ${worst.toExponential(2)} over range ${range.toFixed(2)} (${(worst / range).toExponential(2)} relative)`);
    return { got, worst };
  }

  it('logits of every position match', async () => {
    expect((await worstDifference('f16')).worst).toBeLessThan(REL_TOL * range);
  });

  it.each([['q8', Q8_TOL], ['q4', Q4_TOL]] as const)('with %s weights: logits within the quantization\'s tolerance, the same top token where it leads clearly', async (format, tol) => {
    const { got, worst } = await worstDifference(format);
    expect(worst).toBeLessThan(tol * range);
    const V = got.length / expected.ids.length;
    const clear = expected.ids.map((_, t) => t).filter((t) => topTwoMargin(ref.data.subarray(t * V, (t + 1) * V)) > 2 * tol * range);
    console.log(`${name} (${format}): ${clear.length} of ${expected.ids.length} positions with a clear top token`);
    if (format === 'q8') expect(clear.length).toBeGreaterThan(0);
    expect(clear.filter((t) => argmax(got.subarray(t * V, (t + 1) * V)) !== argmax(ref.data.subarray(t * V, (t + 1) * V)))).toEqual([]);
  });

  it('greedy generation of 32 tokens equals transformers generate', async () => {
    const model = await load(64);
    const gen = new Generator(model);
    const r = await gen.generate(expected.ids, 0, { maxTokens: expected.generated.length, temperature: 0, topP: 1, seed: 0, stopIds: [] });
    // Compare up to the first step whose top-2 logits are closer than the logit tolerance: there,
    // either token is a correct greedy choice.
    const tie = expected.margins.findIndex((m) => m < 2 * REL_TOL * range);
    const n = tie < 0 ? expected.generated.length : tie + 1;
    console.log(`${name}: generated ${r.ids.join(',')}\n expected ${expected.generated.join(',')} (first near-tie at ${tie})`);
    expect(n).toBeGreaterThanOrEqual(8);
    expect(r.ids.slice(0, n)).toEqual(expected.generated.slice(0, n));
  });

  if (spec.text !== undefined) {
    it('tokenizer gives the same ids as transformers', async () => {
      const tok = await Tokenizer.load(spec.model);
      expect(tok.encode(spec.text)).toEqual(expected.ids);
    });
  }
});

function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

function topTwoMargin(x: ArrayLike<number>): number {
  const top = argmax(x);
  let second = -Infinity;
  for (let i = 0; i < x.length; i++) if (i !== top) second = Math.max(second, x[i]);
  return x[top] - second;
}
