// What Dawn can read on this GPU: a grid-stride read of one large storage buffer (2 GB where one
// binding allows it), vec4<u32> loads, U of them in flight per thread, over several grid sizes.
// The best variant is the ceiling the decode kernels' GB/s are set against in the bench report.
//   node scripts/bench/read-bandwidth.mjs [--mb N] [--json]   (after the build)
// H200 (Dawn/Vulkan, 2026-12-03, measured before this script by hand): 4.3-4.6 TB/s.
import { createGpu } from '../../dist/gpu/device.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const mb = args.includes('--mb') ? Number(args[args.indexOf('--mb') + 1]) : 2048;
const gpu = await createGpu();
const dev = gpu.device;
const bytes = Math.floor(Math.min(mb * 2 ** 20, gpu.maxBinding, 2 ** 31 - 16) / 16) * 16;

const kernel = (U) => `
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let stride = nw.x * 256u;
  let n = arrayLength(&src);
  var acc = vec4<u32>(0u);
  var i = g.x;
  while (i + ${U - 1}u * stride < n) {
    ${Array.from({ length: U }, (_, k) => `let a${k} = src[i + ${k}u * stride];`).join(' ')}
    acc ^= ${Array.from({ length: U }, (_, k) => `a${k}`).join(' ^ ')};
    i += ${U}u * stride;
  }
  for (; i < n; i += stride) { acc ^= src[i]; }
  // Never true for the zeros read here, but the compiler cannot know: the loads stay.
  if (all(acc == vec4<u32>(0x9e3779b9u))) { out[g.x % arrayLength(&out)] = 1u; }
}`;

const src = dev.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
const out = dev.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE });
const reps = 20;
const rows = [];
for (const U of [1, 4, 8]) {
  const module = dev.createShaderModule({ code: kernel(U) });
  const pipe = dev.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bg = dev.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: out } }] });
  for (const wgs of [132 * 4, 132 * 8, 132 * 16, 132 * 32]) {
    const run = async (n) => {
      const t0 = performance.now();
      const e = dev.createCommandEncoder();
      const p = e.beginComputePass();
      p.setPipeline(pipe);
      p.setBindGroup(0, bg);
      for (let r = 0; r < n; r++) p.dispatchWorkgroups(wgs);
      p.end();
      dev.queue.submit([e.finish()]);
      await dev.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    await run(2);
    const ms = Math.min(await run(reps), await run(reps)) / reps;
    rows.push({ loadsInFlight: U, workgroups: wgs, ms, gbps: bytes / ms / 1e6 });
  }
}
const best = rows.reduce((a, b) => (b.gbps > a.gbps ? b : a));
const result = { probe: 'read-bandwidth', adapter: gpu.adapterName, bytes, best, variants: rows };
if (json) process.stdout.write(JSON.stringify(result) + '\n');
else {
  for (const r of rows) console.log(`${r.loadsInFlight} loads in flight, ${r.workgroups} workgroups of 256: ${r.ms.toFixed(3)} ms, ${r.gbps.toFixed(0)} GB/s`);
  console.log(`best: ${best.gbps.toFixed(0)} GB/s over ${(bytes / 1e9).toFixed(2)} GB (${gpu.adapterName})`);
}
process.exit(0);
