// Times creating the pipelines spy.mjs recorded: one after another (sync) or all at once (async), e.g.
//   MESA_SHADER_CACHE_DISABLE=true node docs/results/s31/compile-par.mjs sync /tmp/specs-prefill.json
import { createGpu } from '../../../dist/gpu/device.js';
import { kernelSource } from '../../../dist/gpu/kernels.js';
import { readFileSync } from 'node:fs';
const gpu = await createGpu({});
const dev = gpu.device;
const mode = process.argv[2];
const specs = JSON.parse(readFileSync(process.argv[3] ?? '/tmp/specs-prefill.json', 'utf8'));
const descs = specs.map(({ name, opts }) => {
  const d = new Set(opts.defines ?? []); if (gpu.f16) d.add('F16'); if (gpu.subgroups) d.add('SUBGROUPS');
  return { layout: 'auto', compute: { module: dev.createShaderModule({ code: kernelSource(name, d) }), entryPoint: 'main', constants: opts.constants } };
});
const t0 = performance.now();
if (mode === 'sync') { for (const d of descs) dev.createComputePipeline(d); }
else await Promise.all(descs.map((d) => dev.createComputePipelineAsync(d)));
console.log(mode, specs.length, 'pipelines', (performance.now() - t0).toFixed(0), 'ms');
process.exit(0);
