/**
 * Teacher-forced perplexity of a text, as sparse-attention papers measure it on PG19 and llama.cpp's
 * perplexity tool does: the text's tokens are cut into windows of `context` tokens (each starting
 * with the tokens the tokenizer puts first, BOS for most models); all but the last `scored` tokens
 * of a window are the context (prefilled with full attention, and for a sparse method its CSA
 * tables built), and each of the last `scored` is scored through the decode step, attending as
 * `attention` does: to the keys it selects from the context, and to every scored token before it
 * (as decode's answer tokens do), so a short tail after a long context measures the selection.
 */
import { check } from './errors.js';
import { Generator } from './generate.js';
import type { Model, DecodeAttention } from './model/model.js';
import { Tokenizer } from './tokenizer.js';
import { selectOptions, sparseAttention, type SparseOptions } from './decode.js';
import { prefillWithTables } from './prefill.js';
import { destroyTables, type CsaParams } from './attention/csa/tables.js';
import { methodOf, type AttentionKind } from './attention/methods.js';
import { progress, type Logger } from './log.js';
import { logSumExp } from './arrays.js';
import type { KvFormat } from './model/kvcache.js';
import type { WeightFormat } from './ops/quant.js';

export interface PerplexityJob {
  model: Model;
  tok: Tokenizer;
  text: string;
  /** Tokens per window (the model's cache must hold them). */
  context: number;
  /** Tokens scored at the end of each window (default: half of it). */
  scored?: number;
  /** At most this many windows (from the start of the text). */
  maxWindows?: number;
  attention: AttentionKind;
  sparse: SparseOptions;
  csa: CsaParams;
  log: Logger;
}

export interface PerplexityResult {
  perplexity: number;
  /** Tokens scored. */
  tokens: number;
  /** Mean negative log-likelihood of a scored token, in nats. */
  nll: number;
  windows: number;
  context: number;
  /** Tokens scored per window. */
  scored: number;
  attention: AttentionKind;
  sparsity: number | null;
  weights: WeightFormat;
  kv: KvFormat;
}

/** The windows of a text: `lead` (BOS) then `context - lead.length` tokens of the text each. */
export function windowsOf(tok: Tokenizer, text: string, context: number, maxWindows = Infinity): number[][] {
  const lead = tok.encode('');
  const body = tok.continuationIds(text);
  const per = context - lead.length;
  check(per >= 2, `--context ${context} leaves no room for the text after the ${lead.length} leading token(s)`, 'input');
  const n = Math.min(Math.floor(body.length / per), maxWindows);
  check(n >= 1, `the text has ${body.length} tokens: --context ${context} needs at least ${per}`, 'input');
  return Array.from({ length: n }, (_, w) => [...lead, ...body.slice(w * per, (w + 1) * per)]);
}

export async function perplexity(job: PerplexityJob): Promise<PerplexityResult> {
  const { model, context, attention } = job;
  check(model.capacity >= context, `the model's cache (${model.capacity}) is shorter than --context ${context}`, 'too-long');
  const scored = job.scored ?? Math.ceil(context / 2);
  check(scored >= 1 && scored <= context - 2, `--scored ${scored} must leave at least 2 tokens of context in a window of ${context}`, 'input');
  const windows = windowsOf(job.tok, job.text, context, job.maxWindows);
  const bar = progress(job.log, 'perplexity', windows.length, 'windows');
  let nll = 0;
  let tokens = 0;
  try {
    for (const [i, ids] of windows.entries()) {
      const w = await windowNll(job, ids, scored);
      nll += w.sum;
      tokens += w.tokens;
      bar.update(i + 1);
      job.log.debug({ window: i, nll: w.sum / w.tokens }, 'window scored');
    }
  } finally {
    bar.stop();
  }
  return {
    perplexity: Math.exp(nll / tokens), tokens, nll: nll / tokens, windows: windows.length, context, scored,
    attention, sparsity: attention === 'full' ? null : job.sparse.sparsity, weights: job.model.weights.format, kv: job.model.cache.format,
  };
}

/**
 * One window, P = its length - count: ids[0, P - 1) is the context; ids[P - 1] goes in as the prompt
 * (its logits score ids[P]); ids[P ..] are fed in turn through the decode step, each step's logits
 * scoring the next.
 */
async function windowNll(job: PerplexityJob, ids: number[], count: number): Promise<{ sum: number; tokens: number }> {
  const { model } = job;
  const P = ids.length - count;
  const N = P - 1;
  const scored = ids.slice(P);
  const ctx = await contextAttention(job, ids.slice(0, N));
  const generator = new Generator(model);
  try {
    const r = await generator.generate([ids[N]], N, {
      maxTokens: scored.length, temperature: 0, topP: 1, seed: 0, stopIds: [], forced: scored, keepLogits: true,
    }, undefined, ctx.attention, job.attention);
    return { sum: negLogLikelihood(r.logits!, scored, model.cfg.vocab), tokens: scored.length };
  } finally {
    generator.destroy();
    ctx.destroy();
  }
}

/** The context in the model's cache, and the decode attention over it (with what it built). */
async function contextAttention(job: PerplexityJob, ids: number[]): Promise<{ attention: DecodeAttention; destroy: () => void }> {
  const { model, attention } = job;
  const method = attention === 'full' ? null : methodOf(attention);
  // CSA's tables only where the method reads them; one bar (the windows'): the prefill's own stays quiet.
  const tables = method?.readsTables ? (await prefillWithTables(model, ids, job.csa, job.log.child({}, { level: 'warn' }))).tables : [];
  if (!method?.readsTables) await model.prefill(ids, 0, { logits: 'none' });
  if (!method) return { attention: model.fullAttention, destroy: () => {} };
  const prepared = await method.prepare({ model, N: ids.length, tables, params: job.csa });
  return {
    attention: sparseAttention(model, prepared.selector(selectOptions(job.sparse, ids.length, model.capacity))),
    destroy: () => {
      prepared.destroy();
      for (const t of tables) destroyTables(model.gpu, t);
    },
  };
}

/** Σ -log softmax(row i)[targets[i]] over rows of `logits` ([rows, V] f32), in nats. */
export function negLogLikelihood(logits: Float32Array, targets: number[], V: number): number {
  let sum = 0;
  targets.forEach((t, i) => {
    const row = logits.subarray(i * V, (i + 1) * V);
    sum += logSumExp(row) - row[t];
  });
  return sum;
}

export function formatPerplexity(r: PerplexityResult): string {
  const how = r.attention === 'full' ? 'full attention' : `${r.attention} at sparsity ${r.sparsity}`;
  return `perplexity ${r.perplexity.toFixed(3)} (mean NLL ${r.nll.toFixed(4)} nats) over ${r.tokens} tokens: the last ${r.scored} of ${r.windows} window(s) of ${r.context}, scored through the decode step with ${how}, ${r.weights} weights`;
}
