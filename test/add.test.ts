import { describe, expect, it } from 'vitest';
import { ceilDiv, run, uniform } from '../src/gpu/kernels.js';
import { f16Modes, gpuContext, maxAbsDiff, rand, readF32, uploadF32 } from './helpers/gpu.js';

describe.each(await f16Modes())('add (packedF16=%s)', (packed) => {
  it('matches x + y on the CPU', async () => {
    const { gpu, kernels } = await gpuContext(packed);
    const n = 1000;
    const x = rand(n, 1), y = rand(n, 2);
    const bx = uploadF32(gpu, x);
    run(kernels.get('add'), [bx, uploadF32(gpu, y), uniform(gpu, [n])], ceilDiv(n, 256));
    const got = await readF32(gpu, bx, n);
    expect(maxAbsDiff(got, x.map((v, i) => v + y[i]))).toBe(0);
  });
});
