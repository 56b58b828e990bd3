/**
 * How the process waits for the GPU. Dawn's node binding completes a buffer map, onSubmittedWorkDone
 * or an error scope by polling: while one is pending it hands a fresh native callback to
 * setImmediate, tick after tick, a busy loop that holds a CPU core and makes ~140 MB of garbage a
 * second, whose collections pause the thread that submits the next steps. csattn lets the ticks of
 * a wait's first SPIN_MS come back at once (an error scope or an idle queue answers within tens of
 * µs) and runs the rest on node's shortest timer, about 1 ms apart: on lavapipe, where the loop took
 * a core from the GPU's own threads, `csattn eval` on two records ran in 11.9 s against 21.2
 * (docs/perf-notes.md, session 21). On a GPU the loop stays (pollMode).
 */
import { CsattnError } from '../errors.js';

type Callback = (...args: unknown[]) => void;
type Schedule = (fn: Callback, ...args: unknown[]) => unknown;

/** How long after a wait begins the binding's ticks still run at once (ms). */
export const SPIN_MS = 0.25;

/** The calls that start a wait the binding polls for (the classes are globals once device.ts has loaded webgpu). */
function waits(): [object, string][] {
  return [[GPUBuffer.prototype, 'mapAsync'], [GPUQueue.prototype, 'onSubmittedWorkDone'], [GPUDevice.prototype, 'popErrorScope']];
}

const INSTALLED = Symbol.for('csattn.pollGently');

/** The binding's tick: an anonymous native function (a bound function is named "bound …"). */
export function isBindingTick(fn: unknown): boolean {
  return typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).endsWith('{ [native code] }');
}

/**
 * setImmediate that hands the binding's ticks to `timer` (0 ms) once `sinceWait()` ms have passed
 * SPIN_MS, and everything else to `immediate`.
 */
export function gentleImmediate(immediate: Schedule, timer: Schedule, sinceWait: () => number): Schedule {
  // The clock first: during a wait's spin every tick passes here, and the source check costs more.
  return (fn, ...args) => (sinceWait() >= SPIN_MS && isBindingTick(fn) ? timer(fn, 0, ...args) : immediate(fn, ...args));
}

/**
 * How to wait on `adapter`: on the timer where the GPU's work runs on the CPU (a fallback adapter:
 * lavapipe, whose threads the busy loop slows), the binding's loop on a GPU (an H100, session 31:
 * `csattn eval` of fixtures/facts.multi.jsonl 11.0-11.6 s spinning against 13.4-14.6 on the timer,
 * whose 1 ms ticks delay every short wait); CSATTN_DAWN_POLL chooses otherwise.
 */
export function pollMode(adapter: GPUAdapter, chosen = process.env.CSATTN_DAWN_POLL): string {
  return chosen ?? (adapter.info.isFallbackAdapter ? 'timer' : 'spin');
}

/** Installs gentleImmediate as the global setImmediate, once, unless `mode` is 'spin'. */
export function pollGently(mode: string): void {
  if (mode !== 'timer' && mode !== 'spin') throw new CsattnError(`CSATTN_DAWN_POLL must be timer or spin, not ${JSON.stringify(mode)}`);
  const current = globalThis.setImmediate as typeof setImmediate & { [INSTALLED]?: true };
  if (mode === 'spin' || current[INSTALLED]) return;
  let waitStart = -Infinity;
  for (const [proto, name] of waits()) {
    const call = (proto as Record<string, (...a: unknown[]) => unknown>)[name];
    Object.defineProperty(proto, name, {
      value: function (this: unknown, ...args: unknown[]) { waitStart = performance.now(); return call.apply(this, args); },
      writable: true, configurable: true,
    });
  }
  const timer: Schedule = (fn, ...args) => setTimeout(fn, ...(args as [number, ...unknown[]]));
  const gentle = gentleImmediate(current as Schedule, timer, () => performance.now() - waitStart);
  Object.defineProperties(gentle, { ...Object.getOwnPropertyDescriptors(current), [INSTALLED]: { value: true } });
  globalThis.setImmediate = gentle as typeof setImmediate;
}
