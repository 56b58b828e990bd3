// Decode attention's cut (heads and threads per workgroup, keys per tile or the streamed kernel's lanes
// and keys a step, splits of the keys)
// swept over one layer of a model shape at long contexts, dense and over sparse lists as CSA's
// (one list a KV head, 5% of the keys, scattered), GB/s of K/V rows read by GPU timestamps.
// Caches and lists are cycled over copies that together exceed the L2 cache, as in a decode step,
// and hold random values; a warm-up run first brings the GPU's clocks up.
//   node scripts/bench/attention.mjs [--preset llama-3.1-8b] [--contexts 32768,131072] [--run-mb 2000] [--cycle-mb 256] [--variants ,A] [--json]
// With --variants ",A,A+B" each variant (defines of attention_decode.wgsl) is timed at the default cut
// instead of the sweep, its output checked against the first variant's (max |Δ| over max |out|).
// Its figures rank cuts for src/ops/attention.ts:decodeCut and sequenceCut; an A/B of the whole step
// (csattn bench) decides (docs/perf-notes.md).
import { createGpu, release } from '../../dist/gpu/device.js';
import { Kernels, readBuffer, record, storage, submit, uniform, upload } from '../../dist/gpu/kernels.js';
import { gpuTimeMs } from '../../dist/gpu/profile.js';
import { attentionDecode, decodeCut, sequenceCut } from '../../dist/ops/attention.js';
import { fillUniform } from '../../dist/ops/dense.js';
import { PRESETS } from '../../dist/model/synth.js';
import { mulberry32 } from '../../dist/random.js';
import { compareVariants, parseVariants } from './variants.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const json = args.includes('--json');
const preset = opt('--preset', 'llama-3.1-8b');
const contexts = opt('--contexts', '32768,131072').split(',').map(Number);
const c = PRESETS[preset].config;
const Hq = c.num_attention_heads, Hkv = c.num_key_value_heads, d = c.head_dim ?? c.hidden_size / Hq;
const KEEP = 0.05;
const L2_BYTES = Number(opt('--cycle-mb', 256)) * 2 ** 20; // well past the H200's 60 MB L2
const RUN_BYTES = Number(opt('--run-mb', 2000)) * 1e6;
const variants = args.includes('--variants') ? parseVariants(opt('--variants', '')) : null;

const gpu = await createGpu();
const k = new Kernels(gpu);
const rand = mulberry32(7);
let seed = 1;
const filled = (n) => {
  const b = storage(gpu, n * 2);
  submit(gpu, (pass) => record(pass, fillUniform(k, { out: b, n, center: 0, half: 1, seed: seed++ })));
  return b;
};
/** Hkv sorted lists of kmax distinct positions < n, one in each stride of n / kmax. */
const lists = (n, kmax) => {
  const sel = new Uint32Array(Hkv * kmax);
  const stride = n / kmax;
  for (let h = 0; h < Hkv; h++) for (let j = 0; j < kmax; j++) sel[h * kmax + j] = Math.floor(j * stride + rand() * stride);
  return upload(gpu, sel);
};

function cuts(sparse, kmax, n) {
  const out = [];
  for (const wg of [128, 256]) for (const tk of [16, 32, 64]) {
    if (sparse) for (const keys of [64, 128, 256, 512]) out.push({ hpw: 4, wg, tk, splits: Math.min(Math.ceil(kmax / keys), 1024) });
    else if (tk >= 32) for (const splits of [16, 33, 49, 66, 99, 132, 264]) if (n / splits >= 64) out.push({ hpw: 4, wg, tk, splits });
  }
  // attention_decode_stream: lanes a key (up to the subgroup), keys a step of a lane group, pipelined or not.
  for (const wg of [64, 128, 256]) for (const lanes of [8, 16]) for (const keys of [1, 2, 4]) for (const defines of [[], ['PIPE']]) {
    const splitsOf = sparse ? [64, 128, 256, 512].map((per) => Math.min(Math.ceil(kmax / per), 1024)) : [49, 99, 132, 198];
    for (const splits of splitsOf) if (lanes <= gpu.subgroupSize) out.push({ hpw: 4, wg, splits, stream: { lanes, keys }, defines });
  }
  return out.filter((x) => x.stream || x.hpw * 16 <= x.wg);
}

const results = [];
for (const n of contexts) {
  const layerBytes = 2 * Hkv * n * d * 2;
  const copies = Math.max(1, Math.ceil(L2_BYTES / layerBytes));
  const caches = Array.from({ length: copies }, () => ({ k: filled(Hkv * n * d), v: filled(Hkv * n * d) }));
  const q = upload(gpu, Float32Array.from({ length: Hq * d }, () => rand() - 0.5));
  const out = storage(gpu, Hq * d * 4);
  const step = uniform(gpu, [n - 1]);
  const kmax = Math.ceil(KEEP * n);
  const selCopies = Math.max(copies, Math.ceil(L2_BYTES / (Hkv * kmax * 2 * d * 2)));
  const sels = Array.from({ length: selCopies }, () => lists(n, kmax));
  const counts = upload(gpu, new Uint32Array(Hkv).fill(kmax));
  for (const sparse of [false, true]) {
    const readBytes = sparse ? Hkv * kmax * 2 * d * 2 : layerBytes;
    const runs = Math.max(copies, sels.length, Math.ceil(RUN_BYTES / readBytes));
    const ops = (cut) => {
      const list = [];
      for (let r = 0; r < runs; r++) {
        const cache = caches[r % copies];
        const sp = sparse ? { sel: sels[r % sels.length], counts, kmax, perQueryHead: false } : undefined;
        list.push(...attentionDecode(k, { q, kCache: cache.k, vCache: cache.v, out, step, Hq, Hkv, d, capacity: n, scale: 1 / Math.sqrt(d), sparse: sp }, cut));
      }
      return list;
    };
    // The variants are attention_decode.wgsl's: timed at the tiled kernel's cut; the sweep starts from the step's own.
    const shape = { Hq, Hkv, d, capacity: n, sparse: sparse ? { kmax, perQueryHead: false } : undefined };
    const def = variants ? decodeCut(shape) : sequenceCut(k, shape);
    await gpuTimeMs(gpu, ops(def), 9); // warm-up: clocks
    if (variants) {
      if (!json) console.log(`${n} keys ${sparse ? `sparse (${kmax} a list)` : 'dense'}, the default cut:`);
      results.push({ context: n, sparse, kmax: sparse ? kmax : undefined, bytes: readBytes, variants: await timeVariants(def, ops, runs, readBytes, out) });
      continue;
    }
    const byCut = [];
    for (const cut of [def, ...cuts(sparse, kmax, n)]) {
      const ms = (await gpuTimeMs(gpu, ops(cut), 5)) / runs;
      byCut.push({ ...cut, ms, gbps: readBytes / ms / 1e6 });
    }
    const best = byCut.reduce((a, b) => (b.gbps > a.gbps ? b : a));
    results.push({ context: n, sparse, kmax: sparse ? kmax : undefined, bytes: readBytes, default: byCut[0], best, cuts: byCut.slice(1) });
    const f = (r) => `hpw ${r.hpw}, ${r.wg} threads, ${r.stream ? `streamed (${r.stream.lanes} lanes, ${r.stream.keys} keys)` : `${r.tk ?? 'max'} keys a tile`}, ${r.splits} splits: ${(r.ms * 1e3).toFixed(1)} µs, ${r.gbps.toFixed(0)} GB/s`;
    if (!json) console.log(`${n} keys ${sparse ? `sparse (${kmax} a list)` : 'dense'}: now ${f(byCut[0])}; best ${f(best)}; x${c.num_hidden_layers} layers: ${(byCut[0].ms * c.num_hidden_layers).toFixed(2)} ms now, ${(best.ms * c.num_hidden_layers).toFixed(2)} best`);
  }
  for (const b of [...caches.flatMap((x) => [x.k, x.v]), ...sels, q, out, step, counts]) release(gpu, b);
}
// Each variant's time at the default cut, and its output after one run against the first variant's.
async function timeVariants(def, ops, runs, readBytes, out) {
  const rows = await compareVariants(gpu, variants, async (v) => {
    const ms = (await gpuTimeMs(gpu, ops({ ...def, defines: v.defines }), 5)) / runs;
    return { ms, gbps: readBytes / ms / 1e6, got: new Float32Array(await readBuffer(gpu, out)) }; // the last run's
  });
  if (!json) for (const r of rows) console.log(`  ${r.variant}: ${r.error ?? `${(r.ms * 1e3).toFixed(1)} µs, ${r.gbps.toFixed(0)} GB/s, x${c.num_hidden_layers} layers ${(r.ms * c.num_hidden_layers).toFixed(2)} ms (err ${r.err.toExponential(1)})`}`);
  return rows;
}
if (json) process.stdout.write(JSON.stringify({ probe: 'attention', adapter: gpu.adapterName, preset, layers: c.num_hidden_layers, results }) + '\n');
process.exit(0);
