// The tensor-core prefill attention (wgsl/attention_prefill_mma.wgsl) of one layer over a late
// chunk: T queries at positions N - T .. N - 1 of a context of N keys, Llama-3.1-8B heads, f16 K/V,
// TFLOP/s of causal attention (4·d FLOP a visible (query, key) pair and head) by GPU timestamps.
// Each variant (the kernel's defines and override constants, NAME=value, joined by +; the empty one
// is the kernel as it ships; a variant's SG and RB size its grid) is checked
// against a CPU reference on sample rows, then all are timed in alternating rounds.
// With --batch B, the same kernel's BATCH form too: the context part of B sequences' decode step
// (attentionDecodeBatch's tensor-core path, its reduce and own rows included) at each count of
// context splits per KV head in --splits (the first, 0, is the count it takes on its own).
//   node scripts/bench/prefill-attention.mjs [--contexts 32768,131072] [--chunk 2048] [--variants ,A,A+B,SG=8] [--reps 7]
//     [--batch 16 --splits 0,132,264] [--json]
import { collecting, createGpu, release } from '../../dist/gpu/device.js';
import { Kernels, ceilDiv, dispatchOf, storage, uniform, upload } from '../../dist/gpu/kernels.js';
import { gpuTimeMs } from '../../dist/gpu/profile.js';
import { CACHE_PAD, MMA_CUT, attentionDecodeBatch } from '../../dist/ops/attention.js';
import { PRESETS } from '../../dist/model/synth.js';
import { mulberry32 } from '../../dist/random.js';
import { f16ToF32, f32ToF16 } from '../../dist/weights/f16.js';
import { parseVariants, timeAndRead, timeInRounds } from './variants.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const json = args.includes('--json');
const contexts = opt('--contexts', '32768,131072').split(',').map(Number);
const T = Number(opt('--chunk', 2048));
const reps = Number(opt('--reps', 7)); // rounds (and the batch form's timed runs)
const B = Number(opt('--batch', 0));
const splitCounts = opt('--splits', '0').split(',').map(Number);
const variants = parseVariants(opt('--variants', ''));
const c = PRESETS[opt('--preset', 'llama-3.1-8b')].config;
const Hq = c.num_attention_heads, Hkv = c.num_key_value_heads, d = c.head_dim ?? c.hidden_size / Hq;
const G = Hq / Hkv;
const HPW = Math.min(G, 4);
const scale = 1 / Math.sqrt(d);
const SAMPLE_ROWS = [0, Math.floor(0.38 * T), T - 1]; // queries checked against the CPU, every head

const gpu = await createGpu();
if (!gpu.tensorCores) throw new Error('prefill-attention.mjs times the tensor-core kernel: this GPU has no tensor cores through Dawn');
const k = new Kernels(gpu);
const rand = mulberry32(11);
const randomHalves = (n) => f32ToF16(Float32Array.from({ length: n }, () => 2 * rand() - 1));

const results = [];
for (const N of contexts) {
  const pos = N - T;
  const rows = Hkv * N + CACHE_PAD;
  const kh = randomHalves(rows * d), vh = randomHalves(rows * d);
  const kf = f16ToF32(kh), vf = f16ToF32(vh);
  const qf = Float32Array.from({ length: T * Hq * d }, () => 2 * rand() - 1);
  const kc = upload(gpu, kh), vc = upload(gpu, vh), q = upload(gpu, qf);
  const out = storage(gpu, T * Hq * d * 4);
  const step = uniform(gpu, [pos]);
  const params = uniform(gpu, [T, Hq, Hkv, N, { f32: scale * Math.LOG2E }, 0, 0, 0, 0]);
  const want = SAMPLE_ROWS.flatMap((t) => Array.from({ length: Hq }, (_, h) => ({ t, h, o: reference(qf, kf, vf, t, h, pos, N) })));
  // Visible (query, key) pairs: query t sees keys 0 .. pos + t.
  const flop = 4 * d * Hq * (T * (pos + 1) + (T * (T - 1)) / 2);
  // Each variant compiled, run and checked in turn, then all timed in rounds.
  const cuts = [];
  for (const v of variants) {
    const cut = { name: v.name };
    try {
      const constants = { HPW, D: d, ...MMA_CUT, ...v.constants };
      const kernel = k.get('attention_prefill_mma', { defines: ['MMA', ...v.defines], constants });
      const rows = 16 * constants.RB * constants.SG; // the workgroup's ROWS
      cut.op = dispatchOf(kernel, [q, kc, vc, out, step, params], [ceilDiv(T, Math.floor(rows / HPW)), Hq / HPW]);
      const { got, error } = await timeAndRead(gpu, cut.op, out, 1);
      if (error) cut.error = error;
      else cut.maxErr = Math.max(...want.map((w) => Math.max(...w.o.map((o, i) => Math.abs(got[(w.t * Hq + w.h) * d + i] - o)))));
    } catch (e) {
      cut.error = String(e.message ?? e).split('\n')[0];
    }
    cuts.push(cut);
  }
  await timeInRounds(gpu, cuts, reps);
  for (const cut of cuts) {
    if (cut.error) {
      results.push({ context: N, chunk: T, variant: cut.name, error: cut.error });
      if (!json) console.log(`${N} keys, ${cut.name}: ${cut.error}`);
      continue;
    }
    const r = { context: N, chunk: T, variant: cut.name, ms: cut.ms, tflops: flop / cut.ms / 1e9, maxErr: cut.maxErr };
    results.push(r);
    if (!json) console.log(`${N} keys, chunk ${T}, ${r.variant}: ${r.ms.toFixed(2)} ms, ${r.tflops.toFixed(1)} TFLOP/s, max |err| ${r.maxErr.toExponential(2)} (x${c.num_hidden_layers} layers: ${(r.ms * c.num_hidden_layers).toFixed(0)} ms)`);
  }
  if (B) await batchContext(N, kc, vc);
  for (const b of [kc, vc, q, out, step, params]) b.destroy();
}
if (json) process.stdout.write(JSON.stringify({ probe: 'prefill-attention', adapter: gpu.adapterName, results }) + '\n');
process.exit(0);

/** The decode step's attention of B sequences over a shared context of N - (B + 1)·16 keys, by splits. */
async function batchContext(N, kCache, vCache) {
  const room = 16;
  const ctx = N - (B + 1) * room;
  const q = upload(gpu, Float32Array.from({ length: B * Hq * d }, () => 2 * rand() - 1));
  const out = storage(gpu, B * Hq * d * 4);
  const positions = upload(gpu, Uint32Array.from({ length: B }, () => ctx + 1));
  const flop = 4 * d * B * Hq * ctx;
  for (const splits of splitCounts) {
    // Its partials and params go with it: each split count has its own.
    const made = [];
    const ops = collecting(gpu, made, () => attentionDecodeBatch(k, { q, kCache, vCache, out, Hq, Hkv, d, capacity: N, scale, B, rows: { ctx, room }, positions }, splits || undefined));
    await gpuTimeMs(gpu, ops, 2);
    const ms = await gpuTimeMs(gpu, ops, reps);
    for (const b of made) release(gpu, b);
    const r = { context: N, batch: B, splits: splits || 'default', ms, tflops: flop / ms / 1e9 };
    results.push(r);
    if (!json) console.log(`${N} keys, batch ${B}, ${r.splits} splits: ${(ms * 1e3).toFixed(0)} µs, ${r.tflops.toFixed(1)} TFLOP/s (x${c.num_hidden_layers} layers: ${(ms * c.num_hidden_layers).toFixed(2)} ms)`);
  }
  for (const b of [q, out, positions]) b.destroy();
}

/** Causal softmax attention of query t, head h, in f64 over f16-valued K/V. */
function reference(qf, kf, vf, t, h, pos, N) {
  const kvh = Math.floor(h / G);
  const qv = qf.subarray((t * Hq + h) * d, (t * Hq + h + 1) * d);
  const n = pos + t + 1;
  const s = new Float64Array(n);
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const at = (kvh * N + j) * d;
    let x = 0;
    for (let i = 0; i < d; i++) x += qv[i] * kf[at + i];
    s[j] = x * scale;
    m = Math.max(m, s[j]);
  }
  const o = new Float64Array(d);
  let l = 0;
  for (let j = 0; j < n; j++) {
    const p = Math.exp(s[j] - m);
    l += p;
    const at = (kvh * N + j) * d;
    for (let i = 0; i < d; i++) o[i] += p * vf[at + i];
  }
  return o.map((x) => x / l);
}
