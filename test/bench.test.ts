/**
 * csattn bench on a tiny preset: the figures are consistent with their definitions (bytes a step
 * must read, the floor at the given bandwidth, % of floor), with a prefilled and a random context.
 */
import { describe, expect, it } from 'vitest';
import { batchQuestions, batchTable, bench, benchTable, formatBench, type BenchJob, type BenchRow } from '../src/bench.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';
import { PRESETS } from '../src/model/synth.js';
import { createLogger } from '../src/log.js';
import { peakBandwidth } from '../src/gpu/peaks.js';

const cfg = PRESETS['tiny-llama'].config as Record<string, number>;
const job: BenchJob = {
  preset: 'tiny-llama', contexts: [300], sparse: { sparsity: 0.9, sink: 4, window: 8 }, decodeTokens: 6, questionTokens: 5,
  csa: { ...DEFAULT_CSA, subspaces: 4 }, chunkSize: 128, weights: 'f16', bundleIo: true, randomContext: false, profile: true,
  peakGbps: 100, seed: 3, log: createLogger('silent'),
};

describe('csattn bench', () => {
  it('reports prefill, bundle round trip and decode figures by their definitions', async () => {
    const [r] = await bench(job, () => {});
    const d = cfg.head_dim ?? cfg.hidden_size / cfg.num_attention_heads;
    const kvRow = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * d * 2;
    const linear = cfg.num_hidden_layers * cfg.hidden_size * (2 * cfg.num_attention_heads * d + 2 * cfg.num_key_value_heads * d + 3 * cfg.intermediate_size);
    const weights = 2 * (linear + cfg.vocab_size * cfg.hidden_size);
    expect(r.context).toBe(300);
    expect(r.full.bytesPerStep).toBe(weights + (300 + 5 + 3) * kvRow);
    expect(r.csa.bytesPerStep).toBe(weights + (30 + 5 + 3) * kvRow);
    for (const x of [r.full, r.csa]) {
      expect(x.floorMs).toBeCloseTo((x.bytesPerStep / 1e11) * 1e3, 9);
      expect(x.pctOfFloor).toBeCloseTo((100 * x.floorMs!) / x.msPerToken, 9);
      expect(x.kernels!.map((k) => k.kernel)).toContain('matvec');
      // Every kernel's own time and its share of the step are measured (how the share compares with
      // zero is a timing, left to the benchmarks: on lavapipe a tiny step's noise can exceed it).
      for (const k of x.kernels!) expect(k.ms >= 0 && Number.isFinite(k.stepMs)).toBe(true);
      // The whole step on the GPU: more than any kernel adds to it, and one step per run (one
      // token sampled), whatever the timings.
      expect(x.gpuStepMs!).toBeGreaterThan(Math.max(...x.kernels!.map((k) => k.stepMs!)));
      expect(x.kernels!.find((k) => k.kernel === 'argmax')!.calls).toBeCloseTo(1, 9);
    }
    expect(r.csa.kernels!.map((k) => k.kernel)).toContain('csa_topk');
    expect(r.full.kernels!.map((k) => k.kernel)).not.toContain('csa_topk');
    expect(r.prefillTokensPerSecond).toBeGreaterThan(0);
    // The profiled layer-chunk (the last 128 tokens of 300) and its work, counted by hand: the four
    // products' weights of a layer x 2 x 128, and 4 x heads x d per (query, key) pair seen.
    expect(r.prefillKernels!.map((k) => k.kernel)).toContain('rope_kv');
    const pairs = 128 * (300 - 128) + (128 * 129) / 2;
    expect(r.prefillChunk).toEqual({ tokens: 128, keys: 300, matmulFlop: (2 * 128 * linear) / cfg.num_hidden_layers, attentionFlop: 4 * cfg.num_attention_heads * d * pairs });
    expect(r.bundle!.bytes).toBeGreaterThan(2 * 300 * kvRow / 2);
    expect(r.full.achievedGBps).toBeCloseTo(r.full.bytesPerStep / r.full.msPerToken / 1e6, 9);
    // The table: decode ms/token, GB/s and % of the floor per attention; PyTorch's columns when given.
    const row = (table: string[]) => table[2].split('|').slice(1, -1).map((c) => c.trim());
    const cells = row(benchTable([r]));
    expect(cells.slice(0, 3)).toEqual(['tiny-llama (subspaces 4)', '300', 'prefill']);
    expect(r.peak).toEqual({ gbps: 100, source: '--peak-gbps' });
    expect(cells.at(-1)).toBe('100 (--peak-gbps)');
    expect(cells.slice(7, 13)).toEqual([r.full.msPerToken, r.full.achievedGBps, r.full.pctOfFloor!, r.csa.msPerToken, r.csa.achievedGBps, r.csa.pctOfFloor!]
      .map((x, i) => `${x.toFixed(i % 3 === 0 ? 2 : 0)}${i % 3 === 2 ? '%' : ''}`));
    const withTorch = row(benchTable([r], () => 2 * r.full.msPerToken));
    expect(withTorch.slice(14, 16)).toEqual([(2 * r.full.msPerToken).toFixed(2), '0.50']);
    expect(formatBench([r])).toContain('GPU time per kernel');
  });

  it('a random context skips the prefill and still decodes with both attentions', async () => {
    const [r] = await bench({ ...job, randomContext: true, bundleIo: false, profile: false, contexts: [cfg.max_position_embeddings], peakGbps: undefined }, () => {});
    expect(r.context_kind).toBe('random');
    // lavapipe has no datasheet bandwidth: no floor, and the table says how to give one.
    expect(r.peak).toBeNull();
    expect([r.full.floorMs, r.csa.pctOfFloor]).toEqual([null, null]);
    expect(benchTable([r])[2]).toMatch(/\| unknown: --peak-gbps \|$/);
    expect(r.prefillMs).toBeNull();
    expect(r.context).toBe(cfg.max_position_embeddings - (5 + 6 + 1)); // the window keeps room for question and answer
    expect(r.full.msPerToken).toBeGreaterThan(0);
    expect(r.csa.msPerToken).toBeGreaterThan(0);
  });
});

describe('csattn bench --batch', () => {
  it('asks each sequence its own question: the single sequence\'s first, the rest of its length, distinct', () => {
    const first = [5, 9, 2, 7];
    const qs = batchQuestions(first, 16, 3, 1000);
    expect(qs).toHaveLength(16);
    expect(qs[0]).toBe(first);
    expect(qs.every((q) => q.length === 4 && q.every((t) => Number.isInteger(t) && t >= 0 && t < 1000))).toBe(true);
    expect(new Set(qs.map((q) => q.join(','))).size).toBe(16);
    expect(batchQuestions(first, 16, 3, 1000)).toEqual(qs);
    expect(batchQuestions(first, 1, 3, 1000)).toEqual([first]);
  });
  it('decodes each batch size with both attentions: a token a step for every sequence', async () => {
    // 9: past MATVEC_MAX_T, the products take the tiled kernel.
    const [r] = await bench({ ...job, randomContext: true, bundleIo: false, profile: true, contexts: [cfg.max_position_embeddings], batches: [1, 3, 9] }, () => {});
    // The window keeps the largest batch's rooms: its sequences and the prefill's.
    expect(r.context).toBe(cfg.max_position_embeddings - 10 * (5 + 6 + 1));
    expect(r.batches!.map((b) => [b.batch, b.attention])).toEqual([[1, 'full'], [1, 'csa'], [3, 'full'], [3, 'csa'], [9, 'full'], [9, 'csa']]);
    expect(r.batchQuestions).toBe('own');
    for (const b of r.batches!) {
      expect(b.tokensPerSecond).toBeCloseTo(b.batch * b.perSequenceTokensPerSecond, 6);
      expect(b.msPerStep * b.perSequenceTokensPerSecond).toBeCloseTo(1000, 6);
    }
    const table = batchTable([r]);
    expect(table[2].split('|').slice(1, 4).map((c) => c.trim())).toEqual(['tiny-llama', String(r.context), '1']);
    expect(table).toHaveLength(5);
    expect(table[2].split('|').at(-2)!.trim()).toBe('-'); // no unions without tensor cores: one form
    expect(formatBench([r])).toContain('| full tok/s a sequence |');
    // --profile profiles a step of each batch: one token chosen for all its sequences.
    expect(r.batches!.every((b) => b.kernels)).toBe(true);
    for (const b of r.batches!) {
      expect(b.kernels!.find((k) => k.kernel === 'argmax')!.calls).toBeCloseTo(1, 9);
      expect(b.gpuStepMs!).toBeGreaterThan(Math.max(...b.kernels!.map((k) => k.stepMs!)));
    }
    expect(r.batches!.find((b) => b.batch === 9 && b.attention === 'csa')!.kernels!.map((k) => k.kernel)).toContain('csa_topk');
    expect(formatBench([r])).toContain('csa batch 9 step (');
  });
});

describe('batchTable', () => {
  it('names the form a switching batch ended in, with its union share', () => {
    const figures = (attention: 'full' | 'csa', extra = {}) => ({ batch: 16, attention, msPerStep: 20, tokensPerSecond: 800, perSequenceTokensPerSecond: 50, ...extra });
    const row = { model: 'llama-3.1-8b', context: 131072, batches: [figures('full'), figures('csa', { form: 'unions', unionShare: 0.0625 })] } as unknown as BenchRow;
    expect(batchTable([row])[2].split('|').at(-2)!.trim()).toBe('unions (union share 0.06)');
  });
});

describe('peak bandwidth by adapter', () => {
  it('reads the datasheet figure from the adapter name, or the override', () => {
    expect(peakBandwidth('nvidia nvidia-h200 NVIDIA: 580.159.04 580.159.4.0')).toEqual({ gbps: 4800, source: 'NVIDIA H200 (HBM3e)' });
    expect(peakBandwidth('nvidia nvidia-h100-80gb-hbm3 NVIDIA: 580.159.04')?.gbps).toBe(3350);
    expect(peakBandwidth('nvidia nvidia-h100-pcie')?.gbps).toBe(2000);
    expect(peakBandwidth('mesa llvmpipe (LLVM 19.1.7, 256 bits)')).toBeNull();
    expect(peakBandwidth('mesa llvmpipe', 50)).toEqual({ gbps: 50, source: '--peak-gbps' });
  });
});
