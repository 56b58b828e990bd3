import { it } from 'vitest';
import { Kernels, record, submit, dispatchOf, uniform, ceilDiv } from '../src/gpu/kernels.js';
import { matmul } from '../src/ops/dense.js';
import { gpuContext, rand, readF32, uploadF16, uploadF32 } from './helpers/gpu.js';
it('bench', async () => {
  const { gpu, kernels } = await gpuContext(false);
  console.log('maxGroups', gpu.device.limits.maxComputeWorkgroupsPerDimension);
  const K = 1024, N = 1024;
  const w = uploadF16(gpu, rand(N * K, 5));
  for (const T of [1, 2, 4, 8, 9, 12, 16]) {
    const x = uploadF32(gpu, rand(T * K)), y = uploadF32(gpu, new Float32Array(T * N));
    const mv = T <= 8 ? matmul(kernels, { x, w, y, T, K, N }) : null;
    const tiled = dispatchOf(kernels.get('matmul'), [x, w, y, uniform(gpu, [T, K, N, 0, N])], [ceilDiv(N, 64), ceilDiv(T, 64)]);
    const time = async (ds: any[]) => {
      let best = 1e9;
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        submit(gpu, (pass) => record(pass, ds));
        await gpu.device.queue.onSubmittedWorkDone();
        best = Math.min(best, performance.now() - t0);
      }
      return best.toFixed(1);
    };
    let mvt = '-';
    if (T <= 8) mvt = await time(mv!);
    else {
      const rows = Math.max(1, Math.min(4, Math.floor(16 / T)));
      // force matvec at T > 8 via the kernel directly (only valid up to ROWS*TOKENS <= 16)
      if (rows * T <= 16) {
        const kk = kernels.get('matvec', { constants: { TOKENS: T, ROWS: rows } });
        mvt = await time([dispatchOf(kk, [x, w, y, uniform(gpu, [K / 8, N, 0, N])], ceilDiv(N, rows))]);
      }
    }
    console.log(`T=${T}: matvec ${mvt} ms, tiled ${await time([tiled])} ms`);
  }
});
