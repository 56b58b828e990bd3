/**
 * The speed report on recorded JSON lines in the formats the suite's tools write (csattn bench
 * --json, torch_decode.py, llama-bench -o jsonl, llama-batched-bench --output-format jsonl, the
 * probes): every ratio and floor checked against the figures computed by hand.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchChart, benchReport, decodeEntries, llamaSystem, nominal, parseBenchLines } from '../src/benchReport.js';
import { variantOf } from '../src/bench.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';

const W = 15e9, KV = 131072, PEAK = 4800;
const decode = (ms: number, attended: number, kernels?: { kernel: string; stepMs: number }[]) => {
  const bytesPerStep = W + attended * KV;
  return { msPerToken: ms, bytesPerStep, achievedGBps: bytesPerStep / ms / 1e6, floorMs: bytesPerStep / PEAK / 1e6, pctOfFloor: 0, kernels: kernels?.map((k) => ({ ...k, calls: 1, ms: k.stepMs })) };
};
const csattn = (context: number, full: number, csa: number, prefillMs: number | null) => ({
  model: 'llama-3.1-8b', adapter: 'nvidia nvidia-h200 NVIDIA: 580.159.04', peak: { gbps: PEAK, source: 'NVIDIA H200 (HBM3e)' }, context, layers: 32,
  context_kind: prefillMs === null ? 'random' : 'prefill', prefillMs, prefillTokensPerSecond: prefillMs && (context * 1000) / prefillMs, tablesMs: 2500,
  full: decode(full, context + 80, [{ kernel: 'matvec', stepMs: 4 }, { kernel: 'attention_decode', stepMs: 2 }]), csa: decode(csa, Math.round(0.05 * context) + 80),
  csaSpeedup: full / csa, sparsity: 0.95, weightBytes: W, kvRowBytes: KV, peakGpuBytes: 2 ** 34,
});
const llamaBench = (type: string, depth: number, ts: number, size: number) => ({
  build_commit: '3f545bec', build_number: 0, gpu_info: 'NVIDIA H200', backends: 'CUDA', model_type: type, model_size: size,
  n_prompt: 0, n_gen: 64, n_depth: depth, avg_ts: ts, stddev_ts: 0.1,
});
const LINES = [
  { meta: { date: '2026-12-03', commit: 'abc1234', machine: 'NVIDIA H200, 580.159.04 (Dawn/Vulkan)' } },
  { probe: 'read-bandwidth', adapter: 'nvidia-h200', bytes: 2 ** 31 - 16, best: { gbps: 4400, loadsInFlight: 8, workgroups: 1056, ms: 0.49 }, variants: [] },
  { probe: 'subgroup-matrix', variants: [{ name: 'registers', tflops: 510 }, { name: 'workgroup memory', tflops: 231 }] },
  csattn(32768, 7.0, 5.0, 10000),
  csattn(130927, 14.0, 8.0, 74000),
  llamaBench('llama 8B F16', 32768, 152.75, 16060522496),
  llamaBench('llama 8B F16', 131072, 82.96, 16060522496),
  llamaBench('llama 8B Q4_K - Medium', 131072, 92.68, 4920000000),
  { batched: true, weights: 'F16', n_kv_max: 33344, is_pp_shared: 1, pp: 32768, tg: 32, pl: 1, t_pp: 2.65, speed_pp: 12365, t_tg: 0.2, speed_tg: 147, t: 2.85, speed: 11500 },
  { batched: true, weights: 'F16', n_kv_max: 33344, is_pp_shared: 1, pp: 32768, tg: 32, pl: 16, t_pp: 2.66, speed_pp: 12300, t_tg: 0.31, speed_tg: 1635, t: 3.0, speed: 11000 },
  { reference: 'pytorch-check', against: 'transformers 5.17.0 float32 eager', prefillRelDiff: 2e-7, decodeRelDiff: 3e-7 },
  { reference: 'pytorch', model: 'llama', context: 32768, msPerToken: 9.0, prefillMs: 2500, decodeMode: 'flex-decoding + CUDA graphs', bytesPerStep: W + 32900 * KV, torch: '2.11.0', compiledVsEager: 1e-3 },
  { reference: 'pytorch', model: 'llama', context: 131000, error: 'out of memory: tried to allocate' },
];

describe('bench report', () => {
  const x = parseBenchLines(LINES);

  it('sorts the lines by the tool that wrote them and names llama.cpp weights as users do', () => {
    expect(x.csattn.map((r) => r.context)).toEqual([32768, 130927]);
    expect(x.llamaDecode.map((l) => [l.weights, l.context])).toEqual([['F16', 32768], ['F16', 131072], ['Q4_K_M', 131072]]);
    expect(x.llamaDecode[0].msPerToken).toBeCloseTo(1000 / 152.75, 9);
    expect(x.llamaBatched.map((b) => [b.batch, b.prefillMs, b.tokensPerSecond])).toEqual([[1, 2650, 147], [16, 2660, 1635]]);
    expect(x.pytorch).toHaveLength(2);
    expect(x.meta.commit).toBe('abc1234');
    expect([nominal(130927), nominal(130560), nominal(131072), nominal(32700), nominal(65536)]).toEqual([131072, 131072, 131072, 32768, 65536]);
  });

  it('sets every system against the same floor: weights plus the attended f16 K/V rows', () => {
    const e = decodeEntries(x, 'llama-3.1-8b');
    const llama = e.find((q) => q.system === 'llama.cpp F16' && q.context === 32768)!;
    const bytes = 16060522496 + (32768 + 32) * KV;
    expect(llama.bytesPerStep).toBe(bytes);
    expect(llama.floorMs).toBeCloseTo(bytes / PEAK / 1e6, 9);
    expect(llama.pctOfFloor).toBeCloseTo((100 * bytes) / PEAK / 1e6 / (1000 / 152.75), 9);
    expect(e.find((q) => q.system === 'PyTorch')!.gbps).toBeCloseTo((W + 32900 * KV) / 9.0 / 1e6, 9);
    expect(e.filter((q) => q.system === 'PyTorch')).toHaveLength(1); // the out-of-memory row has no figure
  });

  it('tabulates decode, floor, prefill, batches, probes and checks with peer / csattn ratios', () => {
    const { markdown, summary } = benchReport(x);
    const row = (start: string) => markdown.split('\n').find((l) => l.startsWith(start))!.split('|').slice(1, -1).map((c) => c.trim());
    // 32K: csattn full 7, CSA 5, llama.cpp F16 6.55, no quantized row, PyTorch 9.
    expect(row('| 32K |')).toEqual(['32K', '7.00', '5.00', (1000 / 152.75).toFixed(2), '-', '-', '9.00',
      `${(1000 / 152.75 / 5).toFixed(2)}x`, `${(9 / 5).toFixed(2)}x`, `${(1000 / 152.75 / 7).toFixed(2)}x`]);
    expect(row('| 128K |').slice(0, 6)).toEqual(['128K', '14.00', '8.00', (1000 / 82.96).toFixed(2), '-', (1000 / 92.68).toFixed(2)]);
    expect(summary[0]).toMatchObject({ context: 32768, 'csattn CSA': 5, PyTorch: 9 });
    // Prefill: (10 + 2.5) s against llama.cpp's 2.65 and PyTorch's 2.5.
    const pre = markdown.split('\n').filter((l) => l.startsWith('| 32K | 10.0 |'))[0].split('|').map((c) => c.trim());
    expect(pre.slice(1, 9)).toEqual(['32K', '10.0', '2.5', '12.5', '2.6', '2.5', `${(12.5 / 2.65).toFixed(2)}x`, '5.00x']);
    expect(markdown).toContain('| 32K | 16 | 1635 | - | - | - | - |');
    // The matvecs' 15 GB in 4 ms is 3,750 GB/s, 85% of the read probe's 4,400.
    expect(markdown).toContain('| 32K: decode matvecs, all weights (of the step) | 3750 GB/s | 4.00 ms for 15.00 GB (85% of the read probe) |');
    expect(markdown).toContain('| subgroup-matrix f16 MMA, operands from registers (scripts/bench/subgroup-matrix.mjs) | 510 TFLOP/s |  |');
    expect(markdown).toContain('prefill 2.0e-7, decode 3.0e-7 of the logit range');
    expect(markdown).toContain('out of memory');
    expect(markdown).toContain('Floors at 4800 GB/s (NVIDIA H200 (HBM3e))');
    expect(markdown).toContain('csattn abc1234, llama.cpp 3f545bec, torch 2.11.0');
  });

  it('sets batched rows beside llama.cpp\'s shared-prompt batches', () => {
    const batches = [1, 16].flatMap((batch) => (['full', 'csa'] as const).map((attention) => ({ batch, attention, msPerStep: 1, tokensPerSecond: batch * (attention === 'csa' ? 150 : 100), perSequenceTokensPerSecond: 1 })));
    const y = parseBenchLines([...LINES, { ...csattn(32768, 6.0, 4.0, null), batches }]);
    const { markdown } = benchReport(y);
    expect(markdown).toContain(`| 32K | 16 | 1635 | 1600 | 2400 | ${(1600 / 1635).toFixed(2)}x | ${(2400 / 1635).toFixed(2)}x |`);
    expect(markdown).toContain('| 32K | 1 | 147 | 100 | 150 |');
    // Rows from before each sequence asked its own question are marked as such; the newer are not.
    expect(markdown).toContain('asked every sequence the same question');
    const own = benchReport(parseBenchLines([...LINES, { ...csattn(32768, 6.0, 4.0, null), batches, batchQuestions: 'own' }])).markdown;
    expect(own).toContain('| 32K | 16 | 1635 | 1600 | 2400 |');
    expect(own).not.toContain('asked every sequence the same question');
  });

  it('sets each quantized or pooled row beside llama.cpp at its precision, apart from the f16 rows', () => {
    const variant = (o: object) => ({ ...csattn(32768, 6.0, 4.0, null), ...o });
    const q8Cache = { ...llamaBench('llama 8B Q8_0', 32768, 200, 8.5e9), type_k: 'q8_0', type_v: 'q8_0' };
    const y = parseBenchLines([...LINES, variant({ weights: 'q8', kv: 'q8' }), variant({ weights: 'q4', kv: 'f16' }), variant({ csaParams: { ...DEFAULT_CSA, choice: 'pooled', listFraction: 0.05 } }), q8Cache]);
    const { markdown, summary } = benchReport(y);
    expect(markdown).toContain('| 32K | q8 weights, q8 K/V | 6.00 | 4.00 | llama.cpp Q8_0 (q8_0 K/V) | 5.00 | 1.25x | 0.83x |');
    expect(markdown).toContain('| 32K | q4 weights | 6.00 | 4.00 | - | - | - | - |'); // no Q4_K_M row at 32K
    expect(markdown).toContain(`| 32K | listFraction 0.05, choice pooled | 6.00 | 4.00 | llama.cpp F16 | ${(1000 / 152.75).toFixed(2)} | ${(1000 / 152.75 / 4).toFixed(2)}x |`);
    expect(summary[0]).toMatchObject({ 'csattn full': 7, 'csattn CSA': 5 }); // the f16 rows, not the variants
    const e = decodeEntries(y, 'llama-3.1-8b');
    expect(e.find((q) => q.system === 'llama.cpp Q8_0 (q8_0 K/V)')!.bytesPerStep).toBe(8.5e9 + ((32768 + 32) * KV * 34) / 64);
    expect(e.find((q) => q.system === 'csattn CSA (q8 weights, q8 K/V)')!.msPerToken).toBe(4);
  });

  it('draws one line per system that has figures, and the floors', () => {
    const svg = benchChart(x);
    for (const s of ['csattn full', 'csattn CSA', 'llama.cpp F16', 'llama.cpp Q4_K_M', 'PyTorch', 'csattn CSA floor']) expect(svg).toContain(`>${s}</text>`);
    expect(svg).not.toContain('>llama.cpp Q8_0</text>');
    expect(svg.match(/<polyline/g)).toHaveLength(7);
    expect(svg).toContain('NVIDIA H200');
  });
});

describe('bench report on the committed H200 run', () => {
  // The lines as the device wrote them (docs/results/bench/): session 13's suite tables (docs/perf-notes.md) come from these.
  const dir = 'docs/results/bench';
  const lines = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) =>
    readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)));
  const x = parseBenchLines(lines);

  it('finds every tool\'s rows', () => {
    // suite.jsonl's five rows, then variants.jsonl's five settings at 32K and 128K.
    expect(x.csattn.map((r) => r.model)).toEqual(['llama-3.1-8b', 'llama-3.1-8b', 'llama-3.1-8b', 'qwen3-8b', 'mistral-7b', ...Array(10).fill('llama-3.1-8b')]);
    expect(x.csattn.slice(5).map((r) => variantOf(r))).toEqual(['q8 weights, q8 K/V', 'q4 weights, q8 K/V', 'choice pooled', 'q8 weights, q8 K/V, choice pooled', 'q8 weights, q8 K/V, listFraction 0.05, choice pooled']
      .flatMap((v) => [v, v]));
    const depths = (w: string) => [32768, 65536, 131072].map((d) => `${w}@${d}`);
    expect(x.llamaDecode.map((l) => `${llamaSystem(l).slice('llama.cpp '.length)}@${l.context}`)).toEqual([
      ...depths('Q8_0 (q8_0 K/V)'), ...depths('F16'), ...depths('Q8_0'), ...depths('Q4_K_M')]);
    expect(x.llamaBatched).toHaveLength(6);
    expect(x.pytorch.map((t) => t.context)).toEqual([32768, 65536, 131000]);
    expect(x.checks).toHaveLength(1);
    expect(x.read?.best.gbps).toBeGreaterThan(4000);
  });

  it('gives the suite\'s decode table', () => {
    const { summary } = benchReport(x);
    const ms = (c: number, s: string) => (summary.find((r) => r.context === c)![s] as number).toFixed(2);
    expect([ms(32768, 'csattn full'), ms(32768, 'csattn CSA'), ms(32768, 'llama.cpp F16'), ms(32768, 'PyTorch')]).toEqual(['7.30', '6.99', '6.62', '6.29']);
    expect([ms(131072, 'csattn full'), ms(131072, 'csattn CSA'), ms(131072, 'llama.cpp F16'), ms(131072, 'llama.cpp Q4_K_M'), ms(131072, 'PyTorch')]).toEqual(['12.22', '8.13', '11.79', '10.85', '10.78']);
  });

  it('gives the suite\'s table of quantized and pooled rows', () => {
    const { markdown } = benchReport(x);
    expect(markdown).toContain('| 128K | q8 weights, q8 K/V, choice pooled | 12.32 | 6.22 | llama.cpp Q8_0 (q8_0 K/V) | 20.57 | 3.31x | 1.67x |');
    expect(markdown).toContain('| 32K | q8 weights, q8 K/V | 6.23 | 5.88 | llama.cpp Q8_0 (q8_0 K/V) | 8.35 | 1.42x | 1.34x |');
    expect(markdown).toContain('| 128K | choice pooled | 12.30 | 8.03 | llama.cpp F16 | 11.79 | 1.47x | 0.96x |');
  });
});
