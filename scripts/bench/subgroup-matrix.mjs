// Subgroup-matrix (tensor core) microbenchmark: the same 8 MMAs per step with their operands from
// registers, from workgroup memory (named accumulators), from a storage buffer, and from workgroup
// memory with the accumulators in an array indexed in a loop. TFLOP/s per variant.
//   node scripts/bench/subgroup-matrix.mjs [--json]   (after the build; on a device with tensor cores)
// H100 (Dawn/Vulkan, 2026-11-23): 510, 231, 62, 26 TFLOP/s.
import { createGpu } from '../../dist/gpu/device.js';
const gpu = await createGpu();
if (!gpu.tensorCores) { console.error('subgroup-matrix: this adapter has no tensor cores (subgroup matrices f16 -> f32 at 16x16x16)'); process.exit(1); }
const dev = gpu.device;
const ITERS = 512, WGS = 528;
const head = `enable f16; enable subgroups; enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);
alias L = subgroup_matrix_left<f16, 16, 16>; alias R = subgroup_matrix_right<f16, 16, 16>; alias A = subgroup_matrix_result<f32, 16, 16>;
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f16>;
var<workgroup> sh: array<f16, 8192>;
const ITERS = ${ITERS}u;
`;
const init = `for (var i = lid; i < 8192u; i += 128u) { sh[i] = src[i]; } workgroupBarrier();`;
const main = (body) => `${head}
@compute @workgroup_size(128) fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32, @builtin(workgroup_id) wg: vec3<u32>) {
${init}
${body}
}`;
const named = (loads, store = true) => `var c0 = A(); var c1 = A(); var c2 = A(); var c3 = A(); var c4 = A(); var c5 = A(); var c6 = A(); var c7 = A();
let a0p = subgroupMatrixLoad<L, row_major>(&sh, sg * 512u, 32u); let a1p = subgroupMatrixLoad<L, row_major>(&sh, sg * 512u + 16u, 32u);
let b0p = subgroupMatrixLoad<R, col_major>(&sh, 2048u, 32u); let b1p = subgroupMatrixLoad<R, col_major>(&sh, 2560u, 32u); let b2p = subgroupMatrixLoad<R, col_major>(&sh, 3072u, 32u); let b3p = subgroupMatrixLoad<R, col_major>(&sh, 3584u, 32u);
for (var it = 0u; it < ITERS; it++) {
  ${loads}
  c0 = subgroupMatrixMultiplyAccumulate(a0, b0, c0); c1 = subgroupMatrixMultiplyAccumulate(a0, b1, c1);
  c2 = subgroupMatrixMultiplyAccumulate(a0, b2, c2); c3 = subgroupMatrixMultiplyAccumulate(a0, b3, c3);
  c4 = subgroupMatrixMultiplyAccumulate(a1, b0, c4); c5 = subgroupMatrixMultiplyAccumulate(a1, b1, c5);
  c6 = subgroupMatrixMultiplyAccumulate(a1, b2, c6); c7 = subgroupMatrixMultiplyAccumulate(a1, b3, c7);
}
let o = (wg.x * 4u + sg) * 2048u;
subgroupMatrixStore<row_major>(&out, o, c0, 16u); subgroupMatrixStore<row_major>(&out, o + 256u, c1, 16u); subgroupMatrixStore<row_major>(&out, o + 512u, c2, 16u); subgroupMatrixStore<row_major>(&out, o + 768u, c3, 16u);
subgroupMatrixStore<row_major>(&out, o + 1024u, c4, 16u); subgroupMatrixStore<row_major>(&out, o + 1280u, c5, 16u); subgroupMatrixStore<row_major>(&out, o + 1536u, c6, 16u); subgroupMatrixStore<row_major>(&out, o + 1792u, c7, 16u);`;
const regsLoads = `let a0 = a0p; let a1 = a1p; let b0 = b0p; let b1 = b1p; let b2 = b2p; let b3 = b3p;`;
const shLoads = `let k = (it % 2u) * 16u;
  let a0 = subgroupMatrixLoad<L, row_major>(&sh, sg * 512u + k, 32u); let a1 = subgroupMatrixLoad<L, row_major>(&sh, sg * 512u + 256u + k, 32u);
  let b0 = subgroupMatrixLoad<R, col_major>(&sh, 2048u + k, 32u); let b1 = subgroupMatrixLoad<R, col_major>(&sh, 2560u + k, 32u); let b2 = subgroupMatrixLoad<R, col_major>(&sh, 3072u + k, 32u); let b3 = subgroupMatrixLoad<R, col_major>(&sh, 3584u + k, 32u);`;
const glLoads = `let k = ((it * 16u) % 4096u) + wg.x * 64u * 4096u;
  let a0 = subgroupMatrixLoad<L, row_major>(&sh, sg * 512u + (it % 2u) * 16u, 32u); let a1 = subgroupMatrixLoad<L, row_major>(&sh, sg * 512u + 256u + (it % 2u) * 16u, 32u);
  let b0 = subgroupMatrixLoad<R, col_major>(&src, k, 4096u); let b1 = subgroupMatrixLoad<R, col_major>(&src, k + 16u * 4096u, 4096u); let b2 = subgroupMatrixLoad<R, col_major>(&src, k + 32u * 4096u, 4096u); let b3 = subgroupMatrixLoad<R, col_major>(&src, k + 48u * 4096u, 4096u);`;
const arr = `var c: array<A, 8>;
let a0p = subgroupMatrixLoad<L, row_major>(&sh, sg * 512u, 32u); let a1p = subgroupMatrixLoad<L, row_major>(&sh, sg * 512u + 16u, 32u);
for (var it = 0u; it < ITERS; it++) {
  ${shLoads}
  for (var j = 0u; j < 4u; j++) {
    let b = subgroupMatrixLoad<R, col_major>(&sh, 2048u + 512u * j + (it % 2u) * 16u, 32u);
    c[j] = subgroupMatrixMultiplyAccumulate(a0, b, c[j]); c[4u + j] = subgroupMatrixMultiplyAccumulate(a1, b, c[4u + j]);
  }
}
let o = (wg.x * 4u + sg) * 2048u;
for (var j = 0u; j < 8u; j++) { subgroupMatrixStore<row_major>(&out, o + 256u * j, c[j], 16u); }`;
const variants = { registers: main(named(regsLoads)), 'workgroup memory': main(named(shLoads)), 'a storage buffer': main(named(glLoads)), 'workgroup memory, accumulators in an array': main(arr) };
const json = process.argv.includes('--json');
const results = [];
const outBuf = dev.createBuffer({ size: WGS * 4 * 2048 * 4, usage: GPUBufferUsage.STORAGE });
const srcBuf = dev.createBuffer({ size: 4096 * 4096 * 2 * 4, usage: GPUBufferUsage.STORAGE });
for (const [name, code] of Object.entries(variants)) {
  dev.pushErrorScope('validation');
  const module = dev.createShaderModule({ code });
  const pipe = dev.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const err = await dev.popErrorScope(); if (err) { console.error(name, 'ERR', err.message); continue; }
  const bg = dev.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: outBuf } }, { binding: 1, resource: { buffer: srcBuf } }] });
  const go = async (reps) => { const t = performance.now(); const e = dev.createCommandEncoder(); const p = e.beginComputePass(); p.setPipeline(pipe); p.setBindGroup(0, bg); for (let r = 0; r < reps; r++) p.dispatchWorkgroups(WGS); p.end(); dev.queue.submit([e.finish()]); await dev.queue.onSubmittedWorkDone(); return performance.now() - t; };
  await go(1);
  const ms = (await go(10)) / 10;
  const flops = WGS * 4 * ITERS * 8 * 16 * 16 * 16 * 2;
  results.push({ name, ms, tflops: flops / ms / 1e9 });
  if (!json) console.log(`${name}: ${ms.toFixed(3)} ms, ${(flops / ms / 1e9).toFixed(1)} TFLOP/s`);
}
if (json) console.log(JSON.stringify({ probe: 'subgroup-matrix', adapter: gpu.adapterName, variants: results }));
process.exit(0);
