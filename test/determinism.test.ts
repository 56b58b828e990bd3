/**
 * Determinism with the bundled model: seeded sampling repeats exactly on a fresh model, and greedy
 * decoding does not depend on how the prompt was chunked during prefill.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadModel } from '../src/model/load.js';
import { Generator, type SamplingOptions } from '../src/generate.js';
import { Tokenizer } from '../src/tokenizer.js';
import { createGpu } from '../src/gpu/device.js';

const MODEL = 'fixtures/models/tinylm';
let prompt: number[];

beforeAll(async () => {
  const tok = await Tokenizer.load(MODEL);
  // ~100 tokens: several 16-token chunks, one partial, and a single 256-token chunk.
  prompt = tok.encode(readFileSync('fixtures/heldout/heldout-a.txt', 'utf8').slice(0, 420), { addSpecialTokens: true });
  expect(prompt.length).toBeGreaterThan(64);
  expect(prompt.length % 16).not.toBe(0);
});

/** Generates on a freshly loaded model and device, so nothing carries over between runs. */
async function run(o: SamplingOptions, chunkSize = 256): Promise<number[]> {
  const model = await loadModel(await createGpu(), MODEL, { capacity: prompt.length + o.maxTokens, chunkSize });
  const { ids } = await new Generator(model).generate(prompt, 0, o);
  model.destroy();
  return ids;
}

describe('determinism', () => {
  const sampled = { maxTokens: 16, temperature: 0.8, topP: 0.9, seed: 1234, stopIds: [] };

  it('the same seed at temperature 0.8 / top-p 0.9 gives the same tokens on a new model; another seed does not', async () => {
    const a = await run(sampled);
    const b = await run(sampled);
    expect(b).toEqual(a);
    expect(a).toHaveLength(16);
    // The seed is what fixes them: on a broad distribution (every token kept, temperature 1.5) a
    // different seed samples a different continuation. At 0.8 / 0.9 this confident model may not.
    const broad = { ...sampled, temperature: 1.5, topP: 1 };
    const c = await run(broad);
    expect(await run(broad)).toEqual(c);
    expect(await run({ ...broad, seed: 99 })).not.toEqual(c);
  });

  it('greedy decoding is the same for prefill chunk sizes 16 and 256', async () => {
    const greedy = { ...sampled, temperature: 0, topP: 1 };
    const small = await run(greedy, 16);
    expect(small).toHaveLength(16);
    expect(await run(greedy, 256)).toEqual(small);
  });
});
