/**
 * Kernel timings from timestamp queries, two ways. Alone: each dispatch of a recorded op list runs
 * in its own compute pass with begin/end timestamps, and the GPU times are summed per kernel name
 * (a pass per dispatch drains the GPU between kernels, so each reads a few µs high). In the step
 * (`profileInStep`): the whole list runs as it does in use, once as is and once without each kernel's
 * dispatches; the difference is what that kernel adds to the step, overlap and tails included.
 */
import { CsattnError } from '../errors.js';
import { createBuffer, release, type Gpu } from './device.js';
import { encodeOps, readBuffer, record, type Op } from './kernels.js';

export interface KernelTime {
  kernel: string;
  calls: number;
  /** GPU time of its dispatches, each in a pass of its own. */
  ms: number;
  /** With profileInStep: how much longer the whole step runs with its dispatches than without them. */
  stepMs?: number;
}

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

/**
 * profileOps, and the step as in use: its whole GPU time, and each kernel's share of it (stepMs:
 * the whole less the step without that kernel's dispatches).
 */
export async function profileInStep(gpu: Gpu, ops: Op[], reps = 3, before?: (rep: number) => void): Promise<{ kernels: KernelTime[]; wholeMs: number }> {
  const kernels = await profileOps(gpu, ops, reps, before);
  const wholeMs = await gpuTimeMs(gpu, ops, reps, before);
  for (const t of kernels) t.stepMs = wholeMs - (await gpuTimeMs(gpu, ops.filter((op) => !('kernel' in op) || op.kernel.name !== t.kernel), reps, before));
  return { kernels, wholeMs };
}

/** The median GPU time of `ops` run as they are in use. */
export async function gpuTimeMs(gpu: Gpu, ops: Op[], reps: number, before?: (rep: number) => void): Promise<number> {
  const querySet = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
  const runs: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    before?.(rep);
    const enc = gpu.device.createCommandEncoder();
    encodeOps(enc, ops, querySet);
    runs.push((await spansOf(gpu, enc, querySet, 1))[0]!);
  }
  querySet.destroy();
  return runs.sort((a, b) => a - b)[Math.floor(reps / 2)];
}

/**
 * Submits `enc` with the first `spans` timestamp pairs of `set` resolved at its end, and returns the
 * ms between each pair's stamps once they have run.
 */
async function spansOf(gpu: Gpu, enc: GPUCommandEncoder, set: GPUQuerySet, spans: number): Promise<number[]> {
  if (spans === 0) {
    gpu.device.queue.submit([enc.finish()]);
    return [];
  }
  const resolve = createBuffer(gpu, { size: spans * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  try {
    enc.resolveQuerySet(set, 0, 2 * spans, resolve, 0);
    gpu.device.queue.submit([enc.finish()]);
    const stamps = new BigInt64Array(await readBuffer(gpu, resolve, spans * 16));
    return Array.from({ length: spans }, (_, i) => Number(stamps[2 * i + 1] - stamps[2 * i]) / 1e6);
  } finally {
    release(gpu, resolve);
  }
}

/** Times ops from `start` until the query set is full; returns (kernel, ms) per dispatch. */
async function timeSome(gpu: Gpu, ops: Op[], start: number): Promise<{ times: [string, number][]; next: number }> {
  const querySet = gpu.device.createQuerySet({ type: 'timestamp', count: MAX_QUERIES });
  const enc = gpu.device.createCommandEncoder();
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
  const ms = await spansOf(gpu, enc, querySet, names.length);
  querySet.destroy();
  return { times: names.map((n, j) => [n, ms[j]!]), next: i };
}

/**
 * GPU time of spans of queued work, without waiting between them: start() and stop() each submit an
 * empty pass that stamps the time at its point of the queue (after the work before it), and
 * spansMs() reads the spans once they have run. For work overlapped with the CPU (a prefill's table
 * builds), where wall-clock time would count what the CPU did meanwhile.
 */
export class GpuStopwatch {
  private readonly set: GPUQuerySet;
  private marks = 0;

  constructor(private readonly gpu: Gpu, private readonly spans: number) {
    if (!gpu.timestamps) throw new CsattnError('this GPU offers no timestamp queries: GPU spans are not available', 'gpu');
    this.set = gpu.device.createQuerySet({ type: 'timestamp', count: 2 * spans });
  }

  start(): void { this.mark(0); }
  stop(): void { this.mark(1); }

  private mark(parity: number): void {
    if (this.marks % 2 !== parity || this.marks >= 2 * this.spans) throw new Error(`GpuStopwatch: mark ${this.marks} out of order or past ${this.spans} spans`);
    const enc = this.gpu.device.createCommandEncoder();
    enc.beginComputePass({ timestampWrites: { querySet: this.set, beginningOfPassWriteIndex: this.marks++ } }).end();
    this.gpu.device.queue.submit([enc.finish()]);
  }

  /** The ms of each span stopped so far (waits for the GPU). */
  async spansMs(): Promise<number[]> {
    return spansOf(this.gpu, this.gpu.device.createCommandEncoder(), this.set, Math.floor(this.marks / 2));
  }

  /** Frees the queries. */
  destroy(): void {
    this.set.destroy();
  }
}
