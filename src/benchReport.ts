/**
 * One speed report: csattn (full attention and CSA) beside the peers a user would pick instead,
 * llama.cpp and a gpt-fast style PyTorch decode, measured on the same GPU in the same session, every
 * figure with its ratio to the peers and to the bandwidth floor. The input is the JSON lines that
 * scripts/device/bench-suite.sh and bench-peers.sh write (csattn bench rows, torch_decode.py rows,
 * llama-bench and llama-batched-bench lines, the probes of what Dawn reaches); the output is
 * Markdown, JSON and an SVG chart (scripts/bench/report.mjs writes them).
 */
import { benchTable, variantOf, type BenchRow } from './bench.js';

export interface TorchRow {
  reference: 'pytorch';
  model: string;
  context: number;
  msPerToken: number;
  prefillMs: number;
  decodeMode: string;
  bytesPerStep?: number;
  device?: string;
  torch?: string;
  /** The compiled step's logits against eager SDPA over the same cache (max |diff| / logit range). */
  compiledVsEager?: number;
  error?: string;
}

export interface TorchCheck {
  reference: 'pytorch-check';
  against: string;
  prefillRelDiff: number;
  decodeRelDiff: number;
}

/** llama-bench's decode at a depth: tg{n} @ d{context}. */
export interface LlamaDecode { weights: string; kv: string; context: number; msPerToken: number; modelBytes: number; commit: string; gpu: string }

/** llama-batched-bench with a shared prompt: whole-prompt prefill, then `batch` sequences decode together. */
export interface LlamaBatched { weights: string; context: number; batch: number; prefillMs: number; tokensPerSecond: number }

export interface ReadProbe { probe: 'read-bandwidth'; adapter: string; bytes: number; best: { gbps: number; loadsInFlight: number; workgroups: number } }
export interface MatrixProbe { probe: 'subgroup-matrix'; variants: { name: string; tflops: number }[] }

export interface Meta { date?: string; commit?: string; machine?: string; command?: string }

export interface BenchInputs {
  meta: Meta;
  csattn: BenchRow[];
  pytorch: TorchRow[];
  checks: TorchCheck[];
  llamaDecode: LlamaDecode[];
  llamaBatched: LlamaBatched[];
  read?: ReadProbe;
  matrix?: MatrixProbe;
}

type Line = Record<string, unknown>;

/** llama.cpp's model_type ("llama 8B Q4_K - Medium") to the quantization's usual name (Q4_K_M). */
function weightsOf(modelType: string): string {
  const t = modelType.split(' ').slice(2).join(' ');
  return t.replace(/^(Q\d_K) - (Small|Medium|Large)$/, (_, q: string, s: string) => `${q}_${s[0]}`);
}

/** Sorts the JSON lines of a suite's output folders by what wrote them. */
export function parseBenchLines(lines: Line[]): BenchInputs {
  const n = (x: unknown) => x as number;
  const meta = Object.assign({}, ...lines.filter((l) => l.meta).map((l) => l.meta as Meta)) as Meta;
  return {
    meta,
    csattn: lines.filter((l) => l.full && l.csa) as unknown as BenchRow[],
    pytorch: lines.filter((l) => l.reference === 'pytorch') as unknown as TorchRow[],
    checks: lines.filter((l) => l.reference === 'pytorch-check') as unknown as TorchCheck[],
    llamaDecode: lines.filter((l) => l.build_commit && n(l.n_gen) > 0 && n(l.n_prompt) === 0).map((l) => ({
      weights: weightsOf(l.model_type as string), kv: (l.type_k as string | undefined) ?? 'f16', context: n(l.n_depth), msPerToken: 1000 / n(l.avg_ts),
      modelBytes: n(l.model_size), commit: l.build_commit as string, gpu: l.gpu_info as string,
    })),
    llamaBatched: lines.filter((l) => l.batched && l.is_pp_shared).map((l) => ({
      weights: l.weights as string, context: n(l.pp), batch: n(l.pl), prefillMs: 1000 * n(l.t_pp), tokensPerSecond: n(l.speed_tg),
    })),
    read: lines.find((l) => l.probe === 'read-bandwidth') as ReadProbe | undefined,
    matrix: lines.find((l) => l.probe === 'subgroup-matrix') as MatrixProbe | undefined,
  };
}

/** A batch-1 decode attention kernel in --profile: the tiled one, or the streamed one of a sequence's dense decode. */
export const isDecodeAttention = (kernel: string): boolean => kernel === 'attention_decode' || kernel === 'attention_decode_stream';

/** Contexts that differ by the room a tool keeps for question and answer (130,927 vs 131,072) are one. */
export function nominal(context: number): number {
  return 2 ** Math.round(Math.log2(context));
}

const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
const k = (n: number) => `${Math.round(n / 1024)}K`;
const ratio = (peer: number | undefined, ours: number | undefined) => (peer && ours ? `${f(peer / ours)}x` : '-');
const table = (head: string[], rows: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];

/** A system's decode at one context: what it reads a step, how fast, against the floor. */
export interface DecodeEntry { system: string; context: number; msPerToken: number; bytesPerStep?: number; gbps?: number; floorMs?: number; pctOfFloor?: number }

/** A csattn row's system name: 'csattn full' or 'csattn CSA', with what sets the row apart (variantOf). */
export function csattnSystem(r: BenchRow, attention: 'full' | 'CSA'): string {
  const v = variantOf(r);
  return `csattn ${attention}${v ? ` (${v})` : ''}`;
}

/** A llama-bench row's system name: its weights, and its K/V type where not f16. */
export function llamaSystem(l: Pick<LlamaDecode, 'weights' | 'kv'>): string {
  return `llama.cpp ${l.weights}${l.kv !== 'f16' ? ` (${l.kv} K/V)` : ''}`;
}

/**
 * Every system's batch-1 decode for the main model, with bytes per step where known: csattn's from
 * its rows, PyTorch's from its own count, llama.cpp's as its weight file plus the K/V rows it
 * attends (csattn's f16 row size at the same shape; a q8_0 cache holds 34 bytes per 32 values).
 */
export function decodeEntries(x: BenchInputs, model: string): DecodeEntry[] {
  const rows = x.csattn.filter((r) => r.model === model);
  const peak = rows.find((r) => r.peak)?.peak?.gbps;
  const kvRow = rows.find((r) => (r.kv ?? 'f16') === 'f16')?.kvRowBytes;
  const llamaRow = (kv: string) => kvRow && (kv === 'q8_0' ? (kvRow * 34) / 64 : kvRow);
  const entry = (system: string, context: number, msPerToken: number, bytesPerStep?: number): DecodeEntry => {
    const floorMs = bytesPerStep && peak ? bytesPerStep / peak / 1e6 : undefined;
    return { system, context, msPerToken, bytesPerStep, gbps: bytesPerStep ? bytesPerStep / msPerToken / 1e6 : undefined, floorMs, pctOfFloor: floorMs ? (100 * floorMs) / msPerToken : undefined };
  };
  return [
    ...rows.flatMap((r) => [entry(csattnSystem(r, 'full'), r.context, r.full.msPerToken, r.full.bytesPerStep), entry(csattnSystem(r, 'CSA'), r.context, r.csa.msPerToken, r.csa.bytesPerStep)]),
    ...x.llamaDecode.map((l) => {
      const row = llamaRow(l.kv);
      return entry(llamaSystem(l), l.context, l.msPerToken, row ? l.modelBytes + (l.context + 32) * row : undefined);
    }),
    ...x.pytorch.filter((t) => !t.error).map((t) => entry('PyTorch', t.context, t.msPerToken, t.bytesPerStep)),
  ];
}

/** Aggregate tokens/s of B sequences over one context: llama.cpp's shared-prompt batches beside csattn's (f16 rows, default settings). */
export interface BatchEntry { context: number; batch: number; llama?: number; full?: number; csa?: number }

export function batchEntries(x: BenchInputs, model: string): BatchEntry[] {
  const entries = new Map<string, BatchEntry>();
  const at = (context: number, batch: number) => {
    const key = `${nominal(context)}/${batch}`;
    if (!entries.has(key)) entries.set(key, { context: nominal(context), batch });
    return entries.get(key)!;
  };
  for (const b of x.llamaBatched) at(b.context, b.batch).llama = b.tokensPerSecond;
  for (const r of x.csattn.filter((row) => row.model === model && !variantOf(row))) {
    for (const b of r.batches ?? []) at(r.context, b.batch)[b.attention] = b.tokensPerSecond;
  }
  return [...entries.values()].sort((a, b) => a.context - b.context || a.batch - b.batch);
}

const PEERS = ['llama.cpp F16', 'llama.cpp Q8_0', 'llama.cpp Q4_K_M', 'PyTorch'];

/** llama.cpp's weights of the same size as csattn's: Q8_0 for q8, Q4_K_M for q4. */
const LLAMA_WEIGHTS = { f16: 'F16', q8: 'Q8_0', q4: 'Q4_K_M' } as const;

/** The llama.cpp entry at a csattn row's precision: its weights, with a q8_0 K/V cache for a q8 one where measured. */
function peerOf(r: BenchRow, at: (system: string) => DecodeEntry | undefined): DecodeEntry | undefined {
  const weights = LLAMA_WEIGHTS[r.weights ?? 'f16'];
  return (r.kv === 'q8' ? at(llamaSystem({ weights, kv: 'q8_0' })) : undefined) ?? at(llamaSystem({ weights, kv: 'f16' }));
}

/**
 * The report's Markdown, from the parsed lines; `model` is the shape the peers ran (Llama-3.1-8B);
 * `lead`: lines that go first after the heading line (report.mjs: the issues' targets).
 */
export function benchReport(x: BenchInputs, model = 'llama-3.1-8b', lead: string[] = []): { markdown: string; summary: Record<string, unknown>[] } {
  const entries = decodeEntries(x, model);
  const contexts = [...new Set(entries.map((e) => nominal(e.context)))].sort((a, b) => a - b);
  const at = (system: string, c: number) => entries.find((e) => e.system === system && nominal(e.context) === c);
  const main = x.csattn.filter((r) => r.model === model);
  const peak = main.find((r) => r.peak)?.peak;
  const out: string[] = [];
  const m = x.meta;
  out.push(`Measured ${m.date ?? '(date not recorded)'} on ${m.machine ?? main[0]?.adapter ?? 'an unrecorded adapter'}, csattn ${m.commit ?? '(commit not recorded)'}` +
    `${x.llamaDecode[0] ? `, llama.cpp ${x.llamaDecode[0].commit}` : ''}${x.pytorch[0]?.torch ? `, torch ${x.pytorch[0].torch}` : ''}. ` +
    `Floors at ${peak ? `${peak.gbps} GB/s (${peak.source})` : 'an unknown bandwidth'}; ratios are peer ms / csattn ms (above 1: csattn is faster).`, '', ...lead);

  // Decode at batch 1.
  const summary = contexts.map((c) => Object.fromEntries([['context', c], ...['csattn full', 'csattn CSA', ...PEERS].map((s) => [s, at(s, c)?.msPerToken ?? null])]));
  out.push(`### Decode, batch 1, ${model} shape (ms per token; CSA at sparsity ${main[0]?.sparsity ?? '?'})`, '');
  out.push(...table(['context', 'csattn full', 'csattn CSA', ...PEERS, 'CSA vs llama.cpp F16', 'CSA vs PyTorch', 'full vs llama.cpp F16'], contexts.map((c) => {
    const ms = (s: string) => at(s, c)?.msPerToken;
    return [k(c), ...['csattn full', 'csattn CSA', ...PEERS].map((s) => f(ms(s))), ratio(ms('llama.cpp F16'), ms('csattn CSA')), ratio(ms('PyTorch'), ms('csattn CSA')), ratio(ms('llama.cpp F16'), ms('csattn full'))];
  })), '');

  // Quantized and other variants, each beside the llama.cpp row of its precision.
  const variants = [...new Set(main.map(variantOf).filter(Boolean))];
  if (variants.length) {
    out.push('### Quantized weights and K/V, and CSA variants (ms per token), beside llama.cpp at the same precision', '');
    out.push(...table(['context', 'csattn', 'full', 'CSA', 'llama.cpp', 'llama.cpp ms', 'CSA vs llama.cpp', 'full vs llama.cpp'], contexts.flatMap((c) =>
      variants.flatMap((v) => {
        const r = main.find((row) => variantOf(row) === v && nominal(row.context) === c);
        if (!r) return [];
        const peer = peerOf(r, (s) => at(s, c));
        return [[k(c), v, f(r.full.msPerToken), f(r.csa.msPerToken), peer?.system ?? '-', f(peer?.msPerToken), ratio(peer?.msPerToken, r.csa.msPerToken), ratio(peer?.msPerToken, r.full.msPerToken)]];
      }))), '');
  }

  // Against the floor.
  out.push('### Against the bandwidth floor (weights + attended K/V a step)', '');
  out.push(...table(['context', 'system', 'ms/token', 'GB a step', 'GB/s', 'floor ms', '% of floor'], contexts.flatMap((c) =>
    entries.filter((e) => nominal(e.context) === c).map((e) => [k(c), e.system, f(e.msPerToken), f(e.bytesPerStep && e.bytesPerStep / 1e9), f(e.gbps, 0), f(e.floorMs), e.pctOfFloor ? `${f(e.pctOfFloor, 0)}%` : '-']))), '');

  // Prefill.
  const pre = main.filter((r) => r.prefillMs !== null);
  const llamaPre = (c: number) => x.llamaBatched.find((b) => b.batch === 1 && nominal(b.context) === c);
  const torchPre = (c: number) => x.pytorch.find((t) => !t.error && nominal(t.context) === c);
  out.push('### Prefill of the whole context (seconds)', '');
  out.push(...table(['context', 'csattn prefill', 'csattn tables', 'csattn total', 'llama.cpp F16', 'PyTorch', 'total vs llama.cpp', 'total vs PyTorch'], pre.map((r) => {
    const c = nominal(r.context), total = (r.prefillMs! + r.tablesMs) / 1e3, l = llamaPre(c)?.prefillMs, t = torchPre(c)?.prefillMs;
    return [k(c), f(r.prefillMs! / 1e3, 1), f(r.tablesMs / 1e3, 1), f(total, 1), f(l && l / 1e3, 1), f(t && t / 1e3, 1), l ? `${f(total / (l / 1e3))}x` : '-', t ? `${f(total / (t / 1e3))}x` : '-'];
  })), '(here a ratio is csattn s / peer s: above 1, csattn is slower)', '');

  // Shared-prompt batches.
  const batched = batchEntries(x, model);
  if (batched.length) {
    out.push('### Many sequences over one shared prompt (aggregate decode tokens/s; ratios: csattn / llama.cpp)', '');
    if (x.csattn.some((r) => r.batches?.length && r.batchQuestions !== 'own')) out.push('csattn\'s batches here asked every sequence the same question: its CSA selections were one, which flatters CSA.', '');
    out.push(...table(['context', 'B', 'llama.cpp F16', 'csattn full', 'csattn CSA', 'full vs llama.cpp', 'CSA vs llama.cpp'], batched.map((b) =>
      [k(b.context), String(b.batch), f(b.llama, 0), f(b.full, 0), f(b.csa, 0), ratio(b.full, b.llama), ratio(b.csa, b.llama)])), '');
  }

  // What Dawn reaches, and the decode kernels against it.
  out.push('### What Dawn reaches on this GPU, and the decode kernels against it', '');
  const probes: string[][] = [];
  if (x.read) probes.push(['grid-stride read of one buffer (scripts/bench/read-bandwidth.mjs)', `${f(x.read.best.gbps, 0)} GB/s`, `${x.read.best.loadsInFlight} vec4 loads in flight, ${x.read.best.workgroups} workgroups of 256, ${f(x.read.bytes / 1e9)} GB`]);
  for (const v of x.matrix?.variants ?? []) probes.push([`subgroup-matrix f16 MMA, operands from ${v.name} (scripts/bench/subgroup-matrix.mjs)`, `${f(v.tflops, 0)} TFLOP/s`, '']);
  for (const r of main) {
    const mv = r.full.kernels?.find((q) => q.kernel === 'matvec')?.stepMs;
    const att = r.full.kernels?.find((q) => isDecodeAttention(q.kernel))?.stepMs;
    const kv = r.full.bytesPerStep - r.weightBytes;
    const at = `${k(nominal(r.context))}${variantOf(r) ? ` (${variantOf(r)})` : ''}`;
    const pct = (gbps: number) => (x.read ? ` (${f((100 * gbps) / x.read.best.gbps, 0)}% of the read probe)` : '');
    if (mv) probes.push([`${at}: decode matvecs, all weights (of the step)`, `${f(r.weightBytes / mv / 1e6, 0)} GB/s`, `${f(mv)} ms for ${f(r.weightBytes / 1e9)} GB${pct(r.weightBytes / mv / 1e6)}`]);
    if (att) probes.push([`${at}: full attention_decode (of the step)`, `${f(kv / att / 1e6, 0)} GB/s`, `${f(att)} ms for ${f(kv / 1e9)} GB of K/V${pct(kv / att / 1e6)}`]);
  }
  out.push(...table(['what', 'figure', 'how'], probes), '');

  // Checks of the PyTorch peer.
  if (x.checks.length || x.pytorch.length) {
    out.push('### The PyTorch peer', '');
    for (const c of x.checks) out.push(`- logits against ${c.against} on a small model of the family: prefill ${c.prefillRelDiff.toExponential(1)}, decode ${c.decodeRelDiff.toExponential(1)} of the logit range`);
    for (const t of x.pytorch) out.push(`- ${k(nominal(t.context))}: ${t.error ?? `${t.decodeMode}${t.compiledVsEager !== undefined ? `; compiled step vs eager SDPA ${t.compiledVsEager.toExponential(1)} of the logit range` : ''}`}`);
    out.push('');
  }

  out.push('### csattn, every row', '', ...benchTable(x.csattn), '');
  return { markdown: out.join('\n'), summary };
}

/** Decode ms/token against context (log2 x axis) for every system, floors dashed. */
export function benchChart(x: BenchInputs, model = 'llama-3.1-8b'): string {
  const entries = decodeEntries(x, model);
  const colors: Record<string, string> = {
    'csattn full': '#c0392b', 'csattn CSA': '#2471a3', 'llama.cpp F16': '#27ae60', 'llama.cpp Q8_0': '#7dcea0', 'llama.cpp Q4_K_M': '#a9dfbf', PyTorch: '#7f8c8d',
  };
  const main = x.csattn.filter((r) => r.model === model);
  const series: [string, string, [number, number][], boolean][] = [
    ...Object.entries(colors).map(([s, color]) => [s, color, entries.filter((e) => e.system === s).map((e) => [nominal(e.context), e.msPerToken]), false] as [string, string, [number, number][], boolean]),
    ['csattn full floor', '#e6b0aa', main.filter((r) => r.full.floorMs !== null).map((r) => [nominal(r.context), r.full.floorMs!]), true],
    ['csattn CSA floor', '#a9cce3', main.filter((r) => r.csa.floorMs !== null).map((r) => [nominal(r.context), r.csa.floorMs!]), true],
  ];
  const W = 680, H = 380, L = 60, R = 190, T = 24, B = 50;
  const pts = series.flatMap(([, , p]) => p);
  if (!pts.length) return '<svg xmlns="http://www.w3.org/2000/svg"/>\n';
  const xs = pts.map(([c]) => Math.log2(c));
  const x0 = Math.min(...xs) - 0.2, x1 = Math.max(...xs) + 0.2, y1 = Math.max(...pts.map(([, y]) => y)) * 1.1;
  const px = (c: number) => L + ((Math.log2(c) - x0) / (x1 - x0)) * (W - L - R), py = (y: number) => H - B - (y / y1) * (H - T - B);
  const gpu = x.meta.machine ?? main[0]?.adapter ?? '';
  const svg = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<text x="${L}" y="14">decode ms/token, ${model} shape, batch 1${gpu ? `, ${gpu}` : ''}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`];
  for (const c of new Set(pts.map(([c]) => c))) svg.push(`<text x="${px(c) - 14}" y="${H - B + 16}">${k(c)}</text>`);
  for (let i = 0; i <= 4; i++) svg.push(`<text x="8" y="${py((y1 * i) / 4) + 4}">${f((y1 * i) / 4, 1)}</text>`);
  svg.push(`<text x="${(W - R) / 2}" y="${H - 10}">context tokens</text>`);
  series.filter(([, , p]) => p.length).forEach(([name, color, p, dashed], i) => {
    const s = [...p].sort((a, b) => a[0] - b[0]);
    svg.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="5,4"' : ''} points="${s.map(([c, y]) => `${px(c)},${py(y)}`).join(' ')}"/>`);
    for (const [c, y] of s) svg.push(`<circle cx="${px(c)}" cy="${py(y)}" r="3" fill="${color}"/>`);
    svg.push(`<rect x="${W - R + 10}" y="${T + i * 18}" width="12" height="3" fill="${color}"/><text x="${W - R + 28}" y="${T + i * 18 + 5}">${name}</text>`);
  });
  return svg.join('\n') + '\n</svg>\n';
}
