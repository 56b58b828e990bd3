// CSA's offline table build of one layer at a model shape, kernel by kernel (GPU timestamps), over
// random queries and keys: where prefill's "tables" seconds go (issue: prefill and table build).
// One build first compiles the kernels; then `--reps` timed builds, each dispatch in its own pass.
//   node scripts/bench/table-build.mjs [--preset llama-3.1-8b] [--contexts 32768,131072] [--subspaces 16] [--reps 1] [--json]
// Times are per layer: a prefill builds `layers` of them.
import { createGpu } from '../../dist/gpu/device.js';
import { Kernels, record, storage, submit, upload } from '../../dist/gpu/kernels.js';
import { profileOps } from '../../dist/gpu/profile.js';
import { fillUniform } from '../../dist/ops/dense.js';
import { PRESETS } from '../../dist/model/synth.js';
import { parseConfig, ropeInvFreq } from '../../dist/model/config.js';
import { buildScratch, tableBuild } from '../../dist/attention/csa/build.js';
import { DEFAULT_CSA, destroyTables } from '../../dist/attention/csa/tables.js';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const preset = opt('--preset', 'llama-3.1-8b');
const contexts = opt('--contexts', '32768,131072').split(',').map(Number);
const reps = Number(opt('--reps', 1));
const params = { ...DEFAULT_CSA, subspaces: Number(opt('--subspaces', DEFAULT_CSA.subspaces)) };
const cfg = parseConfig(PRESETS[preset].config);
const { heads: Hq, kvHeads: Hkv, headDim: d, layers } = cfg;

const gpu = await createGpu();
const k = new Kernels(gpu);
// Random bits: f16 values in [-1, 1] (as f32 queries, pairs of them: finite, of varied sizes).
const random = (bytes, seed) => {
  const b = storage(gpu, bytes);
  submit(gpu, (pass) => record(pass, fillUniform(k, { out: b, n: bytes / 2, center: 0, half: 1, seed })));
  return b;
};
const out = [];
for (const N of contexts) {
  const queries = random(N * Hq * d * 4, 1), kCache = random(Hkv * N * d * 2, 2);
  const a = { queries, kCache, N, Hq, Hkv, d, capacity: N, invFreq: upload(gpu, ropeInvFreq(cfg)), params };
  const scratch = await buildScratch(gpu, a); // as a prefill's layers share it
  const build = await tableBuild(k, { ...a, scratch });
  const t0 = performance.now();
  for (const ds of build.stages) submit(gpu, (pass) => record(pass, ds));
  await gpu.device.queue.onSubmittedWorkDone();
  const wallMs = performance.now() - t0; // the first build: compiles every kernel
  const t1 = performance.now();
  for (const ds of build.stages) submit(gpu, (pass) => record(pass, ds));
  await gpu.device.queue.onSubmittedWorkDone();
  const layerMs = performance.now() - t1;
  // A second layer as a prefill builds it: new tables and dispatches (setupMs), then its first run
  // (freshRunMs: new buffers are cleared on first use).
  const t2 = performance.now();
  const fresh = await tableBuild(k, { ...a, scratch });
  const setupMs = performance.now() - t2;
  for (const ds of fresh.stages) submit(gpu, (pass) => record(pass, ds));
  await gpu.device.queue.onSubmittedWorkDone();
  const freshRunMs = performance.now() - t2 - setupMs;
  fresh.release();
  destroyTables(gpu, fresh.tables);
  const kernels = await profileOps(gpu, build.stages.flat(), reps);
  build.release();
  scratch.release();
  destroyTables(gpu, build.tables);
  queries.destroy(); kCache.destroy();
  const row = { probe: 'table-build', preset, context: N, layers, layerMs, firstLayerMs: wallMs, setupMs, freshRunMs, kernels };
  out.push(row);
  if (args.includes('--json')) console.log(JSON.stringify(row));
  else console.log(`${preset} ${N}: a layer's tables in ${layerMs.toFixed(1)} ms (x${layers} layers = ${(layerMs * layers / 1e3).toFixed(1)} s; first ${wallMs.toFixed(0)} ms; a new layer's setup ${setupMs.toFixed(1)} + run ${freshRunMs.toFixed(1)} ms): ` +
    kernels.map((t) => `${t.kernel} ${t.ms.toFixed(2)} ms (${Math.round(t.calls)}x)`).join(', '));
}
