// TEMPORARY benchmark (not part of the deliverable).
import { it } from 'vitest';
import { createGpu } from '../src/gpu/device.js';
import { Kernels, record, storage, uniform, upload } from '../src/gpu/kernels.js';
import { buildTables, selectDispatches, insertDispatches, DEFAULT_CSA } from '../src/attention/csa.js';

function randomF32(n: number, seed: number): Float32Array {
  const u = new Uint32Array(n); let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; u[i] = s; }
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = u[i] / 4294967296 * 2 - 1;
  return f;
}
function randomF16Words(n: number, seed: number): Uint32Array {
  const u = new Uint32Array(n / 2); let s = seed >>> 0;
  // f16 values in (-1, 1): sign | exponent 0x0e..0x0f... keep simple: 0x3800 + mantissa (0.5..1) with random sign
  for (let i = 0; i < u.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; const a = 0x3400 | (s & 0x3ff) | ((s >>> 10) & 0x8000); const b = 0x3400 | ((s >>> 16) & 0x3ff) | (s & 0x8000); u[i] = a | (b << 16); }
  return u;
}
async function time(gpu: any, f: () => void, reps: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / reps;
}
it('bench', async () => {
  const gpu = await createGpu();
  const k = new Kernels(gpu);
  console.log('adapter', gpu.adapterName, 'maxBinding', gpu.maxBinding, 'wgmem', gpu.device.limits.maxComputeWorkgroupStorageSize);
  const Hq = 32, Hkv = 8, d = 128, maxNew = 64;
  for (const N of [8192, 32768, 65536]) {
    for (const gran of ['kv-head', 'query-head'] as const) {
      const params = { ...DEFAULT_CSA, subspaces: 8, centroids: 64, listFraction: 0.1, granularity: gran };
      const cap = N + maxNew;
      const queries = upload(gpu, randomF32(N * Hq * d, 1));
      const kCache = upload(gpu, randomF16Words(Hkv * cap * d, 2));
      const args = { queries, kCache, N, Hq, Hkv, d, capacity: cap, params, maxNewTokens: maxNew };
      await buildTables(k, args);
      const t0 = performance.now();
      const tables = await buildTables(k, args);
      const tb = performance.now() - t0;
      const step = uniform(gpu, [N]);
      const q = upload(gpu, randomF32(Hq * d, 3));
      const opts = { sparsity: 0.95, sink: 4, window: 64, N, maxNewTokens: maxNew };
      const plan = selectDispatches(k, { q, tables, step, Hq, Hkv, d, params, opts });
      const ins = insertDispatches(k, { kCache, tables, step, Hq, Hkv, d, capacity: cap, params });
      const sub = (ds: any[]) => () => { const e = gpu.device.createCommandEncoder(); const p = e.beginComputePass(); record(p, ds); p.end(); gpu.device.queue.submit([e.finish()]); };
      // batch 32 layers' worth of the same dispatches into one pass, like a real token
      const many = (ds: any[]) => sub(Array.from({ length: 32 }, () => ds).flat());
      await time(gpu, sub(plan.dispatches), 5);
      const sel = await time(gpu, many(plan.dispatches), 20) / 32;
      const scoring = await time(gpu, many(plan.scoring), 20) / 32;
      const topk = await time(gpu, many(plan.topK), 20) / 32;
      const empty = await time(gpu, many([]), 20) / 32;
      let pos = N;
      const insT = await time(gpu, () => { gpu.device.queue.writeBuffer(step, 0, new Uint32Array([pos++])); sub(ins)(); }, 20);
      console.log(`N=${N} ${gran}: build ${tb.toFixed(0)} ms/layer; per layer-step: select ${(sel * 1000).toFixed(1)} us (scoring ${(scoring * 1000).toFixed(1)}, topK ${(topk * 1000).toFixed(1)}, empty-pass ${(empty * 1000).toFixed(1)}), insert ${(insT * 1000).toFixed(1)} us (1 layer, own submit)`);
      for (const b of [tables.centroids, tables.listIdx, tables.listScore, tables.listLen, queries, kCache]) b.destroy();
    }
  }
}, 600_000);
