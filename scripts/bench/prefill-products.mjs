// The tensor-core products of one layer's prefill chunk (wgsl/matmul_mma.wgsl): T tokens through the
// fused QKV, output, gate/up (SwiGLU) and down projections of a model shape with random f16 weights,
// TFLOP/s by GPU timestamps. Each variant (the kernel's defines joined by +; SG8 puts 128 tokens in a
// workgroup) is timed in turn, the empty one being the kernel as it ships; every variant's output is
// compared with the shipped one's (max |Δ| over max |y|).
//   node scripts/bench/prefill-products.mjs [--preset llama-3.1-8b] [--chunk 2048] [--variants ,A,A+B] [--reps 5] [--json]
import { createGpu } from '../../dist/gpu/device.js';
import { Kernels, ceilDiv, dispatchOf, record, storage, submit, uniform } from '../../dist/gpu/kernels.js';
import { fillUniform } from '../../dist/ops/dense.js';
import { PRESETS } from '../../dist/model/synth.js';
import { parseVariants, relativeDiff, timeAndRead } from './variants.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const json = args.includes('--json');
const T = Number(opt('--chunk', 2048));
const reps = Number(opt('--reps', 5));
const variants = parseVariants(opt('--variants', ''));
const c = PRESETS[opt('--preset', 'llama-3.1-8b')].config;
const H = c.hidden_size, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads, d = c.head_dim ?? H / Hq;
const products = [
  { name: 'wqkv', K: H, N: (Hq + 2 * Hkv) * d },
  { name: 'wo', K: Hq * d, N: H },
  { name: 'gate/up', K: H, N: c.intermediate_size, swiglu: true },
  { name: 'down', K: c.intermediate_size, N: H },
];

const gpu = await createGpu();
if (!gpu.tensorCores) throw new Error('prefill-products.mjs times the tensor-core kernel: this GPU has no tensor cores through Dawn');
const k = new Kernels(gpu);
let seed = 1;
const filled = (n, half) => {
  const b = storage(gpu, n * 2);
  submit(gpu, (pass) => record(pass, fillUniform(k, { out: b, n, center: 0, half, seed: seed++ })));
  return b;
};

const results = [];
for (const p of products) {
  const x = storage(gpu, T * p.K * 4);
  gpu.device.queue.writeBuffer(x, 0, new Float32Array(T * p.K).map((_, i) => Math.sin(i) * 0.5));
  const w = filled(p.N * p.K, 1 / Math.sqrt(p.K));
  const w2 = p.swiglu ? filled(p.N * p.K, 1 / Math.sqrt(p.K)) : undefined;
  const y = storage(gpu, T * p.N * 4);
  const params = uniform(gpu, [T, p.K, p.N, 0, p.N]);
  const defines = p.swiglu ? ['SWIGLU', 'EXTRA'] : [];
  const bindings = [x, w, ...(w2 ? [w2] : []), y, params];
  const flop = 2 * T * p.N * p.K * (p.swiglu ? 2 : 1);
  let shipped;
  for (const v of variants) {
    const kernel = k.get('matmul_mma', { defines: ['MMA', ...defines, ...v.defines] });
    const tokens = v.defines.includes('SG8') ? 128 : 64;
    const rows = p.swiglu ? 64 : 128;
    const op = dispatchOf(kernel, bindings, [ceilDiv(p.N, rows), ceilDiv(T, tokens)]);
    const { ms, got, error } = await timeAndRead(gpu, op, y, reps);
    if (error) {
      results.push({ product: p.name, variant: v.name, error });
      if (!json) console.log(`${p.name}, ${v.name}: ${error}`);
      continue;
    }
    shipped ??= got;
    const r = { product: p.name, T, K: p.K, N: p.N, variant: v.name, ms, tflops: flop / ms / 1e9, relDiff: relativeDiff(got, shipped) };
    results.push(r);
    if (!json) console.log(`${p.name} (${T} x ${p.K} -> ${p.N}${p.swiglu ? ' x2' : ''}), ${v.name}: ${ms.toFixed(3)} ms, ${r.tflops.toFixed(1)} TFLOP/s, Δ ${r.relDiff.toExponential(1)} of max |y|`);
  }
  for (const b of [x, w, w2, y, params]) b?.destroy();
}
if (!json) {
  for (const v of variants) {
    const rs = results.filter((r) => r.variant === v.name && r.ms !== undefined);
    if (rs.length === products.length) console.log(`${v.name}: the four products ${rs.reduce((s, r) => s + r.ms, 0).toFixed(2)} ms a layer-chunk`);
  }
}
if (json) process.stdout.write(JSON.stringify({ probe: 'prefill-products', adapter: gpu.adapterName, results }) + '\n');
process.exit(0);
