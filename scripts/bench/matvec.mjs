// The decode matvec's cut (rows a workgroup owns, threads, column blocks loaded before use) swept
// over the weight shapes of one decode step, GB/s of each by GPU timestamps. Weights are cycled
// over copies that together exceed the L2 cache, so every read comes from memory, as in decode, and
// hold random values as the benchmark model's do (never-written buffers timed 2-3x slow on the H200);
// each timed run reads at least 2 GB, long enough for the GPU's clocks.
//   node scripts/bench/matvec.mjs [--preset llama-3.1-8b] [--weights f16|q8|q4] [--no-int8-dot] [--run-mb 2000] [--json]
//                                 [--sweep-tokens T | --tokens 1,2,4,8,9,16]
// (after the build; --no-int8-dot: quantized products in f32 rather than dot4I8Packed). The sweep
// runs T = 1 token, or T of --sweep-tokens (the cuts matvec.wgsl holds: at most 40 sums). With
// --tokens, no sweep: each shape's product of T tokens as matmul() runs it (the matvec up to
// BATCH_MMA_FROM - 1 tokens), and on tensor cores as a batch product (batchMatmul) too: where the
// second is faster, BATCH_MMA_FROM should come down.
// A kernel's variants (a part removed, another form) are builds of their own, each timed by a plain
// run (docs/results/s29/: a copy of bin, dist, wgsl and scripts/bench per variant): the
// --batch-variants mode that timed defines in one process measured every product ~3x slow, the
// shipped form included, and was removed (session 29).
// Its figures rank cuts; only an A/B of the whole step (csattn bench) decides a default: on the H200
// (2026-12-04) this sweep's best cuts (two blocks, 64 threads for gate/up) summed to 10.44 ms against
// 11.31 for src/ops/dense.ts:matvecShape, yet made decode 0.1-0.6 ms a token slower in the step, and
// its absolute times are ~2.6x the matvecs' share of the step (docs/perf-notes.md).
import { createGpu } from '../../dist/gpu/device.js';
import { Kernels, record, storage, submit } from '../../dist/gpu/kernels.js';
import { gpuTimeMs } from '../../dist/gpu/profile.js';
import { batchHalvesBytes, batchMatmul, fillUniform, fusesNorm, matmul, matvecHolds, matvecShape } from '../../dist/ops/dense.js';
import { BYTES_PER_WEIGHT, f16Matrix, quantize } from '../../dist/ops/quant.js';
import { PRESETS } from '../../dist/model/synth.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const preset = arg('--preset', 'llama-3.1-8b');
const format = arg('--weights', 'f16');
const c = PRESETS[preset].config;
const H = c.hidden_size, F = c.intermediate_size, d = c.head_dim ?? H / c.num_attention_heads;
const qkv = (c.num_attention_heads + 2 * c.num_key_value_heads) * d;
const SHAPES = [
  { name: 'wqkv', K: H, N: qkv, norm: true },
  { name: 'wo', K: c.num_attention_heads * d, N: H, accumulate: true },
  { name: 'gate/up', K: H, N: F, swiglu: true, norm: true },
  { name: 'down', K: F, N: H, accumulate: true },
  { name: 'lm_head', K: H, N: c.vocab_size, norm: true },
];
const sweepT = Number(arg('--sweep-tokens', 1));
const CUTS = [];
for (const rows of [1, 2, 4, 8, 16]) for (const wg of [32, 64, 128, 256]) for (const unroll of [1, 2, 4]) CUTS.push({ rows, wg, unroll }); // each shape times those matvecHolds

const device = await createGpu();
const gpu = { ...device, int8Dot: device.int8Dot && !args.includes('--no-int8-dot') };
const k = new Kernels(gpu);
const L2_BYTES = 256 << 20; // well past the H200's 60 MB L2
const RUN_BYTES = Number(arg('--run-mb', 2000)) * 1e6;
let seed = 1;
const filled = (n) => {
  const b = storage(gpu, n * 2);
  submit(gpu, (pass) => record(pass, fillUniform(k, { out: b, n, center: 0, half: 0.02, seed: seed++ })));
  return b;
};
const tokens = arg('--tokens', null)?.split(',').map(Number);
const rows = [];
for (const s of SHAPES) {
  const wBytes = s.N * s.K * BYTES_PER_WEIGHT[format] * (s.swiglu ? 2 : 1);
  const copies = Math.min(64, Math.max(1, Math.ceil(L2_BYTES / wBytes)));
  const x = filled(2 * s.K * sweepT), y = filled(2 * s.N * sweepT); // f32 [T, K] and [T, N]: random bits of the right size
  const norm = s.norm ? { weight: filled(s.K), eps: 1e-5 } : undefined;
  const matrix = async () => {
    if (format === 'f16') return f16Matrix(filled(s.N * s.K));
    const f16 = filled(s.N * s.K);
    const m = await quantize(k, format, f16, s.N, s.K, s.name);
    f16.destroy();
    return m;
  };
  const weights = [];
  for (let i = 0; i < copies; i++) weights.push({ w: await matrix(), w2: s.swiglu ? await matrix() : undefined });
  const runs = Math.max(copies, Math.ceil(RUN_BYTES / wBytes));
  if (tokens) {
    rows.push({ shape: s.name, K: s.K, N: s.N, bytes: wBytes, byTokens: await timeTokens(s, weights, runs, copies) });
    for (const m of weights.flatMap((w) => [w.w, w.w2])) { m?.data.destroy(); m?.scales?.destroy(); }
    for (const b of [x, y, norm?.weight]) b?.destroy();
    continue;
  }
  const byCut = [];
  for (const cut of CUTS.filter((c) => matvecHolds({ T: sweepT, swiglu: s.swiglu, norm: s.norm }, c))) {
    const ops = [];
    for (let rep = 0; rep < runs; rep++) {
      const { w, w2 } = weights[rep % copies];
      ops.push(...matmul(k, { x, w, w2, y, T: sweepT, K: s.K, N: s.N, accumulate: s.accumulate, swiglu: s.swiglu, norm }, cut));
    }
    const per = (await gpuTimeMs(gpu, ops, 5)) / runs;
    byCut.push({ ...cut, ms: per, gbps: wBytes / per / 1e6 });
  }
  const def = matvecShape({ K: s.K, T: sweepT, swiglu: s.swiglu, w: { format } });
  const now = byCut.find((r) => r.rows === def.rows && r.wg === def.wg && r.unroll === def.unroll);
  const best = byCut.reduce((a, b) => (b.gbps > a.gbps ? b : a));
  rows.push({ shape: s.name, K: s.K, N: s.N, bytes: wBytes, default: now, best, cuts: byCut });
  for (const m of weights.flatMap((w) => [w.w, w.w2])) { m?.data.destroy(); m?.scales?.destroy(); }
  for (const b of [x, y, norm?.weight]) b?.destroy();
}
// ms of shape s's product of each T in tokens: as matmul() runs it, and as a batch product.
async function timeTokens(s, weights, runs, copies) {
  const out = [];
  const maxT = Math.max(...tokens);
  const x = filled(2 * s.K * maxT), y = filled(2 * s.N * maxT);
  gpu.device.queue.writeBuffer(x, 0, new Float32Array(s.K * maxT).map((_, i) => Math.sin(i) * 0.5)); // finite: random bits read as f32 may not be
  const halves = storage(gpu, batchHalvesBytes(s.K));
  const expandInto = format === 'f16' ? undefined : [0, 1].map(() => storage(gpu, s.N * s.K * 2));
  const norm = s.norm ? { weight: filled(s.K), eps: 1e-5 } : undefined;
  for (const T of tokens) {
    const time = async (product) => {
      const ops = [];
      for (let rep = 0; rep < runs; rep++) ops.push(...product(weights[rep % copies]));
      return (await gpuTimeMs(gpu, ops, 5)) / runs;
    };
    const args = ({ w, w2 }) => ({ x, w, w2, y, T, K: s.K, N: s.N, accumulate: s.accumulate, swiglu: s.swiglu, expandInto, halves });
    const fused = (m) => fusesNorm(gpu, { T, K: s.K, N: s.N, w: m.w }) ? norm : undefined; // else a separate rmsnorm, not timed here
    const row = { T, ms: await time((m) => matmul(k, { ...args(m), norm: fused(m) })) };
    const batchArgs = (m) => ({ ...args(m), norm: format === 'f16' ? norm : undefined });
    if (gpu.tensorCores && T <= 16) row.batchMs = await time((m) => batchMatmul(k, batchArgs(m)));
    out.push(row);
  }
  for (const b of [x, y, halves, norm?.weight, ...(expandInto ?? [])]) b?.destroy();
  return out;
}

const layers = c.num_hidden_layers;
if (tokens) {
  const perStep = (T, key) => rows.reduce((t, r) => t + (r.byTokens.find((b) => b.T === T)[key] ?? NaN) * (r.shape === 'lm_head' ? 1 : layers), 0);
  const steps = tokens.map((T) => ({ T, stepMs: perStep(T, 'ms'), batchStepMs: perStep(T, 'batchMs') }));
  const result = { probe: 'products', adapter: gpu.adapterName, preset, weights: format, steps, shapes: rows };
  if (json) process.stdout.write(JSON.stringify(result) + '\n');
  else for (const st of steps) console.log(`T = ${st.T}: products of one step ${st.stepMs.toFixed(2)} ms as run now, ${Number.isNaN(st.batchStepMs) ? 'no' : st.batchStepMs.toFixed(2) + ' ms as'} batch products (${gpu.adapterName})`);
  process.exit(0);
}
const stepMs = (pick) => rows.reduce((t, r) => t + pick(r).ms * (r.shape === 'lm_head' ? 1 : layers), 0);
const result = { probe: 'matvec', adapter: gpu.adapterName, preset, weights: format, T: sweepT, int8Dot: gpu.int8Dot, stepMsDefault: stepMs((r) => r.default), stepMsBest: stepMs((r) => r.best), shapes: rows };
if (json) process.stdout.write(JSON.stringify(result) + '\n');
else {
  const f = (r) => `${r.rows} rows x ${r.wg} threads x ${r.unroll} blocks: ${r.ms.toFixed(4)} ms, ${r.gbps.toFixed(0)} GB/s`;
  for (const r of rows) console.log(`${r.shape} (K ${r.K}, N ${r.N}): now ${f(r.default)}; best ${f(r.best)}`);
  console.log(`${format}${format !== 'f16' ? (gpu.int8Dot ? ' (int8 products)' : ' (f32 products)') : ''} matvecs of one step: ${result.stepMsDefault.toFixed(2)} ms now, ${result.stepMsBest.toFixed(2)} ms with the best cuts (${gpu.adapterName})`);
}
process.exit(0);
