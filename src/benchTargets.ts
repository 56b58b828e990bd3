/**
 * The open issues' speed targets judged on one suite run (issues 17: decode at the floor, 19: many
 * questions at once, 21: prefill at llama.cpp's speed): each target's measured figure, whether it
 * is met, and for a miss the kernel timings that say what limits it (the profiled step's largest
 * kernels, and the time the GPU waits between steps). scripts/bench/report.mjs puts the table at
 * the head of the suite's report. A target whose figures the run lacks says so (met: null).
 */
import { prefillChunk, variantOf, type BenchRow, type PrefillChunk } from './bench.js';
import { isDecodeAttention, nominal, type BenchInputs } from './benchReport.js';
import { parseConfig } from './model/config.js';
import { DEFAULT_CHUNK_SIZE } from './model/model.js';
import { PRESETS, presetConfig } from './model/synth.js';
import type { KernelTime } from './gpu/profile.js';

export interface Target {
  issue: number;
  target: string;
  /** The figure measured in this run, or why there is none. */
  measured: string;
  met: boolean | null;
  /** For a miss: what the step's time goes to. */
  limits: string;
}

/** An eval report's CSA figures against full attention on one dataset (csattn eval --out). */
export interface EvalFidelity { dataset: string; sparsity: number; deltaVsFull: number; top1: number | null }

const K128 = 131072, K64 = 65536, K32 = 32768;
const fx = (x: number, d = 2) => x.toFixed(d);
const kc = (c: number) => `${c / 1024}K`;
const ms = (t: KernelTime) => t.stepMs ?? t.ms;

/** Σ of the kernels whose names pass `which`, in ms of the step. */
function kernelMs(kernels: KernelTime[] | undefined, which: (name: string) => boolean): number | undefined {
  const picked = kernels?.filter((t) => which(t.kernel));
  return picked?.length ? picked.reduce((s, t) => s + ms(t), 0) : undefined;
}

/** The step's largest kernels and the GPU's idle time between steps: what a miss is made of. */
function breakdown(kernels: KernelTime[] | undefined, wallMs: number, gpuMs: number | undefined, n = 4): string {
  if (!kernels?.length) return 'no kernel timings in this run (bench --profile)';
  const top = [...kernels].sort((a, b) => ms(b) - ms(a)).slice(0, n).map((t) => `${t.kernel} ${fx(ms(t))}`);
  const idle = gpuMs !== undefined ? `; GPU idle ${fx(Math.max(0, wallMs - gpuMs))} of ${fx(wallMs)}` : '';
  return `ms of the step: ${top.join(', ')}${idle}`;
}

const judged = (issue: number, target: string, value: number | undefined, goal: (v: number) => boolean, show: (v: number) => string, limits: () => string): Target =>
  value === undefined || !Number.isFinite(value)
    ? { issue, target, measured: 'not in this run', met: null, limits: '' }
    : { issue, target, measured: show(value), met: goal(value), limits: goal(value) ? '' : limits() };

/** The layer-chunk's work: recorded, or for rows from before it was, a preset's shape at the default chunk. */
function chunkOf(r: BenchRow): PrefillChunk | undefined {
  if (r.prefillChunk) return r.prefillChunk;
  if (!r.prefillKernels || !PRESETS[r.model]) return undefined;
  return prefillChunk(parseConfig(presetConfig(r.model), r.model), Math.min(DEFAULT_CHUNK_SIZE, r.context), r.context);
}

export function issueTargets(x: BenchInputs, model = 'llama-3.1-8b', evals: EvalFidelity[] = []): Target[] {
  const run = runOf(x, model);
  return [...decodeTargets(run, evals), ...batchTargets(run), ...offlineTargets(run)];
}

/** A suite run's default rows of one model, and the peers' figures beside them. */
interface Run {
  x: BenchInputs;
  rows: BenchRow[];
  /** The row at a context, preferring one with kernel timings. */
  row(c: number): BenchRow | undefined;
  /** The row at a context with a real prefill. */
  prefilled(c: number): BenchRow | undefined;
  /** llama.cpp F16's decode ms/token, and its shared-prompt batch's tokens/s. */
  llama(c: number): number | undefined;
  llamaBatch(c: number, B: number): number | undefined;
}

function runOf(x: BenchInputs, model: string): Run {
  const rows = x.csattn.filter((r) => r.model === model && !variantOf(r));
  const at = (c: number) => rows.filter((r) => nominal(r.context) === c);
  return {
    x, rows,
    row: (c) => at(c).find((r) => r.full.kernels) ?? at(c)[0],
    prefilled: (c) => at(c).find((r) => r.prefillMs !== null),
    llama: (c) => x.llamaDecode.find((l) => l.weights === 'F16' && l.kv === 'f16' && nominal(l.context) === c)?.msPerToken,
    llamaBatch: (c, B) => x.llamaBatched.find((b) => b.weights === 'F16' && nominal(b.context) === c && b.batch === B)?.tokensPerSecond,
  };
}

/** Issue 17: decode at batch 1, its kernels against the bandwidth, and CSA's fidelity. */
function decodeTargets(run: Run, evals: EvalFidelity[]): Target[] {
  const vs = (peer: number | undefined, ours: number) => (peer ? ` (${fx(peer / ours)}x llama.cpp F16)` : '');
  const stepOf = (c: number, attention: 'full' | 'csa') => run.row(c)?.[attention];
  const why = (c: number, attention: 'full' | 'csa') => () => {
    const d = stepOf(c, attention)!;
    return breakdown(d.kernels, d.msPerToken, d.gpuStepMs);
  };
  const targets: Target[] = [];
  const r = run.row(K128) ?? run.row(K32);
  const mv = kernelMs(r?.full.kernels, (n) => n === 'matvec');
  targets.push(judged(17, `decode matvecs read >= 4.0 TB/s${r ? ` (${kc(nominal(r.context))})` : ''}`, mv && r!.weightBytes / mv / 1e6, (v) => v >= 4000,
    (v) => `${fx(v, 0)} GB/s (${fx(mv!)} ms for ${fx(r!.weightBytes / 1e9)} GB)`,
    () => `the matvec kernel itself${run.x.read ? `: the read probe reaches ${fx(run.x.read.best.gbps, 0)} GB/s on this GPU` : ''}`));
  const r128 = run.row(K128);
  const att = kernelMs(r128?.full.kernels, (n) => isDecodeAttention(n) || n === 'attention_reduce');
  const kv = r128 && r128.full.bytesPerStep - r128.weightBytes;
  targets.push(judged(17, 'full attention reads K/V at >= 3.6 TB/s (128K)', att && kv! / att / 1e6, (v) => v >= 3600,
    (v) => `${fx(v, 0)} GB/s (${fx(att!)} ms for ${fx(kv! / 1e9)} GB)`, () => `attention_decode + attention_reduce, ${fx(att!)} ms of the step`));
  targets.push(judged(17, 'full attention at 128K <= 8.9 ms/token', stepOf(K128, 'full')?.msPerToken, (v) => v <= 8.9, (v) => `${fx(v)} ms${vs(run.llama(K128), v)}`, why(K128, 'full')));
  for (const c of [K32, K64]) {
    const peer = run.llama(c);
    targets.push(judged(17, `full attention at ${kc(c)} at least as fast as llama.cpp F16${peer ? ` (${fx(peer)} ms)` : ''}`, peer && stepOf(c, 'full')?.msPerToken,
      (v) => v <= peer!, (v) => `${fx(v)} ms${vs(peer, v)}`, why(c, 'full')));
  }
  const selection = kernelMs(r128?.csa.kernels, (n) => n.startsWith('csa_'));
  targets.push(judged(17, 'CSA selection <= 0.5 ms a step (128K)', selection, (v) => v <= 0.5, (v) => `${fx(v)} ms`,
    () => breakdown(r128!.csa.kernels!.filter((t) => t.kernel.startsWith('csa_')), r128!.csa.msPerToken, undefined)));
  const sparse = kernelMs(r128?.csa.kernels, (n) => isDecodeAttention(n) || n === 'attention_reduce');
  targets.push(judged(17, 'CSA sparse attention + reduce <= 0.5 ms a step (128K)', sparse, (v) => v <= 0.5, (v) => `${fx(v)} ms`,
    () => `attention_decode + attention_reduce over ${fx(r128!.csa.bytesPerStep / 1e9 - r128!.weightBytes / 1e9)} GB of scattered K/V rows`));
  for (const [c, goal, times] of [[K128, 5.0, 2.4], [K32, 4.3, 1.5]] as const) {
    targets.push(judged(17, `CSA at ${kc(c)} <= ${fx(goal, 1)} ms/token (>= ${times}x llama.cpp F16)`, stepOf(c, 'csa')?.msPerToken, (v) => v <= goal,
      (v) => `${fx(v)} ms${vs(run.llama(c), v)}`, why(c, 'csa')));
  }
  const facts = evals.find((e) => e.dataset === 'facts' && e.sparsity === 0.95);
  targets.push(judged(17, 'CSA on facts at 0.95 within 1 point of full attention', facts?.deltaVsFull, (v) => v >= -1, (v) => `${fx(v, 1)} points`, () => 'the selection\'s recall (eval report)'));
  targets.push(judged(17, 'CSA on facts at 0.95: teacher-forced top-1 agreement >= 97%', facts?.top1 ?? undefined, (v) => v >= 0.97, (v) => `${fx(100 * v, 1)}%`, () => 'the selection\'s recall (eval report)'));
  return targets;
}

/** Issue 19: B sequences over one context, beside llama.cpp's shared-prompt batches. */
function batchTargets(run: Run): Target[] {
  const batch = (c: number, B: number, attention: 'full' | 'csa') => run.row(c)?.batches?.find((b) => b.batch === B && b.attention === attention);
  const why = (c: number, B: number, attention: 'full' | 'csa') => () => {
    const b = batch(c, B, attention)!;
    return breakdown(b.kernels, b.msPerStep, b.gpuStepMs);
  };
  const perSecond = (c: number, B: number) => (v: number) => {
    const peer = run.llamaBatch(c, B);
    return `${fx(v, 0)} tokens/s${peer ? ` (${fx(v / peer)}x llama.cpp F16's ${fx(peer, 0)})` : ''}`;
  };
  const targets: Target[] = [];
  for (const [c, goal] of [[K128, 1100], [K32, 1635]] as const) {
    targets.push(judged(19, `CSA, B = 16, at ${kc(c)} >= ${goal} tokens/s`, batch(c, 16, 'csa')?.tokensPerSecond, (v) => v >= goal, perSecond(c, 16), why(c, 16, 'csa')));
  }
  for (const c of [K128, K32]) {
    const peer = run.llamaBatch(c, 16);
    targets.push(judged(19, `full attention, B = 16, at ${kc(c)} at least llama.cpp F16's${peer ? ` ${fx(peer, 0)}` : ''} tokens/s`, peer && batch(c, 16, 'full')?.tokensPerSecond,
      (v) => v >= peer!, perSecond(c, 16), why(c, 16, 'full')));
  }
  // Reported is met; what limits it is each B = 64 step's kernels, beside llama.cpp's batch of 64.
  const b64 = run.rows.flatMap((q) => (q.batches ?? []).filter((b) => b.batch === 64).map((b) => ({ c: nominal(q.context), b })));
  const peer64 = (c: number) => run.llamaBatch(c, 64);
  targets.push({
    issue: 19, target: 'B = 64 where memory allows: reported',
    measured: b64.length ? `tokens/s: ${b64.map(({ c, b }) => `${kc(c)} ${b.attention} ${fx(b.tokensPerSecond, 0)}${peer64(c) ? ` (${fx(b.tokensPerSecond / peer64(c)!)}x llama.cpp F16's ${fx(peer64(c)!, 0)})` : ''}`).join(', ')}` : 'not in this run',
    met: b64.length ? true : null,
    limits: b64.map(({ c, b }) => `${kc(c)} ${b.attention}: ${breakdown(b.kernels, b.msPerStep, b.gpuStepMs, 3)}`).join('; '),
  });
  return targets;
}

/** Issue 21: prefill and the table build, with a layer-chunk's TFLOP/s. */
function offlineTargets(run: Run): Target[] {
  const targets: Target[] = [];
  for (const [c, goal] of [[K128, 30], [K32, 4]] as const) {
    const p = run.prefilled(c);
    const peer = run.x.llamaBatched.find((b) => b.batch === 1 && nominal(b.context) === c)?.prefillMs;
    targets.push(judged(21, `prefill + tables at ${kc(c)} <= ${goal} s`, p && (p.prefillMs! + p.tablesMs) / 1e3, (v) => v <= goal,
      (v) => `${fx(v, 1)} s${peer ? ` (${fx(v / (peer / 1e3))}x llama.cpp's ${fx(peer / 1e3, 1)} s prefill)` : ''}`,
      () => `prefill ${fx(p!.prefillMs! / 1e3, 1)} s + tables ${fx(p!.tablesMs / 1e3, 1)} s; ${chunkLine(p!)}`));
  }
  const p128 = run.prefilled(K128) ?? run.rows.find((q) => nominal(q.context) === K128 && q.prefillKernels);
  const chunk = p128 && chunkOf(p128);
  const tflops = (which: (n: string) => boolean, flop: (c: PrefillChunk) => number) => {
    const t = kernelMs(p128?.prefillKernels, which);
    return t && chunk && flop(chunk) / t / 1e9;
  };
  targets.push(judged(21, 'prefill matmuls >= 250 TFLOP/s (a 128K layer-chunk)', tflops(isMatmul, (c) => c.matmulFlop), (v) => v >= 250,
    (v) => `${fx(v, 0)} TFLOP/s`, () => chunkLine(p128!)));
  targets.push(judged(21, 'prefill attention >= 250 TFLOP/s (a 128K layer-chunk)', tflops(isPrefillAttention, (c) => c.attentionFlop), (v) => v >= 250,
    (v) => `${fx(v, 0)} TFLOP/s`, () => chunkLine(p128!)));
  const t128 = run.prefilled(K128);
  targets.push(judged(21, 'table build <= 3 s at 128K', t128 && t128.tablesMs / 1e3, (v) => v <= 3, (v) => `${fx(v, 1)} s`, () => 'k-means, partial scores and top-L lists, 32 layers (bench-probes.sh times them kernel by kernel)'));
  targets.push(judged(21, 'peak GPU memory at 128K <= 49.4 GiB (edd025f, 2026-12-04)', t128 && t128.peakGpuBytes / 2 ** 30, (v) => v <= 49.4, (v) => `${fx(v, 1)} GiB`, () => 'the largest buffers: K/V cache, tables, prefill scratch'));
  return targets;
}

const isMatmul = (n: string) => n.startsWith('matmul');
const isPrefillAttention = (n: string) => n.startsWith('attention_prefill');

/** A layer-chunk's kernels with the TFLOP/s of the products and the attention. */
function chunkLine(r: BenchRow): string {
  const c = chunkOf(r);
  if (!r.prefillKernels || !c) return 'no layer-chunk profile in this run';
  const at = (which: (n: string) => boolean, flop: number) => {
    const t = kernelMs(r.prefillKernels, which)!;
    return `${fx(t)} ms (${fx(flop / t / 1e9, 0)} TFLOP/s)`;
  };
  return `a layer over the last ${c.tokens}-token chunk: attention ${at(isPrefillAttention, c.attentionFlop)}, the four products ${at(isMatmul, c.matmulFlop)}`;
}

/** The targets as a Markdown table; `machine` is the run's GPU (the issues set their targets for the H200). */
export function targetsMarkdown(targets: Target[], machine?: string): string[] {
  const mark = (m: boolean | null) => (m === null ? '-' : m ? 'met' : '**missed**');
  const met = targets.filter((t) => t.met).length, judgedCount = targets.filter((t) => t.met !== null).length;
  const elsewhere = machine && !machine.includes('H200') ? ` (the targets are the H200's; this run's GPU: ${machine.split(',')[0]})` : '';
  return [
    `### The open issues' targets: ${met} of ${judgedCount} met in this run${elsewhere}`, '',
    '| issue | target | measured | met | what limits it |', '|---|---|---|---|---|',
    ...targets.map((t) => `| #${t.issue} | ${t.target} | ${t.measured} | ${mark(t.met)} | ${t.limits} |`), '',
  ];
}

/** CSA's fidelity figures from eval reports: per dataset at each sparsity, the delta to full and the mean teacher-forced top-1. */
export function evalFidelity(report: { aggregates: { dataset: string; method: string; sparsity: number | null; delta_vs_full: number | null }[]; records: { dataset: string; results: { method: string; sparsity: number | null; agreement?: { top1: number } }[] }[] }): EvalFidelity[] {
  return report.aggregates.filter((a) => a.method === 'csa' && a.sparsity !== null && a.delta_vs_full !== null).map((a) => {
    const top1 = report.records.filter((r) => r.dataset === a.dataset).flatMap((r) => r.results.filter((m) => m.method === 'csa' && m.sparsity === a.sparsity && m.agreement).map((m) => m.agreement!.top1));
    return { dataset: a.dataset, sparsity: a.sparsity!, deltaVsFull: a.delta_vs_full!, top1: top1.length ? top1.reduce((s, v) => s + v, 0) / top1.length : null };
  });
}
