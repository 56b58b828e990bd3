// The CPU's share of a decode step: what Dawn (through the webgpu package) costs to encode and
// submit a pass of trivial dispatches, each with its own bind group (three bindings, as the step's
// kernels have three to eight), cycling over four pipelines, and each call alone. A CSA step at
// 128K has about 400 dispatches; `csattn bench` reports its recording and submission
// (submitMsPerStep): 4.1-4.8 ms on an H100 (2026-12-05), against its GPU time of 9.3 ms.
//   node scripts/bench/encode.mjs [--dispatches 400]   (after the build)
import { createGpu } from '../../dist/gpu/device.js';

const args = process.argv.slice(2);
const N = Number(args.includes('--dispatches') ? args[args.indexOf('--dispatches') + 1] : 400);
const { device: dev, adapterName } = await createGpu();
const module = dev.createShaderModule({ code: `
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<uniform> n: vec4<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < n.x) { a[g.x] += b[g.x]; } }` });
const pipelines = [0, 1, 2, 3].map(() => dev.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } }));
const buffer = (size, usage) => dev.createBuffer({ size, usage });
const groups = pipelines.map((p) => Array.from({ length: 100 }, () => dev.createBindGroup({
  layout: p.getBindGroupLayout(0),
  entries: [
    { binding: 0, resource: { buffer: buffer(4096, GPUBufferUsage.STORAGE) } },
    { binding: 1, resource: { buffer: buffer(4096, GPUBufferUsage.STORAGE) } },
    { binding: 2, resource: { buffer: buffer(16, GPUBufferUsage.UNIFORM) } },
  ],
})));

/** A pass of N dispatches; `pipelineOnChange`: setPipeline only where the pipeline changes. */
function encode(pipelineOf, pipelineOnChange = false) {
  const enc = dev.createCommandEncoder();
  const pass = enc.beginComputePass();
  let last = -1;
  for (let i = 0; i < N; i++) {
    const p = pipelineOf(i);
    if (!pipelineOnChange || p !== last) pass.setPipeline(pipelines[p]);
    last = p;
    pass.setBindGroup(0, groups[p][i % 100]);
    pass.dispatchWorkgroups(1);
  }
  pass.end();
  return enc.finish();
}

const meanMs = (reps, f) => {
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) f();
  return (performance.now() - t0) / reps;
};
console.log(`${adapterName}, ${N} dispatches a pass`);
for (const [name, pipelineOf, onChange] of [['four pipelines in turn', (i) => i % 4], ['one pipeline', () => 0], ['one pipeline, set once', () => 0, true]]) {
  meanMs(5, () => encode(pipelineOf, onChange)); // warm-up
  const ms = meanMs(20, () => encode(pipelineOf, onChange));
  console.log(`encode, ${name}: ${ms.toFixed(3)} ms (${((1000 * ms) / N).toFixed(2)} us a dispatch)`);
}
const enc = dev.createCommandEncoder();
const pass = enc.beginComputePass();
pass.setPipeline(pipelines[0]);
pass.setBindGroup(0, groups[0][0]);
// One pipeline and its bind groups, so that every dispatch stays valid.
const calls = { setPipeline: () => pass.setPipeline(pipelines[0]), setBindGroup: (i) => pass.setBindGroup(0, groups[0][i % 100]), dispatchWorkgroups: () => pass.dispatchWorkgroups(1) };
for (const [name, call] of Object.entries(calls)) {
  let i = 0;
  console.log(`${name} alone: ${((1000 * meanMs(20000, () => call(i++)))).toFixed(2)} us`);
}
pass.end();
enc.finish();
const submits = [];
for (let r = 0; r < 8; r++) {
  const cb = encode((i) => i % 4);
  const t0 = performance.now();
  dev.queue.submit([cb]);
  submits.push(performance.now() - t0);
  await dev.queue.onSubmittedWorkDone();
}
console.log(`submit: ${Math.min(...submits.slice(2)).toFixed(3)}-${Math.max(...submits.slice(2)).toFixed(3)} ms (the first two left out)`);
process.exit(0);
