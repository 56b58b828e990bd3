/**
 * How the process waits for the GPU. Dawn's node binding completes a buffer map or
 * onSubmittedWorkDone by polling: while one is pending it hands a fresh native callback to
 * setImmediate, tick after tick, a busy loop that holds a CPU core and makes ~140 MB of garbage a
 * second, whose collections pause the thread that submits the next steps. csattn runs those ticks
 * on node's shortest timer instead (about 1 ms apart): on lavapipe, where the loop took a core
 * from the GPU's own threads, `csattn eval` on two records ran in 11.9 s against 21.2
 * (docs/perf-notes.md, session 21). CSATTN_DAWN_POLL=spin keeps the binding's loop.
 */
import { CsattnError } from '../errors.js';

type Callback = (...args: unknown[]) => void;
type Schedule = (fn: Callback, ...args: unknown[]) => unknown;

const INSTALLED = Symbol.for('csattn.pollGently');

/** The binding's tick: an anonymous native function (a bound function is named "bound …"). */
export function isBindingTick(fn: unknown): boolean {
  return typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).endsWith('{ [native code] }');
}

/** setImmediate that puts the binding's ticks on `timer` (0 ms) and everything else on `immediate`. */
export function gentleImmediate(immediate: Schedule, timer: Schedule): Schedule {
  return (fn, ...args) => (isBindingTick(fn) ? timer(fn, 0, ...args) : immediate(fn, ...args));
}

/** Installs gentleImmediate as the global setImmediate, once, unless `mode` is 'spin'. */
export function pollGently(mode = process.env.CSATTN_DAWN_POLL ?? 'timer'): void {
  if (mode !== 'timer' && mode !== 'spin') throw new CsattnError(`CSATTN_DAWN_POLL must be timer or spin, not ${JSON.stringify(mode)}`);
  const current = globalThis.setImmediate as typeof setImmediate & { [INSTALLED]?: true };
  if (mode === 'spin' || current[INSTALLED]) return;
  const gentle = gentleImmediate(current as Schedule, (fn, ...args) => setTimeout(fn, ...(args as [number, ...unknown[]])));
  Object.defineProperties(gentle, { ...Object.getOwnPropertyDescriptors(current), [INSTALLED]: { value: true } });
  globalThis.setImmediate = gentle as typeof setImmediate;
}
