// What the kernel-variant sweeps share (prefill-attention.mjs, prefill-products.mjs, attention.mjs --variants).
import { readBuffer } from '../../dist/gpu/kernels.js';
import { gpuTimeMs } from '../../dist/gpu/profile.js';

/**
 * --variants ",A,A+B,N=8+A": each a set of a kernel's defines and override constants (NAME=value),
 * the empty one the kernel as it ships.
 */
export function parseVariants(arg) {
  return arg.split(',').map((v) => {
    const parts = v ? v.split('+') : [];
    const constants = Object.fromEntries(parts.filter((x) => x.includes('=')).map((x) => [x.split('=')[0], Number(x.split('=')[1])]));
    return { name: v || 'shipped', defines: parts.filter((x) => !x.includes('=')), constants };
  });
}

/**
 * Times the cuts ({ op }, those without an `error`) in `rounds` rounds that alternate them, after
 * `warmMs` of the first one's op, and sets each one's `ms` (the median of its rounds, an op three
 * times in a row a round): a cut timed right after its compile ran on idle clocks, 2-4x slow and in
 * no order (H100, session 27).
 */
export async function timeInRounds(gpu, cuts, rounds, warmMs = 300) {
  const live = cuts.filter((c) => !c.error);
  if (!live.length) return;
  for (const t0 = performance.now(); performance.now() - t0 < warmMs;) await gpuTimeMs(gpu, Array(10).fill(live[0].op), 1);
  for (let round = 0; round < rounds; round++) {
    for (const c of live) (c.times ??= []).push((await gpuTimeMs(gpu, [c.op, c.op, c.op], 1)) / 3);
  }
  for (const c of live) c.ms = c.times.sort((a, b) => a - b)[Math.floor(rounds / 2)];
}

/**
 * The GPU ms of one `op` (three in a row, the median of `reps` runs, after two to compile and warm
 * the clocks) and `out` read back after it; or the first line of the error that stopped it (a
 * variant that does not compile, or needs more workgroup memory than the GPU has). Right after a
 * compile the clocks may be idle: timeInRounds times several cuts fairly.
 */
export async function timeAndRead(gpu, op, out, reps) {
  try {
    await gpuTimeMs(gpu, [op, op], 2);
    const ms = (await gpuTimeMs(gpu, [op, op, op], reps)) / 3;
    return { ms, got: new Float32Array(await readBuffer(gpu, out)) };
  } catch (e) {
    await forgetFailure(gpu);
    return { error: String(e.message ?? e).split('\n')[0] };
  }
}

/** max |got - ref| over max |ref|: how far a variant's output is from the shipped kernel's (Infinity where not finite). */
export function relativeDiff(got, ref) {
  let diff = 0, top = 0;
  for (let i = 0; i < got.length; i++) { diff = Math.max(diff, Math.abs(got[i] - ref[i])); top = Math.max(top, Math.abs(ref[i])); }
  return Number.isFinite(diff) ? diff / top : Infinity;
}

/**
 * Runs `measure(v)` (its { ms, got, ... }) for each variant, in `rounds` rounds that alternate them
 * (a variant timed right after its compile ran on idle clocks), and checks each output against the
 * first variant's: rows of { variant, ms, err, ... } (each its median round), or { variant, error }
 * for one that failed.
 */
export async function compareVariants(gpu, variants, measure, rounds = 3) {
  const runs = variants.map((v) => ({ variant: v.name, rows: [] }));
  let first;
  for (let round = 0; round < rounds; round++) {
    for (const [i, v] of variants.entries()) {
      if (runs[i].error) continue;
      try {
        const { got, ...r } = await measure(v);
        first ??= got;
        runs[i].rows.push({ variant: v.name, ...r, err: relativeDiff(got, first) });
      } catch (e) {
        await forgetFailure(gpu);
        runs[i] = { variant: v.name, error: String(e.message ?? e).split('\n')[0] };
      }
    }
  }
  return runs.map((r) => r.error ? r : r.rows.sort((a, b) => a.ms - b.ms)[Math.floor(r.rows.length / 2)]);
}

/** Lets the next variant run after one failed: its queued work drains, then csattn's sticky GPU failure is cleared. */
export async function forgetFailure(gpu) {
  await gpu.device.queue.onSubmittedWorkDone();
  gpu.failure = null;
}
