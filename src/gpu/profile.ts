/**
 * Kernel timings from timestamp queries: each dispatch of a recorded op list runs in its own
 * compute pass with begin/end timestamps, and the GPU times are summed per kernel name. A pass per
 * dispatch adds a little time between kernels (not inside them), so the sum is a lower bound of
 * the step and the per-kernel figures are what each kernel costs.
 */
import { CsattnError } from '../errors.js';
import type { Gpu } from './device.js';
import { readBuffer, record, type Op } from './kernels.js';

export interface KernelTime { kernel: string; calls: number; ms: number }

/** Dawn's limit on queries per set; 2 per dispatch. */
const MAX_QUERIES = 4096;

/**
 * Runs `ops` `reps` times with a timestamp pair around every dispatch and returns the mean GPU
 * time per run of each kernel, largest first. `before` runs ahead of each repetition (say, to
 * set the step).
 */
export async function profileOps(gpu: Gpu, ops: Op[], reps = 3, before?: (rep: number) => void): Promise<KernelTime[]> {
  if (!gpu.timestamps) throw new CsattnError('this GPU offers no timestamp queries: kernel timings are not available', 'gpu');
  const totals = new Map<string, KernelTime>();
  for (let rep = 0; rep < reps; rep++) {
    before?.(rep);
    for (let start = 0; start < ops.length;) {
      const { times, next } = await timeSome(gpu, ops, start);
      for (const [kernel, ms] of times) {
        const t = totals.get(kernel) ?? { kernel, calls: 0, ms: 0 };
        t.calls += 1 / reps;
        t.ms += ms / reps;
        totals.set(kernel, t);
      }
      start = next;
    }
  }
  return [...totals.values()].sort((a, b) => b.ms - a.ms);
}

/** Times ops from `start` until the query set is full; returns (kernel, ms) per dispatch. */
async function timeSome(gpu: Gpu, ops: Op[], start: number): Promise<{ times: [string, number][]; next: number }> {
  const device = gpu.device;
  const querySet = device.createQuerySet({ type: 'timestamp', count: MAX_QUERIES });
  const resolve = device.createBuffer({ size: MAX_QUERIES * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const enc = device.createCommandEncoder();
  const names: string[] = [];
  let i = start;
  for (; i < ops.length && names.length * 2 < MAX_QUERIES; i++) {
    const op = ops[i];
    if ('copy' in op) {
      enc.copyBufferToBuffer(op.copy.src, op.copy.srcOffset, op.copy.dst, op.copy.dstOffset, op.copy.size);
      continue;
    }
    const q = names.length * 2;
    const pass = enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
    record(pass, [op]);
    pass.end();
    names.push(op.kernel.name);
  }
  if (names.length) enc.resolveQuerySet(querySet, 0, names.length * 2, resolve, 0);
  device.queue.submit([enc.finish()]);
  const stamps = names.length ? new BigInt64Array(await readBuffer(gpu, resolve, names.length * 16)) : new BigInt64Array();
  querySet.destroy();
  resolve.destroy();
  return { times: names.map((n, j) => [n, Number(stamps[2 * j + 1] - stamps[2 * j]) / 1e6]), next: i };
}
