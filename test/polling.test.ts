/** How the process waits for the GPU: the binding's ticks on a timer, everything else as before (src/gpu/polling.ts). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readBuffer, storage, upload } from '../src/gpu/kernels.js';
import { SPIN_MS, gentleImmediate, isBindingTick, pollGently, pollMode } from '../src/gpu/polling.js';
import { gpuContext } from './helpers/gpu.js';

// An anonymous native function, as the binding's tick is: Function.prototype is one.
const nativeTick = Function.prototype as () => void;

describe('gentleImmediate', () => {
  it("takes only anonymous native functions for the binding's ticks", () => {
    const named = () => undefined;
    expect([nativeTick, named, named.bind(null), Math.max, 'x'].map(isBindingTick)).toEqual([true, false, false, false, false]);
  });

  it("puts a wait's ticks on a 0 ms timer once it is SPIN_MS old, and every other callback, with its arguments, on setImmediate", () => {
    const calls: string[] = [];
    let since = 0;
    const schedule = gentleImmediate((fn, ...a) => calls.push(`immediate ${fn.name} ${a.join(',')}`), (fn, ...a) => calls.push(`timer ${fn.name} ${a.join(',')}`), () => since);
    const job = () => undefined;
    schedule(nativeTick, 'a');
    since = SPIN_MS;
    schedule(nativeTick, 'b');
    schedule(job, 1, 2);
    expect(calls).toEqual(['immediate  a', 'timer  0,b', 'immediate job 1,2']);
  });

  it("waits on the timer where the GPU is the CPU's (a fallback adapter), spinning on a GPU, unless CSATTN_DAWN_POLL says", () => {
    const adapter = (isFallbackAdapter: boolean) => ({ info: { isFallbackAdapter } }) as unknown as GPUAdapter;
    expect([pollMode(adapter(true), undefined), pollMode(adapter(false), undefined)]).toEqual(['timer', 'spin']);
    expect([pollMode(adapter(true), 'spin'), pollMode(adapter(false), 'timer')]).toEqual(['spin', 'timer']);
  });

  it('names a bad CSATTN_DAWN_POLL in one line', () => {
    expect(() => pollGently('sometimes')).toThrow(/^CSATTN_DAWN_POLL must be timer or spin, not "sometimes"$/);
  });
});

describe('waiting for the GPU', () => {
  afterEach(() => vi.restoreAllMocks());

  it("runs the binding's ticks on a timer during a long read-back, about one a millisecond at most", async () => {
    const { gpu } = await gpuContext(true);
    pollGently('timer'); // lavapipe's choice already; on a GPU, installed here
    const data = Float32Array.from({ length: 1 << 24 }, (_, i) => i); // 64 MB: its copy and map take milliseconds
    const src = upload(gpu, data);
    const dst = storage(gpu, data.byteLength);
    const timer = vi.spyOn(globalThis, 'setTimeout');
    const t0 = performance.now();
    const enc = gpu.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, data.byteLength);
    gpu.device.queue.submit([enc.finish()]);
    const got = new Float32Array(await readBuffer(gpu, dst));
    const ms = performance.now() - t0;
    const ticks = timer.mock.calls.filter(([fn]) => isBindingTick(fn)).length;
    expect(got[12345]).toBe(12345);
    expect(ticks).toBeGreaterThanOrEqual(1);
    expect(ticks).toBeLessThanOrEqual(ms + 10); // a busy loop would run hundreds a millisecond, and not here
  });
});
