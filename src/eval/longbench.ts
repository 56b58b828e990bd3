/**
 * LongBench records and prompts, following THUDM/LongBench pred.py: one template per dataset
 * (config/dataset2prompt.json, shipped in fixtures/longbench/), middle truncation of long prompts,
 * and the datasets that skip the chat template or keep only the first line of the answer.
 */
import { fileURLToPath } from 'node:url';
import { readInputFile } from '../fsutil.js';
import { check, CsattnError } from '../errors.js';
import { DATASET_METRIC, isMetricName, METRIC_NAMES, type MetricName } from './metrics.js';

export interface LongBenchRecord {
  input: string;
  context: string;
  answers: string[];
  length?: number;
  dataset: string;
  language?: string;
  all_classes?: string[] | null;
  _id?: string;
  outputs?: string[];
}

export interface BadLine { file: string; line: number; reason: string }

export interface Templates {
  prompt: Record<string, string>;
  maxlen: Record<string, number>;
  /** Metrics chosen for datasets (LongBench's own come from metrics.ts). */
  metric: Record<string, MetricName>;
}

/** pred.py builds these prompts without the chat template ("chat models are better off without"). */
export const NO_CHAT_DATASETS: Set<string> = new Set(['trec', 'triviaqa', 'samsum', 'lsht', 'lcc', 'repobench-p']);

// A scoring rule, kept with the metrics; re-exported here with the other per-dataset rules.
export { FIRST_LINE_DATASETS } from './metrics.js';

// ---- JSONL ----

type FieldType = 'string' | 'number' | 'strings';

/** Record fields: type, and whether a line without it is bad (`dataset` may come from the file name instead). */
const FIELDS: ReadonlyArray<[keyof LongBenchRecord, FieldType, boolean]> = [
  ['input', 'string', true],
  ['context', 'string', true],
  ['answers', 'strings', true],
  ['dataset', 'string', false],
  ['length', 'number', false],
  ['language', 'string', false],
  ['all_classes', 'strings', false],
  ['_id', 'string', false],
  ['outputs', 'strings', false],
];

const TYPE_NAMES: Record<FieldType, string> = { string: 'a string', number: 'a number', strings: 'an array of strings' };

function hasType(value: unknown, type: FieldType): boolean {
  if (type === 'strings') return Array.isArray(value) && value.every((v) => typeof v === 'string');
  return typeof value === type;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The record on one line, or why it is not one. Optional fields that are null count as absent. */
function parseRecord(line: string, datasetHint: string | undefined): LongBenchRecord | string {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (e) {
    // V8 quotes the line in its message: keep the reason on one line even if the line holds \r or U+2028.
    return `invalid JSON (${(e as Error).message.replace(/[\r\n\u2028\u2029]/g, ' ')})`;
  }
  if (!isObject(json)) return 'not a JSON object';
  const rec: Record<string, unknown> = {};
  for (const [name, type, required] of FIELDS) {
    const value = json[name];
    if (value === undefined) {
      if (required) return `missing "${name}"`;
      continue;
    }
    if (value === null && !required) continue;
    if (!hasType(value, type)) return `"${name}" must be ${TYPE_NAMES[type]}`;
    rec[name] = value;
  }
  rec.dataset ??= datasetHint;
  if (rec.dataset === undefined) return 'missing "dataset" (and no dataset from the file name)';
  return rec as unknown as LongBenchRecord;
}

/** Parses JSONL text; each bad line (invalid JSON, missing/mistyped field) is reported with its 1-based line number and skipped. `datasetHint` fills `dataset` when a record lacks it (LongBench file names are the dataset). Blank lines are ignored. */
export function parseJsonl(text: string, file: string, datasetHint?: string): { records: LongBenchRecord[]; bad: BadLine[] } {
  const records: LongBenchRecord[] = [];
  const bad: BadLine[] = [];
  text.replace(/^\uFEFF/, '').split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const parsed = parseRecord(line, datasetHint);
    if (typeof parsed === 'string') bad.push({ file, line: i + 1, reason: parsed });
    else records.push(parsed);
  });
  return { records, bad };
}

// ---- templates ----

const FIXTURES = new URL('../../fixtures/longbench/', import.meta.url);

function readJson(path: string | URL): unknown {
  const name = path instanceof URL ? fileURLToPath(path) : path;
  const text = readInputFile(name, 'templates file').toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CsattnError(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}

interface ValueKind<T> { what: string; expected: string; ok: (v: unknown) => v is T }
const PROMPT: ValueKind<string> = { what: 'prompt', expected: 'a string', ok: (v): v is string => typeof v === 'string' };
const MAXLEN: ValueKind<number> = {
  what: 'maxlen', expected: 'a positive integer', ok: (v): v is number => Number.isInteger(v) && (v as number) > 0,
};
const METRIC: ValueKind<MetricName> = { what: 'metric', expected: `one of ${METRIC_NAMES.join(', ')}`, ok: isMetricName };
const SECTIONS = ['prompt', 'maxlen', 'metric'];

/** A dataset → value map whose values are all of `kind`. */
function datasetMap<T>(value: unknown, kind: ValueKind<T>, where: string): Record<string, T> {
  check(isObject(value), `${where}: ${kind.what} must be a JSON object mapping dataset names`);
  for (const [dataset, v] of Object.entries(value)) {
    check(kind.ok(v), `${where}: ${kind.what} for "${dataset}" must be ${kind.expected}`);
  }
  return value as Record<string, T>;
}

/** {"prompt": {...}, "maxlen": {...}, "metric": {...}} (every part optional) or a flat dataset → template map. */
function templatesFrom(json: unknown, where: string): Templates {
  check(isObject(json), `${where}: expected a JSON object`);
  const keys = Object.keys(json);
  const nested = keys.length > 0 && keys.every((k) => SECTIONS.includes(k));
  if (!nested) return { prompt: datasetMap(json, PROMPT, where), maxlen: {}, metric: {} };
  return {
    prompt: datasetMap(json.prompt ?? {}, PROMPT, where),
    maxlen: datasetMap(json.maxlen ?? {}, MAXLEN, where),
    metric: datasetMap(json.metric ?? {}, METRIC, where),
  };
}

/** LongBench's dataset2prompt / dataset2maxlen from fixtures/longbench/, merged with an optional user JSON file {"prompt": {...}, "maxlen": {...}, "metric": {...}} (or a flat dataset->template map). */
export function loadTemplates(extraFile?: string): Templates {
  const base: Templates = {
    prompt: datasetMap(readJson(new URL('dataset2prompt.json', FIXTURES)), PROMPT, 'dataset2prompt.json'),
    maxlen: datasetMap(readJson(new URL('dataset2maxlen.json', FIXTURES)), MAXLEN, 'dataset2maxlen.json'),
    metric: {},
  };
  if (extraFile === undefined) return base;
  const extra = templatesFrom(readJson(extraFile), extraFile);
  return {
    prompt: { ...base.prompt, ...extra.prompt }, maxlen: { ...base.maxlen, ...extra.maxlen }, metric: extra.metric,
  };
}

function own<T>(map: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

function templateFor(rec: LongBenchRecord, t: Templates, defaultTemplate?: string): string {
  const template = own(t.prompt, rec.dataset) ?? defaultTemplate;
  check(template !== undefined, `no prompt template for dataset "${rec.dataset}"`);
  return template;
}

/** str.format(**record) restricted to {context} and {input}: one pass, so text from the record is never re-scanned. */
function fill(template: string, rec: LongBenchRecord): string {
  return template.replace(/\{(context|input)\}/g, (_, name: 'context' | 'input') => rec[name]);
}

/** The prompt for one record: the dataset's template with {context} and {input} filled (Python str.format semantics on exactly those two names; other braces left alone). Record whose dataset has no template → CsattnError naming the dataset, unless defaultTemplate given. */
export function buildPrompt(rec: LongBenchRecord, t: Templates, defaultTemplate?: string): string {
  return fill(templateFor(rec, t, defaultTemplate), rec);
}

/** The prompt split for csattn's reusable-context flow: the context part (everything up to and including {context}) and the question part (the rest, with {input} filled). A template without {context} has an empty context part. */
export function splitPrompt(rec: LongBenchRecord, t: Templates, defaultTemplate?: string): { contextText: string; questionText: string } {
  const template = templateFor(rec, t, defaultTemplate);
  const at = template.indexOf('{context}');
  const cut = at < 0 ? 0 : at + '{context}'.length;
  return { contextText: fill(template.slice(0, cut), rec), questionText: fill(template.slice(cut), rec) };
}

export function maxNewTokens(dataset: string, t: Templates, fallback?: number): number {
  const n = own(t.maxlen, dataset) ?? fallback;
  check(n !== undefined, `no generation length for dataset "${dataset}"`);
  return n;
}

/**
 * The metric of every dataset among `records`: the templates file's choice, else string_match_all
 * for RULER-style records (with `outputs`), else LongBench's, else `fallback` (--metric). A dataset
 * with none, or whose records would be scored two ways, is an error naming it.
 */
export function datasetMetrics(records: LongBenchRecord[], t: Templates, fallback?: MetricName): Record<string, MetricName> {
  const chosen = new Map<string, MetricName>();
  for (const rec of records) {
    const metric = recordMetric(rec, t, fallback);
    const before = chosen.get(rec.dataset);
    check(before === undefined || before === metric,
      () => `dataset "${rec.dataset}" would be scored with both ${before} and ${metric} (records with and without "outputs"): name its metric in the templates file's "metric" map`);
    chosen.set(rec.dataset, metric);
  }
  return Object.fromEntries(chosen);
}

function recordMetric(rec: LongBenchRecord, t: Templates, fallback?: MetricName): MetricName {
  const metric = own(t.metric, rec.dataset) ?? (rec.outputs?.length ? 'string_match_all' : own(DATASET_METRIC, rec.dataset)) ?? fallback;
  check(metric !== undefined,
    `no metric for dataset "${rec.dataset}" (LongBench has none): give one with --metric NAME or in the templates file's "metric" map (${METRIC_NAMES.join(', ')})`);
  return metric;
}

/** The strings a prediction is scored against: RULER-style `outputs` when a record has them, else its `answers`. */
export function references(rec: LongBenchRecord): string[] {
  return rec.outputs?.length ? rec.outputs : rec.answers;
}

/**
 * pred.py's middle truncation: past maxLen tokens keep the first and last int(maxLen/2), so an odd
 * maxLen keeps one token less than it allows. maxLen < 2 is refused: pred.py's ids[-0:] would keep
 * everything.
 */
export function truncateMiddle(ids: number[], maxLen: number): number[] {
  check(Number.isInteger(maxLen) && maxLen >= 2, `the prompt limit must be a whole number of at least 2 tokens, got ${maxLen}`);
  if (ids.length <= maxLen) return ids;
  const half = Math.trunc(maxLen / 2);
  return ids.slice(0, half).concat(ids.slice(ids.length - half));
}
