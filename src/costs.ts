/**
 * What CSAttention's offline phase costs and what it buys, for `csattn prefill` and `csattn info`:
 * table bytes against KV bytes, prefill time with and without the tables, and after how many
 * answered questions a bundle has paid for itself against prefilling the document with each one.
 *
 * The model, for a question of q tokens and an answer of a tokens:
 *   without the bundle, per question: prefill(document + question) + a decode steps, full attention
 *                                   = prefill(document) + q × question ms/token + a × full ms/token
 *   with the bundle, per question:    load(bundle) + q × question ms/token + a × CSA ms/token
 *   with the bundle, once:            prefill(document) + tables + write(bundle)
 * The question's prefill runs over the same context either way, so it cancels: each question saves
 * prefill(document) − load + a × (full − CSA ms/token), and the bundle has paid for itself after
 * ceil(once / saving) questions, never if the saving is not positive. Loading the model's weights
 * is left out: both ways pay it.
 *
 * Where the figures come from: prefill and table times are measured by the prefill; question
 * prefill and decode ms/token by a short decode at its end (probeDecode in prefill.ts); the
 * bundle's load is estimated as its bytes at the rate that prefill loaded the model's weights (the
 * same read-and-upload path); the write is measured by prefill, and estimated like the load by
 * info (a bundle's stats are written before the bundle is).
 */
import { fmtBytes } from './gpu/device.js';

/** The short decode at the end of a prefill. */
export interface DecodeProbe {
  questionTokens: number;
  questionMs: number;
  decodeSteps: number;
  fullMsPerToken: number;
  csaMsPerToken: number;
  sparsity: number;
}

export interface CostFigures {
  kvBytes: number;
  tableBytes: number;
  prefillMs: number;
  tablesMs: number;
  /** Measured when prefill reports; absent when info reads a bundle. */
  writeMs?: number;
  /** The rate at which prefill loaded the model's weights (null: not measured). */
  modelLoadBytesPerSecond: number | null;
  probe: DecodeProbe | null;
}

export interface QuestionShape {
  questionTokens: number;
  answerTokens: number;
}

/** A question of 32 tokens answered in 64: a short factual Q&A turn. */
export const DEFAULT_QUESTION: QuestionShape = { questionTokens: 32, answerTokens: 64 };

export interface PerQuestion {
  withoutBundleMs: number;
  withBundleMs: number;
}

export interface Costs extends QuestionShape {
  kvBytes: number;
  tableBytes: number;
  tableToKvRatio: number;
  prefillMs: number;
  tablesMs: number;
  prefillWithTablesMs: number;
  writeMs: number | null;
  writeBasis: string;
  loadMs: number | null;
  loadBasis: string;
  decode: DecodeProbe | null;
  decodeBasis: string;
  withoutBundleMs: number | null;
  withBundleMs: number | null;
  /** prefill + tables + write: paid once. */
  offlineMs: number | null;
  /** Questions after which the bundle has paid for itself; null: never, or not known (see breakEvenNote). */
  breakEvenQuestions: number | null;
  breakEvenNote: string;
}

/** Per-question time without and with the bundle (see the top of the file). */
export function perQuestion(f: { prefillMs: number; loadMs: number; probe: DecodeProbe }, s: QuestionShape): PerQuestion {
  const question = s.questionTokens * (f.probe.questionMs / f.probe.questionTokens);
  return {
    withoutBundleMs: f.prefillMs + question + s.answerTokens * f.probe.fullMsPerToken,
    withBundleMs: f.loadMs + question + s.answerTokens * f.probe.csaMsPerToken,
  };
}

/** The smallest n with offline + n × with ≤ n × without, or null when no n is (the bundle saves nothing per question). */
export function breakEven(offlineMs: number, q: PerQuestion): number | null {
  const saving = q.withoutBundleMs - q.withBundleMs;
  if (!(saving > 0)) return null;
  // A relative tolerance: an exact quotient computed in floating point must not round up past it.
  return Math.max(1, Math.ceil(offlineMs / saving - 1e-9));
}

/** What prefill and info print about the offline phase; the break-even needs the probe and the load rate. */
export function costs(f: CostFigures, s: QuestionShape): Costs {
  const rate = f.modelLoadBytesPerSecond;
  const estimate = (bytes: number) => (rate ? (1000 * bytes) / rate : null);
  const loadMs = estimate(f.kvBytes + f.tableBytes);
  const writeMs = f.writeMs ?? estimate(f.kvBytes + f.tableBytes);
  const rateText = rate ? `${fmtBytes(rate)}/s` : '';
  const base = {
    ...s,
    kvBytes: f.kvBytes,
    tableBytes: f.tableBytes,
    tableToKvRatio: f.tableBytes / f.kvBytes,
    prefillMs: f.prefillMs,
    tablesMs: f.tablesMs,
    prefillWithTablesMs: f.prefillMs + f.tablesMs,
    writeMs,
    writeBasis: f.writeMs !== undefined ? 'measured' : rate ? `estimated like the load (${rateText})` : 'not measured',
    loadMs,
    loadBasis: rate ? `estimated: the bundle's bytes at the rate prefill loaded the model's weights (${rateText})` : 'not measured',
    decode: f.probe,
    decodeBasis: f.probe ? `measured at the end of prefill: a ${f.probe.questionTokens}-token question, ${f.probe.decodeSteps} decode steps each way` : 'not measured',
  };
  if (!f.probe || loadMs === null || writeMs === null) {
    return {
      ...base, withoutBundleMs: null, withBundleMs: null, offlineMs: null, breakEvenQuestions: null,
      breakEvenNote: 'unknown: decode speed and load rate were not measured when this bundle was made (by csattn eval, an older csattn, or a prefill that left no room after the context); csattn prefill measures them',
    };
  }
  const q = perQuestion({ prefillMs: f.prefillMs, loadMs, probe: f.probe }, s);
  const offlineMs = f.prefillMs + f.tablesMs + writeMs;
  const n = breakEven(offlineMs, q);
  const saving = q.withoutBundleMs - q.withBundleMs;
  return {
    ...base, ...q, offlineMs, breakEvenQuestions: n,
    breakEvenNote: n === null
      ? `never: a question costs ${sec(-saving)} more with the bundle than without`
      : `after ${n} question${n === 1 ? '' : 's'}: ${sec(offlineMs)} once (prefill, tables, write) / ${sec(saving)} saved per question`,
  };
}

const sec = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)} s`;
const msTok = (ms: number) => `${ms.toFixed(2)} ms/token`;

/** The costs as aligned lines (the same labels as the rest of `csattn info`). */
export function formatCosts(c: Costs): string[] {
  const lines = [
    `  sizes        KV ${fmtBytes(c.kvBytes)}, tables ${fmtBytes(c.tableBytes)} (${c.tableToKvRatio.toFixed(2)}x KV)`,
    `  prefill      ${sec(c.prefillMs)} without the tables, ${sec(c.prefillWithTablesMs)} with them`
      + (c.prefillMs > 0 ? ` (tables +${((100 * c.tablesMs) / c.prefillMs).toFixed(0)}%)` : '')
      + (c.writeMs === null ? '' : `; write ${sec(c.writeMs)} (${c.writeBasis})`),
  ];
  const d = c.decode;
  if (!d || c.withoutBundleMs === null || c.withBundleMs === null || c.loadMs === null) {
    return [...lines, `  break-even   ${c.breakEvenNote}`];
  }
  const question = (c.questionTokens * d.questionMs) / d.questionTokens;
  return [
    ...lines,
    `  decode       question prefill ${msTok(d.questionMs / d.questionTokens)}; answer ${msTok(d.fullMsPerToken)} full, ${msTok(d.csaMsPerToken)} csa@${d.sparsity} (${c.decodeBasis})`,
    `  per question ${c.questionTokens}-token question, ${c.answerTokens}-token answer:`,
    `    without the bundle ${sec(c.withoutBundleMs)} = prefill document and question ${sec(c.prefillMs + question)} + answer with full attention ${sec(c.answerTokens * d.fullMsPerToken)}`,
    `    with the bundle    ${sec(c.withBundleMs)} = load ${sec(c.loadMs)} + question prefill ${sec(question)} + answer with csa ${sec(c.answerTokens * d.csaMsPerToken)}`,
    `    (load ${c.loadBasis})`,
    `  break-even   ${c.breakEvenNote}`,
  ];
}

// ---- bundle stats: the figures prefill stores in the bundle (flat, as stats are) ----

const PROBE_STATS: Record<keyof DecodeProbe, string> = {
  questionTokens: 'probeQuestionTokens',
  questionMs: 'probeQuestionMs',
  decodeSteps: 'probeDecodeSteps',
  fullMsPerToken: 'probeFullMsPerToken',
  csaMsPerToken: 'probeCsaMsPerToken',
  sparsity: 'probeSparsity',
};

const LOAD_RATE_STAT = 'modelLoadBytesPerSecond';

/** The stats entries of a probe and a load rate (none for what was not measured). */
export function costStats(probe: DecodeProbe | null, modelLoadBytesPerSecond: number | null): Record<string, number> {
  const out: Record<string, number> = {};
  const round = (x: number) => Math.round(x * 1000) / 1000; // µs and millibytes are noise
  if (probe) for (const [key, stat] of Object.entries(PROBE_STATS)) out[stat] = round(probe[key as keyof DecodeProbe]);
  if (modelLoadBytesPerSecond !== null) out[LOAD_RATE_STAT] = Math.round(modelLoadBytesPerSecond);
  return out;
}

/** A bundle's cost figures from its stats and sizes; what is missing or not a positive number counts as not measured. */
export function figuresFromStats(stats: Record<string, number | string>, sizes: { kvBytes: number; tableBytes: number }): CostFigures {
  const num = (key: string) => {
    const v = stats[key];
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
  };
  const probe = Object.fromEntries(Object.entries(PROBE_STATS).map(([key, stat]) => [key, num(stat)]));
  const complete = Object.values(probe).every((v) => v !== null) && probe.questionTokens! > 0;
  const rate = num(LOAD_RATE_STAT);
  return {
    ...sizes,
    prefillMs: num('prefillMs') ?? 0,
    tablesMs: num('tablesMs') ?? 0,
    modelLoadBytesPerSecond: rate && rate > 0 ? rate : null,
    probe: complete ? (probe as unknown as DecodeProbe) : null,
  };
}
