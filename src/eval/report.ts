/**
 * The bookkeeping of `csattn eval`: per-record results of every method, their aggregates (mean
 * LongBench scores per dataset, method and sparsity, plus a macro average over datasets), the JSON
 * report that --resume and --shard read back, the terminal table, and saving on Ctrl-C.
 */
import { check, CsattnError } from '../errors.js';
import { readInputFile, writeFileAtomic } from '../fsutil.js';
import { maxOf } from '../arrays.js';
import { ATTENTION_KINDS } from '../attention/methods.js';


/** How a sparse method's answer compares with full attention's on the same record. */
export interface Agreement {
  exactMatch: boolean;
  /** tokens until the first differing token; = length if none */
  firstDivergence: number;
  /** teacher-forced top-1 agreement rate on the full answer, 0..1 */
  top1: number;
  /** mean KL(full || method) over the full answer's positions */
  meanKl: number;
}

export interface MethodResult {
  /** An AttentionKind (src/attention/methods.ts): 'full' or a sparse method. */
  method: string;
  /** null for full */
  sparsity: number | null;
  prediction: string;
  /** 0..100 */
  score: number;
  msPerToken: number;
  tokens: number;
  /** absent for full */
  agreement?: Agreement;
  /** recall@K of the oracle's keys per layer, 0..1 */
  recall?: number[];
  /** The same over the keys chosen by score (sinks and window left out: every method holds them). */
  chosenRecall?: number[];
  /**
   * csa, keypq: the probe step's query sub-vectors' cosine to their nearest centroid of the method's
   * tables (prefill queries' for csa, keys' for keypq), per layer: mean over subspaces and heads.
   */
  centroidCosine?: number[];
  /** The same per table group of the method: [layer][group] (KV heads, or query heads for query-head tables). */
  centroidCosineGroups?: number[][];
}

export interface RecordResult {
  /** stable id: file + ':' + line (+ _id if any) */
  key: string;
  file: string;
  line: number;
  id?: string;
  dataset: string;
  contextTokens: number;
  answers: string[];
  results: MethodResult[];
  /**
   * Wall time of the record (absent in reports from before it was kept): its bundle opened into a
   * session (prefilled first when not cached), and its runs answered (with recall probes, if any).
   */
  timings?: RecordTimings;
}

export interface RecordTimings { openMs: number; runsMs: number }

export interface Aggregate {
  dataset: string;
  method: string;
  sparsity: number | null;
  n: number;
  score: number;
  delta_vs_full: number | null;
  /** exact-match rate */
  agreement: number | null;
  /** mean over records and layers */
  recall: number | null;
  /** the same over the chosen part (absent in reports from before it was measured) */
  chosen_recall?: number | null;
  /** mean over records and layers of centroidCosine (absent in reports from before it was measured) */
  centroid_cosine?: number | null;
  ms_per_token: number;
}

export interface Skipped { file: string; line: number; reason: string }

export interface Report {
  version: 1;
  created: string;
  /** The model folder's name. */
  model: string;
  /** The model's fingerprint (bundle.ts modelIdentity): what merge compares. Absent in older reports. */
  modelFingerprint?: string;
  options: Record<string, unknown>;
  /** The metric each dataset was scored with (absent in reports of csattn before it was recorded). */
  metrics?: Record<string, string>;
  aggregates: Aggregate[];
  records: RecordResult[];
  skipped: Skipped[];
}

export interface ReportMeta { model: string; modelFingerprint?: string; options: Record<string, unknown>; metrics?: Record<string, string>; created?: string }

/** The pseudo-dataset of the rows that average over datasets. */
export const ALL_DATASETS = 'all';

/** Table and legend order; methods not listed follow, by name. */
export const METHOD_ORDER: readonly string[] = ATTENTION_KINDS;

/**
 * Options that differ between runs of one evaluation (shards, resumed runs, where to write):
 * ignored when reports are merged.
 */
export const PER_RUN_OPTIONS: ReadonlySet<string> = new Set(['shard', 'resume', 'out', 'html', 'logLevel', 'limit']);

/** "csa@0.95", or just the method for full attention. */
export function methodLabel(method: string, sparsity: number | null): string {
  return sparsity === null ? method : `${method}@${sparsity}`;
}

// ---- aggregates ----

/** Mean of xs, or null when there is nothing to average. */
function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

interface Entry { record: RecordResult; result: MethodResult }

/** Items with equal keys, in order of first appearance. */
export function groupBy<T>(items: T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return [...groups.values()];
}

/** Time per generated token over all of a group's tokens (a record that generated more weighs more). */
function msPerToken(results: MethodResult[]): number {
  const tokens = results.reduce((n, r) => n + r.tokens, 0);
  if (tokens === 0) return 0;
  return results.reduce((ms, r) => ms + r.msPerToken * r.tokens, 0) / tokens;
}

/** One (dataset, method, sparsity) row. Δ vs full is paired: only records that also have a full result count. */
function cellAggregate(entries: Entry[]): Aggregate {
  const { record, result } = entries[0];
  const results = entries.map((e) => e.result);
  const deltas = entries.flatMap(({ record: rec, result: res }) => {
    const full = rec.results.find((r) => r.method === 'full');
    return full === undefined ? [] : [res.score - full.score];
  });
  const agreements = results.flatMap((r) => (r.agreement ? [r.agreement.exactMatch ? 1 : 0] : []));
  return {
    dataset: record.dataset,
    method: result.method,
    sparsity: result.sparsity,
    n: entries.length,
    score: mean(results.map((r) => r.score))!,
    delta_vs_full: result.method === 'full' ? null : mean(deltas),
    agreement: mean(agreements),
    recall: mean(results.flatMap((r) => r.recall ?? [])),
    chosen_recall: mean(results.flatMap((r) => r.chosenRecall ?? [])),
    centroid_cosine: mean(results.flatMap((r) => r.centroidCosine ?? [])),
    ms_per_token: msPerToken(results),
  };
}

/** The macro average of one method's per-dataset rows: every dataset weighs the same. */
function macroAggregate(rows: Aggregate[]): Aggregate {
  const macro = (pick: (a: Aggregate) => number | null) => mean(rows.flatMap((a) => pick(a) ?? []));
  return {
    dataset: ALL_DATASETS,
    method: rows[0].method,
    sparsity: rows[0].sparsity,
    n: rows.reduce((n, a) => n + a.n, 0),
    score: macro((a) => a.score)!,
    delta_vs_full: macro((a) => a.delta_vs_full),
    agreement: macro((a) => a.agreement),
    recall: macro((a) => a.recall),
    chosen_recall: macro((a) => a.chosen_recall ?? null),
    centroid_cosine: macro((a) => a.centroid_cosine ?? null),
    ms_per_token: macro((a) => a.ms_per_token)!,
  };
}

function methodRank(method: string): number {
  const i = METHOD_ORDER.indexOf(method);
  return i < 0 ? METHOD_ORDER.length : i;
}

/** Methods in METHOD_ORDER (others after, by name), then by sparsity, full's null first. */
export function compareMethods(a: { method: string; sparsity: number | null }, b: { method: string; sparsity: number | null }): number {
  return methodRank(a.method) - methodRank(b.method)
    || compareStrings(a.method, b.method)
    || (a.sparsity ?? -1) - (b.sparsity ?? -1);
}

/** Datasets by name with "all" last, then methods. */
function compareRows(a: Aggregate, b: Aggregate): number {
  const allLast = Number(a.dataset === ALL_DATASETS) - Number(b.dataset === ALL_DATASETS);
  return allLast || compareStrings(a.dataset, b.dataset) || compareMethods(a, b);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const methodKey = (method: string, sparsity: number | null) => `${method}\u0000${sparsity}`;

/** One row per (dataset, method, sparsity), then the "all" rows (macro average over datasets). */
export function aggregate(records: RecordResult[]): Aggregate[] {
  const entries = records.flatMap((record) => record.results.map((result) => ({ record, result })));
  const rows = groupBy(entries, (e) => `${e.record.dataset}\u0000${methodKey(e.result.method, e.result.sparsity)}`)
    .map(cellAggregate);
  const all = groupBy(rows, (a) => methodKey(a.method, a.sparsity)).map(macroAggregate);
  return [...rows, ...all].sort(compareRows);
}

export function buildReport(records: RecordResult[], skipped: Skipped[], meta: ReportMeta): Report {
  return {
    version: 1,
    created: meta.created ?? new Date().toISOString(),
    model: meta.model,
    ...(meta.modelFingerprint === undefined ? {} : { modelFingerprint: meta.modelFingerprint }),
    options: meta.options,
    metrics: Object.fromEntries(Object.entries(meta.metrics ?? {}).sort(([a], [b]) => compareStrings(a, b))),
    aggregates: aggregate(records),
    records,
    skipped,
  };
}

// ---- the table ----

export interface Column { title: string; numeric: boolean; cell: (a: Aggregate) => string }

const NONE = '—';
const percent = (x: number | null) => (x === null ? NONE : `${(100 * x).toFixed(1)}%`);
const signed = (x: number | null) => (x === null ? NONE : `${x > 0 ? '+' : ''}${x.toFixed(1)}`);
const fixed3 = (x: number | null) => (x === null ? NONE : x.toFixed(3));

/** The aggregate columns, shared by the terminal table and the HTML page. */
export const TABLE_COLUMNS: Column[] = [
  { title: 'dataset', numeric: false, cell: (a) => a.dataset },
  { title: 'method', numeric: false, cell: (a) => methodLabel(a.method, a.sparsity) },
  { title: 'n', numeric: true, cell: (a) => String(a.n) },
  { title: 'score', numeric: true, cell: (a) => a.score.toFixed(1) },
  { title: 'Δ vs full', numeric: true, cell: (a) => signed(a.delta_vs_full) },
  { title: 'agreement', numeric: true, cell: (a) => percent(a.agreement) },
  { title: 'recall', numeric: true, cell: (a) => percent(a.recall) },
  { title: 'chosen recall', numeric: true, cell: (a) => percent(a.chosen_recall ?? null) },
  { title: 'centroid cos', numeric: true, cell: (a) => fixed3(a.centroid_cosine ?? null) },
  { title: 'ms/token', numeric: true, cell: (a) => a.ms_per_token.toFixed(2) },
];

/** Aligned columns (text left, numbers right), a rule under the header and between datasets. */
export function formatTable(aggs: Aggregate[]): string {
  const rows = aggs.map((a) => TABLE_COLUMNS.map((c) => c.cell(a)));
  const widths = TABLE_COLUMNS.map((c, i) => maxOf(rows.map((r) => r[i].length), c.title.length));
  const line = (cells: string[]) => cells
    .map((text, i) => (TABLE_COLUMNS[i].numeric ? text.padStart(widths[i]) : text.padEnd(widths[i])))
    .join('  ');
  const rule = '─'.repeat(widths.reduce((sum, w) => sum + w + 2, -2));
  const out = [line(TABLE_COLUMNS.map((c) => c.title)), rule];
  rows.forEach((cells, i) => {
    if (i > 0 && aggs[i].dataset !== aggs[i - 1].dataset) out.push(rule);
    out.push(line(cells));
  });
  return out.join('\n');
}

// ---- validation (what loadReport accepts and writeReport refuses to write otherwise) ----

/** Checks a value; returns what is wrong with it, naming where, or undefined. */
type Shape = (v: unknown, at: string) => string | undefined;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function firstProblem<T>(items: Iterable<T>, problem: (item: T) => string | undefined): string | undefined {
  for (const item of items) {
    const p = problem(item);
    if (p !== undefined) return p;
  }
  return undefined;
}

const is = (expected: string, ok: (v: unknown) => boolean): Shape => (v, at) => (ok(v) ? undefined : `${at} must be ${expected}`);
const str = is('a string', (v) => typeof v === 'string');
const bool = is('true or false', (v) => typeof v === 'boolean');
const int = is('a whole number', (v) => Number.isSafeInteger(v) && (v as number) >= 0);
// JSON has no NaN or Infinity (JSON.stringify writes null), so a report holds finite numbers only.
const num = is('a finite number', Number.isFinite);
const unit = is('a number in [0, 1]', (v) => Number.isFinite(v) && (v as number) >= 0 && (v as number) <= 1);
const cosine = is('a number in [-1, 1]', (v) => Number.isFinite(v) && Math.abs(v as number) <= 1);
const mapOf = (s: Shape): Shape => (v, at) =>
  isObject(v) ? firstProblem(Object.keys(v), (k) => s(v[k], `${at}.${k}`)) : `${at} must be a JSON object`;
const nullable = (s: Shape): Shape => (v, at) => (v === null ? undefined : s(v, at));
const optional = (s: Shape): Shape => (v, at) => (v === undefined ? undefined : s(v, at));
const arrayOf = (s: Shape): Shape => (v, at) =>
  Array.isArray(v) ? firstProblem(v.keys(), (i) => s(v[i], `${at}[${i}]`)) : `${at} must be an array`;
const object = (fields: Record<string, Shape>): Shape => (v, at) =>
  isObject(v)
    ? firstProblem(Object.entries(fields), ([name, s]) => s(v[name], at === '' ? name : `${at}.${name}`))
    : `${at || 'the file'} must be a JSON object`;

const AGREEMENT = object({ exactMatch: bool, firstDivergence: int, top1: unit, meanKl: num });
const METHOD_RESULT = object({
  method: str, sparsity: nullable(unit), prediction: str, score: num, msPerToken: num, tokens: int,
  agreement: optional(AGREEMENT), recall: optional(arrayOf(unit)), chosenRecall: optional(arrayOf(unit)),
  centroidCosine: optional(arrayOf(cosine)), centroidCosineGroups: optional(arrayOf(arrayOf(cosine))),
});
const RECORD = object({
  key: str, file: str, line: int, id: optional(str), dataset: str, contextTokens: int,
  answers: arrayOf(str), results: arrayOf(METHOD_RESULT), timings: optional(object({ openMs: num, runsMs: num })),
});
const AGGREGATE = object({
  dataset: str, method: str, sparsity: nullable(unit), n: int, score: num,
  delta_vs_full: nullable(num), agreement: nullable(unit), recall: nullable(unit), chosen_recall: optional(nullable(unit)),
  centroid_cosine: optional(nullable(cosine)), ms_per_token: num,
});
const REPORT = object({
  version: is('1', (v) => v === 1),
  created: str,
  model: str,
  modelFingerprint: optional(str),
  options: is('a JSON object', isObject),
  metrics: optional(mapOf(str)),
  records: arrayOf(RECORD),
  skipped: arrayOf(object({ file: str, line: int, reason: str })),
  aggregates: arrayOf(AGGREGATE), // last: a bad record is the cause of a bad aggregate
});

// ---- files ----

/** Writes the report as JSON, atomically; refuses one that loadReport would reject. */
export async function writeReport(path: string, r: Report): Promise<void> {
  const problem = REPORT(r, '');
  check(problem === undefined, () => `cannot write ${path}: the report's ${problem}`);
  await writeFileAtomic(path, [Buffer.from(JSON.stringify(r, null, 1) + '\n')]);
}

export async function loadReport(path: string): Promise<Report> {
  const text = readInputFile(path, 'report').toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CsattnError(`${path} is not valid JSON (${(e as Error).message}): is it a csattn eval report?`, 'format');
  }
  const problem = REPORT(json, '');
  check(problem === undefined, () => `${path} is not a csattn eval report: ${problem}`, 'format');
  return json as Report;
}

// ---- shards and resuming ----

/** Keys in sorted order with their values as JSON, so equal options compare equal whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

function sharedOptions(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([k]) => !PER_RUN_OPTIONS.has(k)));
}

/** What an option absent from a report meant: reports from before --question-attention asked with full attention, those from before --weights and --kv ran f16. */
const OPTION_DEFAULTS: Record<string, unknown> = { questionAttention: 'full', weights: 'f16', kv: 'f16' };

/** The one option on which b disagrees with a, if any. */
function conflictingOption(a: Record<string, unknown>, b: Record<string, unknown>): string | undefined {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].sort().find((k) => canonical(a[k]) !== canonical(b[k]));
}

function byFileAndLine(a: { file: string; line: number }, b: { file: string; line: number }): number {
  return compareStrings(a.file, b.file) || a.line - b.line;
}

/** Values in order, keeping the first of each key. */
function uniqueBy<T>(items: T[], keyOf: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(keyOf(item))) seen.set(keyOf(item), item);
  return [...seen.values()];
}

/**
 * Joins the reports of shards (or of an interrupted run and its --resume) into one: same model
 * and same options (but PER_RUN_OPTIONS) required; a record in several parts is kept once, from
 * the first; records in (file, line) order; aggregates recomputed.
 */
export function mergeReports(reports: Report[]): Report {
  check(reports.length > 0, 'no reports to merge');
  const [first] = reports;
  const options = sharedOptions(first.options);
  // Compared with absent options at their defaults; the merged report keeps the first's as written.
  const ours = { ...OPTION_DEFAULTS, ...options };
  for (const r of reports.slice(1)) {
    checkSameModel(first, r);
    const theirs = { ...OPTION_DEFAULTS, ...sharedOptions(r.options) };
    const name = conflictingOption(ours, theirs);
    check(name === undefined, () =>
      `cannot merge reports run with different options: "${name}" is ${canonical(ours[name!])} in one and ${canonical(theirs[name!])} in another`);
  }
  const metrics = mergeMetrics(reports);
  const records = uniqueBy(reports.flatMap((r) => r.records), (rec) => rec.key).sort(byFileAndLine);
  const skipped = uniqueBy(reports.flatMap((r) => r.skipped), (s) => `${s.file}:${s.line}`).sort(byFileAndLine);
  const created = reports.map((r) => r.created).sort().at(-1)!;
  const modelFingerprint = reports.find((r) => r.modelFingerprint !== undefined)?.modelFingerprint;
  return buildReport(records, skipped, { model: first.model, modelFingerprint, options, metrics, created });
}

/** Every report's dataset → metric entries; a dataset scored with two metrics makes the scores incomparable. */
function mergeMetrics(reports: Report[]): Record<string, string> {
  const metrics = new Map<string, string>();
  for (const [dataset, metric] of reports.flatMap((r) => Object.entries(r.metrics ?? {}))) {
    const before = metrics.get(dataset);
    check(before === undefined || before === metric,
      `cannot merge reports that score dataset "${dataset}" with different metrics ("${before}" in one, "${metric}" in another)`);
    metrics.set(dataset, metric);
  }
  return Object.fromEntries(metrics);
}

/**
 * Reports of one model only: by fingerprint when both have one (the same weights in folders of
 * other names merge; other weights in a folder of the same name do not), else by folder name.
 */
function checkSameModel(a: Report, b: Report): void {
  const describe = (r: Report) => `"${r.model}"${r.modelFingerprint ? ` (fingerprint ${r.modelFingerprint.slice(0, 12)})` : ''}`;
  const same = a.modelFingerprint !== undefined && b.modelFingerprint !== undefined
    ? a.modelFingerprint === b.modelFingerprint
    : a.model === b.model;
  check(same, () => `cannot merge reports of different models (${describe(a)} and ${describe(b)})`);
}

/** "i/n" (1-based, 1 ≤ i ≤ n) → its numbers, or a CsattnError saying what --shard expects. */
export function parseShard(spec: string): { i: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const i = Number(m?.[1]);
  const n = Number(m?.[2]);
  check(m && Number.isSafeInteger(n) && i >= 1 && i <= n,
    `--shard must be "i/n" with 1 ≤ i ≤ n (e.g. "2/4" for the second of four shards), got "${spec}"`, 'usage');
  return { i, n };
}

/** A whole number of a job runner's environment variable, or an error naming the variable. */
function envIndex(env: Record<string, string | undefined>, name: string): number {
  const v = env[name];
  check(v !== undefined && /^\d+$/.test(v.trim()) && Number.isSafeInteger(Number(v)),
    `--shard auto: ${name} is ${v === undefined ? 'not set' : `"${v}", not a whole number`}`, 'usage');
  return Number(v);
}

/**
 * --shard auto: "i/n" for this task of a Slurm job array (task SLURM_ARRAY_TASK_ID of
 * SLURM_ARRAY_TASK_COUNT from SLURM_ARRAY_TASK_MIN) or of a Kubernetes Indexed Job
 * (JOB_COMPLETION_INDEX; the Job's completions are not in the environment, so `shards` gives n).
 */
export function shardFromEnv(env: Record<string, string | undefined>, shards?: number): string {
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const id = envIndex(env, 'SLURM_ARRAY_TASK_ID');
    const min = envIndex(env, 'SLURM_ARRAY_TASK_MIN');
    const n = envIndex(env, 'SLURM_ARRAY_TASK_COUNT');
    // Tasks must be numbered min, min + 1, ...: a step or a list would leave shards out.
    const max = env.SLURM_ARRAY_TASK_MAX === undefined ? min + n - 1 : envIndex(env, 'SLURM_ARRAY_TASK_MAX');
    check(max - min + 1 === n && id >= min && id <= max,
      `--shard auto: Slurm array task ${id} of ${n} numbered ${min}..${max} is not in a contiguous array: use --array=0-${n - 1} (no step, no list)`, 'usage');
    check(shards === undefined || shards === n, `--shards ${shards} disagrees with the Slurm array's ${n} tasks`, 'usage');
    return `${id - min + 1}/${n}`;
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const index = envIndex(env, 'JOB_COMPLETION_INDEX');
    check(shards !== undefined,
      '--shard auto in a Kubernetes Indexed Job needs --shards N (the Job\'s completions, which Kubernetes does not put in the environment)', 'usage');
    check(index < shards, `--shard auto: JOB_COMPLETION_INDEX ${index} is not below --shards ${shards}`, 'usage');
    return `${index + 1}/${shards}`;
  }
  throw new CsattnError('--shard auto: neither a Slurm job array (SLURM_ARRAY_TASK_ID) nor a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) is set: give --shard i/n', 'usage');
}

/** Whether record `index` (0-based, in reading order) belongs to shard i of n: records are dealt round-robin. */
export function shardOf(index: number, spec: string): boolean {
  const { i, n } = parseShard(spec);
  return index % n === i - 1;
}

/** The records not yet in `done` (everything when there is no earlier report). */
export function pendingRecords<T extends { key: string }>(all: T[], done: Report | null): T[] {
  const doneKeys = new Set(done?.records.map((r) => r.key));
  return all.filter((r) => !doneKeys.has(r.key));
}

const INTERRUPTED = 130;

/**
 * On SIGINT or SIGTERM, runs `save` once (further signals wait for it), then exits with status 130.
 * Returns a function that removes the handlers.
 */
export function onInterrupt(save: () => Promise<void>): () => void {
  let saving = false;
  const handler = () => {
    if (saving) return;
    saving = true;
    save()
      .catch((e) => process.stderr.write(`csattn: could not save before exiting: ${(e as Error).message}\n`))
      .finally(() => process.exit(INTERRUPTED));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
