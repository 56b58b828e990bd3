/**
 * `csattn eval`: every record answered with full attention and with each sparse method at each
 * sparsity, from one prefill of its context (bundles cached by model, context and CSA settings),
 * scored with LongBench's metrics and compared with the full-attention answer.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { check, CsattnError } from '../errors.js';
import { createGpu } from '../gpu/device.js';
import { loadConfig } from '../model/config.js';
import { loadModel } from '../model/load.js';
import type { Model } from '../model/model.js';
import { Tokenizer } from '../tokenizer.js';
import type { KvFormat } from '../model/kvcache.js';
import type { WeightFormat } from '../ops/quant.js';
import { FORMAT_VERSION, modelIdentity, type BundleTemplate, type ModelIdentity } from '../bundle.js';
import { prefillIds } from '../prefill.js';
import { Session, type Answer, type SlotAttention } from '../decode.js';
import type { SamplingOptions } from '../generate.js';
import type { Method } from '../attention/methods.js';
import { RecallProbe } from './recall.js';
import type { CsaParams } from '../attention/csa/tables.js';
import { splitTemplate } from '../template.js';
import { progress, type Logger } from '../log.js';
import {
  NO_CHAT_DATASETS, datasetMetrics, loadTemplates, maxNewTokens, parseJsonl, references, splitPrompt, truncateMiddle,
  type LongBenchRecord, type Templates,
} from './longbench.js';
import { scoreRecord, type MetricName } from './metrics.js';
import {
  buildReport, formatTable, loadReport, mergeReports, onInterrupt, pendingRecords, shardOf, writeReport,
  type Agreement, type MethodResult, type RecordResult, type RecordTimings, type Report, type Skipped,
} from './report.js';
import { renderHtml } from './html.js';
import { readInputFile, writeFileAtomic } from '../fsutil.js';
import { logSumExp, mapInOrder, pushAll } from '../arrays.js';

export interface EvalOptions {
  files: string[];
  modelDir: string;
  /** The weight matrices' and the KV cache's formats (full attention and every method alike). */
  weights?: WeightFormat;
  kv?: KvFormat;
  methods: Method[];
  sparsities: number[];
  sink: number;
  window: number;
  csa: CsaParams;
  templatesFile?: string;
  defaultTemplate?: string;
  /** The metric of datasets that have none (not LongBench's, none in the templates file, no `outputs`). */
  metric?: MetricName;
  cacheDir: string;
  out?: string;
  html?: string;
  resume: boolean;
  limit?: number;
  datasets?: string[];
  shard?: string;
  chunkSize: number;
  /**
   * Measure recall@K of the oracle's keys per layer, and for csa and keypq the queries' cosine to
   * their tables' centroids (one extra probe step per method).
   */
  recall: boolean;
  /**
   * How the sparse methods' questions attend: 'full' (one prefill over the context; the default) or
   * 'sparse' (token by token through the method's decode step: CSAttention's strict setting).
   * Full attention's answer is the same either way.
   */
  questionAttention?: 'full' | 'sparse';
  /** Answer a record's runs (full, each method at each sparsity) as one batch where they fit (default); false: one after another. */
  batch?: boolean;
  log: Logger;
}

/** `label` names the file in keys and reports (see fileLabels). */
interface Job { key: string; file: string; label: string; line: number; rec: LongBenchRecord }

/** Records of every file, in order, filtered by --datasets, --shard and --limit; bad lines skipped. */
export function loadRecords(o: Pick<EvalOptions, 'files' | 'datasets' | 'shard' | 'limit'>): { jobs: Job[]; skipped: Skipped[] } {
  const jobs: Job[] = [];
  const skipped: Skipped[] = [];
  const labels = fileLabels(o.files);
  for (const [f, file] of o.files.entries()) {
    const text = readInputFile(file, 'dataset file').toString('utf8');
    const hint = basename(file).replace(/(\.sample)?\.jsonl$/, '');
    const { records, bad } = parseJsonl(text, file, hint);
    pushAll(skipped, bad);
    // parseJsonl keeps file order; recover each record's line for a stable key.
    const lines = lineNumbers(text, new Set(bad.map((b) => b.line)));
    records.forEach((rec, i) => {
      if (o.datasets && !o.datasets.includes(rec.dataset)) return;
      jobs.push({ key: `${labels[f]}:${lines[i]}${rec._id ? `:${rec._id}` : ''}`, file, label: labels[f], line: lines[i], rec });
    });
  }
  const sharded = o.shard ? jobs.filter((_, i) => shardOf(i, o.shard!)) : jobs;
  return { jobs: o.limit !== undefined ? sharded.slice(0, o.limit) : sharded, skipped };
}

/**
 * How each dataset file is named in record keys and reports: its base name when no other file given
 * has the same one (as before, so earlier reports stay resumable), else as many trailing parts of
 * its path as tell it apart (a/qa.jsonl and b/qa.jsonl), whatever the working directory.
 */
export function fileLabels(files: string[]): string[] {
  const parts = files.map((f) => resolve(f).split(sep).filter(Boolean));
  const tail = (p: string[], n: number) => p.slice(-n).join('/');
  return parts.map((p, i) => {
    for (let n = 1; n < p.length; n++) {
      if (parts.every((q, j) => j === i || tail(q, n) !== tail(p, n))) return tail(p, n);
    }
    return p.join('/');
  });
}

function lineNumbers(text: string, bad: Set<number>): number[] {
  const out: number[] = [];
  text.split('\n').forEach((l, i) => {
    if (l.trim() && !bad.has(i + 1)) out.push(i + 1);
  });
  return out;
}

export async function runEval(o: EvalOptions): Promise<{ report: Report; exitCode: number }> {
  const templates = loadTemplates(o.templatesFile);
  const { jobs, skipped } = loadRecords(o);
  for (const s of skipped) o.log.warn(s, `skipped ${s.file}:${s.line}: ${s.reason}`);
  const metrics = datasetMetrics(jobs.map((j) => j.rec), templates, o.metric);
  const done = o.resume && o.out && existsSync(o.out) ? await loadReport(o.out) : null;
  const todo = pendingRecords(jobs, done);
  const options = {
    methods: o.methods, sparsities: o.sparsities, sink: o.sink, window: o.window, csa: o.csa,
    files: fileLabels(o.files), datasets: o.datasets ?? null, limit: o.limit ?? null, recall: o.recall,
    questionAttention: o.questionAttention ?? 'full', weights: o.weights ?? 'f16', kv: o.kv ?? 'f16',
  };
  const cfg = loadConfig(o.modelDir);
  const identity = await modelIdentity(o.modelDir, cfg, options.weights);
  const meta = { model: basename(o.modelDir), modelFingerprint: identity.fingerprint, options, metrics };
  // --resume of a report made with other options, metrics or another model: refused now, not after the first record.
  if (done) mergeReports([done, buildReport([], [], meta)]);
  const results: RecordResult[] = [];
  const report = (): Report => {
    const fresh = buildReport(results, skipped, meta);
    return done ? mergeReports([done, fresh]) : fresh;
  };
  const save = async () => {
    const r = report();
    if (o.out) await writeReport(o.out, r);
    if (o.html) await writeFileAtomic(o.html, [Buffer.from(renderHtml(r))]);
  };
  const stop = onInterrupt(save);
  try {
    if (todo.length > 0) {
      const window = Math.min(cfg.maxPositions, cfg.slidingWindow ?? Infinity);
      const tok = await Tokenizer.load(o.modelDir);
      const model = await loadModel(await createGpu({ log: o.log }), o.modelDir, { capacity: window, chunkSize: o.chunkSize, weights: options.weights, kv: options.kv });
      mkdirSync(o.cacheDir, { recursive: true });
      const bar = progress(o.log, 'eval', todo.length, 'records');
      const x = { tok, model, identity, templates, metrics, window };
      for (const plans of sameContextRuns(todo.map((job) => planRecord(o, job, x)))) {
        pushAll(results, await evalContext(o, plans, x));
        bar.update(results.length);
        if (o.out) await save(); // every finished context's records are on disk: --resume continues from here
      }
      bar.stop();
      model.destroy();
    }
    await save();
  } finally {
    stop();
  }
  const r = report();
  return { report: r, exitCode: skipped.length > 0 ? 3 : 0 };
}

interface Loaded {
  tok: Tokenizer;
  model: Model;
  identity: ModelIdentity;
  templates: Templates;
  metrics: Record<string, MetricName>;
  window: number;
}

/** A record's prompt, tokenized: the context it shares with a bundle, its question, and the room they need. */
interface RecordPlan { job: Job; questionText: string; ids: number[]; template: BundleTemplate; maxNew: number; room: number }

function planRecord(o: EvalOptions, job: Job, x: Loaded): RecordPlan {
  const { rec } = job;
  const { contextText, questionText } = splitPrompt(rec, x.templates, o.defaultTemplate);
  // LongBench skips the chat template for some tasks; base models have none.
  const chat = x.tok.chatTemplate !== null && !NO_CHAT_DATASETS.has(rec.dataset);
  const t = chat ? splitTemplate(x.tok, 'chat') : { kind: 'plain' as const, head: '', separator: '', suffix: '' };
  const template: BundleTemplate = { kind: t.kind, separator: '', suffix: t.suffix };
  const maxNew = maxNewTokens(rec.dataset, x.templates, 64);
  const question = x.tok.continuationIds(questionText + t.suffix);
  let ids = x.tok.promptIds(t.head + contextText, { chat: false });
  const room = question.length + maxNew;
  const limit = x.window - room;
  check(limit >= 2, `${job.key}: the question and answer alone need ${room} of the model's ${x.window} positions`, 'too-long');
  if (ids.length > limit) ids = truncateMiddle(ids, limit);
  return { job, questionText, ids, template, maxNew, room };
}

/** Runs of consecutive records over one context (the same ids and template): they share a session, and a batch where they fit. */
function sameContextRuns(plans: RecordPlan[]): RecordPlan[][] {
  const same = (a: RecordPlan, b: RecordPlan) => a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i]) && JSON.stringify(a.template) === JSON.stringify(b.template);
  const runs: RecordPlan[][] = [];
  for (const p of plans) {
    const last = runs[runs.length - 1];
    if (last && same(last[0], p)) last.push(p);
    else runs.push([p]);
  }
  return runs;
}

/**
 * The records of one context from one session on its bundle: every record's runs (full, each method
 * at each sparsity) as one batch, as many records together as fit beside the context; one after
 * another when none fit or the questions go through the sparse step. A record's timings are its
 * share of the context's.
 */
async function evalContext(o: EvalOptions, plans: RecordPlan[], x: Loaded): Promise<RecordResult[]> {
  const [first] = plans;
  const room = Math.max(...plans.map((p) => p.room));
  const t0 = performance.now();
  const session = await cachedSession(o, x, { ids: first.ids, template: first.template, room, log: o.log.child({ record: first.job.key }) });
  const t1 = performance.now();
  const probe = o.recall ? new RecallProbe(session) : undefined;
  try {
    const none = { sparsity: 0, sink: 0, window: 0 };
    const runs: SlotAttention[] = [{ attention: 'full', sparse: none }, ...o.methods.flatMap((method) => o.sparsities.map((sparsity) => ({ attention: method, sparse: { sparsity, sink: o.sink, window: o.window } })))];
    const asks = plans.map((p) => ({ question: p.questionText, maxTokens: p.maxNew }));
    // Records a batch: every record's runs and the prompt's own rows beside the context.
    const together = o.batch !== false && o.questionAttention !== 'sparse' ? Math.floor(((x.model.capacity - first.ids.length) / room - 1) / runs.length) : 0;
    const answers: RecordAnswers[] = [];
    if (together === 0) {
      for (const ask of asks) answers.push(await answerInTurn(session, runs, ask, x.tok.eosIds, o.questionAttention));
    } else {
      for (let r = 0; r < asks.length; r += together) pushAll(answers, await answerBatched(session, runs, asks.slice(r, r + together), x.tok.eosIds, room));
    }
    const results: RecordResult[] = [];
    for (const [i, plan] of plans.entries()) results.push(await recordResult(plan, runs, answers[i], x, probe));
    const timings = { openMs: (t1 - t0) / plans.length, runsMs: (performance.now() - t1) / plans.length };
    return results.map((r) => ({ ...r, timings }));
  } finally {
    await session.close();
  }
}

/** A record's results: each run's answer scored and, for the sparse runs, compared with full attention's. */
async function recordResult(plan: RecordPlan, runs: SlotAttention[], a: RecordAnswers, x: Loaded, probe: RecallProbe | undefined): Promise<Omit<RecordResult, 'timings'>> {
  const { job: { rec, key, label, line }, questionText } = plan;
  const truth = references(rec);
  const score = (prediction: string) => scoreRecord(rec.dataset, prediction, truth, rec.all_classes, x.metrics[rec.dataset]);
  const { full, sparse } = a;
  const fullText = x.tok.decode(full.ids, { skipSpecialTokens: true });
  const results: MethodResult[] = [{
    method: 'full', sparsity: null, prediction: fullText, score: score(fullText), msPerToken: full.timings.msPerToken, tokens: full.ids.length,
  }];
  for (const [i, { attention, sparse: budget }] of runs.slice(1).entries()) {
    const { r, forced } = sparse[i];
    const method = attention as Method;
    const text = x.tok.decode(r.ids, { skipSpecialTokens: true });
    const recall = await probe?.recall(questionText, method, budget);
    results.push({
      method, sparsity: budget.sparsity, prediction: text, score: score(text), msPerToken: r.timings.msPerToken, tokens: r.ids.length,
      agreement: agreement(full.ids, r.ids, fullText === text, full.logits, forced?.logits, x.model.cfg.vocab),
      recall: recall?.all, chosenRecall: recall?.chosen,
      centroidCosine: recall?.centroidCosine?.layers, centroidCosineGroups: recall?.centroidCosine?.groups,
    });
  }
  return { key, file: label, line, id: rec._id, dataset: rec.dataset, contextTokens: plan.ids.length, answers: truth, results };
}

/** A record's answers: full attention's (with its logits), and each sparse run's with its answer teacher-forced on full's (with logits; none when full's is empty). */
interface RecordAnswers { full: Answer; sparse: { r: Answer; forced: Answer | null }[] }

/** A question for every run: its text and how many tokens its answers may take. */
interface Ask { question: string; maxTokens: number }

const GREEDY = { temperature: 0, topP: 1, seed: 0 };

/** The runs one after another (full first: the sparse runs are forced on its answer). */
async function answerInTurn(session: Session, runs: SlotAttention[], ask: Ask, stopIds: number[], questionAttention: EvalOptions['questionAttention']): Promise<RecordAnswers> {
  const greedy: SamplingOptions = { ...GREEDY, maxTokens: ask.maxTokens, stopIds };
  const asked = { ...greedy, promptAttention: questionAttention }; // how the sparse methods take the question
  const full = await session.answer(ask.question, 'full', runs[0].sparse, { ...greedy, keepLogits: true });
  const sparse = await mapInOrder(runs.length - 1, async (i) => {
    const { attention, sparse: budget } = runs[i + 1];
    const r = await session.answer(ask.question, attention, budget, asked);
    const forced = full.ids.length > 0 ? await session.answer(ask.question, attention, budget, { ...asked, maxTokens: full.ids.length, forced: full.ids, keepLogits: true }) : null;
    return { r, forced };
  });
  return { full, sparse };
}

/**
 * The runs of several records as one batch, record r's run i in slot r * runs + i (its attention);
 * then every sparse run forced on its record's full answer, again together.
 */
async function answerBatched(session: Session, runs: SlotAttention[], asks: Ask[], stopIds: number[], room: number): Promise<RecordAnswers[]> {
  const slot = (r: number, i: number) => r * runs.length + i;
  const batch = await session.batch(asks.flatMap(() => runs), GREEDY, room);
  try {
    const answers: Answer[] = [];
    await batch.answer(asks.flatMap((a, r) => runs.map((_, i) => ({ question: a.question, stopIds, slot: slot(r, i), maxTokens: a.maxTokens, keepLogits: i === 0 }))),
      (j, answer) => { answers[j] = answer; });
    const teach = asks.flatMap((a, r) => {
      const full = answers[slot(r, 0)].ids;
      return full.length > 0 ? runs.slice(1).map((_, i) => ({ question: a.question, stopIds, slot: slot(r, i + 1), maxTokens: full.length, forced: full, keepLogits: true })) : [];
    });
    const forced: Answer[] = [];
    if (teach.length > 0) await batch.answer(teach, (j, answer) => { forced[teach[j].slot] = answer; });
    return asks.map((_, r) => {
      const full = answers[slot(r, 0)];
      return { full, sparse: runs.slice(1).map((_, i) => ({ r: answers[slot(r, i + 1)], forced: forced[slot(r, i + 1)] ?? null })) };
    });
  } finally {
    batch.close();
  }
}

interface Context { ids: number[]; template: BundleTemplate; room: number; log: Logger }

/**
 * A session on the context's bundle from the cache, prefilled first when it is not there or not
 * usable. Shard processes may share the cache and prefill the same context at once: each writes a
 * temp file of its own and renames it into place (writeSafetensors), so a reader finds a whole
 * bundle or none, and the last rename wins (either is a whole bundle of the context). A bundle
 * that is there but fails the checks of opening it (cut short, another format version, corrupt
 * lists) or holds another context is prefilled again.
 */
async function cachedSession(o: EvalOptions, x: Loaded, c: Context): Promise<Session> {
  const path = join(o.cacheDir, `${cacheKey(x.identity, c.ids, c.template, o.csa, x.model.cache.format)}.csa`);
  const open = () => Session.open(path, o.modelDir, c.room, { loaded: { model: x.model, identity: x.identity, tok: x.tok }, choice: o.csa.choice, log: c.log });
  if (existsSync(path)) {
    const session = await open().catch((e: unknown) => {
      if (!(e instanceof CsattnError && REPAIRABLE.has(e.kind))) throw e;
      c.log.warn({ bundle: path, problem: e.message }, 'unusable cached bundle: prefilling it again');
      return null;
    });
    if (session && sameContext(session, c, o.csa)) return session;
    await session?.close();
  }
  await prefillIds({ ids: c.ids, template: c.template, out: path, modelDir: o.modelDir, chunkSize: o.chunkSize, csa: o.csa, log: c.log, model: x.model });
  return open();
}

/** Errors of a cached bundle that prefilling it again mends. */
const REPAIRABLE = new Set(['format', 'version', 'wrong-model']);

/** Whether an opened bundle holds this context, template and tables (its name is only a hash of them). */
function sameContext(s: Session, c: Context, csa: CsaParams): boolean {
  const m = s.bundle.meta;
  return JSON.stringify([m.contextIds, m.template, tableParams(m.csa)]) === JSON.stringify([c.ids, c.template, tableParams(csa)]);
}

/** The parameters that shape the tables: all but the centroid choice, which decode sets (Session.open). */
function tableParams(csa: CsaParams): Omit<CsaParams, 'choice'> {
  const { choice: _, ...tables } = csa;
  return tables;
}

/** Bundles are reusable across runs: the name is a hash of everything that shaped them, the bundle format included (and a q8 KV cache). */
function cacheKey(id: ModelIdentity, ids: number[], t: BundleTemplate, csa: CsaParams, kv: KvFormat): string {
  const key = { v: FORMAT_VERSION, m: id.fingerprint, ids, t, csa: tableParams(csa), ...(kv === 'f16' ? {} : { kv }) };
  return createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 32);
}

/**
 * How far a sparse answer is from the full one: exact match, tokens until the first difference,
 * and, teacher-forced on the full answer, top-1 agreement and mean KL(full ‖ method).
 */
export function agreement(full: number[], got: number[], exactMatch: boolean, fullLogits: Float32Array | undefined,
  forcedLogits: Float32Array | undefined, V: number): Agreement {
  let firstDivergence = 0;
  while (firstDivergence < Math.min(full.length, got.length) && full[firstDivergence] === got[firstDivergence]) firstDivergence++;
  if (firstDivergence === Math.min(full.length, got.length) && full.length === got.length) firstDivergence = full.length;
  let top1 = 1;
  let meanKl = 0;
  if (fullLogits && forcedLogits && full.length > 0) {
    let agree = 0;
    for (let j = 0; j < full.length; j++) {
      const p = fullLogits.subarray(j * V, (j + 1) * V);
      const q = forcedLogits.subarray(j * V, (j + 1) * V);
      if (argmax(q) === full[j]) agree++;
      meanKl += kl(p, q);
    }
    top1 = agree / full.length;
    meanKl /= full.length;
  }
  return { exactMatch, firstDivergence, top1, meanKl };
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** KL(softmax(p) ‖ softmax(q)) from logits, in nats. */
export function kl(p: Float32Array, q: Float32Array): number {
  const lp = logSumExp(p);
  const lq = logSumExp(q);
  let out = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i] - lp;
    out += Math.exp(a) * (a - (q[i] - lq));
  }
  return Math.max(0, out);
}

export function formatSummary(r: Report): string {
  const metrics = Object.entries(r.metrics ?? {}).map(([dataset, metric]) => `${dataset} ${metric}`).join(', ');
  const timed = r.records.flatMap((rec) => (rec.timings ? [rec.timings] : []));
  const mean = (f: (t: RecordTimings) => number) => (timed.reduce((s, t) => s + f(t), 0) / timed.length).toFixed(0);
  return formatTable(r.aggregates)
    + (metrics ? `\nmetrics: ${metrics}` : '')
    + (timed.length ? `\na record's wall time (mean of ${timed.length}): bundle open ${mean((t) => t.openMs)} ms, runs ${mean((t) => t.runsMs)} ms` : '')
    + (r.skipped.length ? `\n${r.skipped.length} line(s) skipped\n` : '\n');
}

