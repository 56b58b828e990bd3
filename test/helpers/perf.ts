/**
 * Perf mode: with CSATTN_PERF=1 a kernel test also times its dispatches on its own shapes (as
 * llama.cpp's `test-backend-ops perf` reuses its test cases) and prints ms per run with GB/s and
 * TFLOP/s, so that the variants recorded in docs/design.md can be re-run on a GPU:
 *   CSATTN_PERF=1 npx vitest run test/attention.test.ts test/matmul.test.ts
 * GPU timestamps where the adapter has them, else wall-clock over back-to-back runs (lavapipe).
 */
import { gpuTimeMs } from '../../src/gpu/profile.js';
import { encodeOps, type Op } from '../../src/gpu/kernels.js';
import type { Ctx } from './gpu.js';

export const PERF = process.env.CSATTN_PERF === '1';
const REPS = 20;

/** What one run of the ops moves and computes, for the rates. */
export interface Work { bytes: number; flops?: number }

/** In perf mode, times `ops` (already run once by the test) and prints one line for `label`. */
export async function perf(c: Ctx, label: string, ops: Op[], work: Work): Promise<void> {
  if (!PERF) return;
  const ms = c.gpu.timestamps ? await gpuTimeMs(c.gpu, ops, REPS) : await wallMs(c, ops);
  const rates = [`${(work.bytes / ms / 1e6).toPrecision(3)} GB/s`, ...(work.flops ? [`${(work.flops / ms / 1e9).toPrecision(3)} TFLOP/s`] : [])];
  const kernels = [...new Set(ops.flatMap((op) => ('kernel' in op ? [op.kernel.name] : [])))].join('+');
  console.log(`perf ${kernels} ${label} [${c.mode}]: ${ms.toPrecision(4)} ms per run (${ops.length} dispatch${ops.length > 1 ? 'es' : ''}), ${rates.join(', ')}`);
}

async function wallMs(c: Ctx, ops: Op[]): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < REPS; i++) {
    const enc = c.gpu.device.createCommandEncoder();
    encodeOps(enc, ops);
    c.gpu.device.queue.submit([enc.finish()]);
  }
  await c.gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / REPS;
}
