/**
 * The command line's option parsers and the option groups several commands share, each declared
 * once with the typed object its values arrive in. Parsers reject bad values before any work starts.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CHOICES, DEFAULT_CSA, type CsaParams } from '../attention/csa/tables.js';
import { ATTENTION_KINDS, METHODS, METHOD_NAMES, type AttentionKind } from '../attention/methods.js';
import { maxOf } from '../arrays.js';
import { DEFAULT_QUESTION, type QuestionShape } from '../costs.js';
import { DEFAULT_SPARSE, type SparseOptions } from '../decode.js';
import { check } from '../errors.js';
import type { SamplingOptions } from '../generate.js';
import { DEFAULT_CHUNK_SIZE } from '../model/model.js';
import { KV_FORMATS } from '../model/kvcache.js';
import { WEIGHT_FORMATS, type WeightFormat } from '../ops/quant.js';
import { DEFAULT_MODEL } from '../paths.js';
import type { Tokenizer } from '../tokenizer.js';

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}]`);
    return n;
  };
}

/** A number in [min, max], or in (min, max] when `aboveMin` (a bound that itself means nothing, like top-p 0). */
export function floatArg(min: number, max: number, { aboveMin = false } = {}) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || (aboveMin && n === min) || n > max) {
      throw new InvalidArgumentError(`expected a number in ${aboveMin ? '(' : '['}${min}, ${max}]`);
    }
    return n;
  };
}

export function listArg<T>(parse: (s: string) => T) {
  return (v: string): T[] => v.split(',').map((x) => x.trim()).filter(Boolean).map(parse);
}

export interface Common { logLevel: string; json?: boolean }

export function logLevelOption(fallback: string, help = 'pino log level (fatal, error, warn, info, debug)'): Option {
  return new Option('--log-level <level>', help).default(fallback);
}

export function modelOption(): Option {
  return new Option('--model <dir>', 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)').default(DEFAULT_MODEL, 'the bundled tinylm');
}

/** The model folder given (or the bundled one), which must exist. */
export function modelDir(dir: string | undefined): string {
  const d = resolve(dir ?? DEFAULT_MODEL);
  check(existsSync(d) && statSync(d).isDirectory(), `model folder not found: ${d}`, 'missing');
  return d;
}

/**
 * --weights: the format the weight matrices run in, quantized at load from the checkpoint.
 * `fallback` null: no default (decode takes the bundle's).
 */
export function weightsOption(fallback: WeightFormat | null = 'f16', what = ''): Option {
  const o = new Option('--weights <format>', `weight matrices: f16 as stored, q8 (int8, llama.cpp's Q8_0) or q4 (4-bit with offsets, Q4_1's scheme), quantized at load in blocks of 32${what}`).choices(WEIGHT_FORMATS);
  return fallback ? o.default(fallback) : o;
}

/** --kv: the KV cache's format, in the GPU and in a bundle. */
export function kvOption(what = ''): Option {
  return new Option('--kv <format>', `K/V cache: f16, or q8 (int8 rows with an f16 scale per token and head: half the memory, bundle and full-attention reads)${what}`).choices(KV_FORMATS).default('f16');
}

export function chunkSizeOption(): Option {
  return new Option('--chunk-size <n>', 'prefill chunk size in tokens').argParser(intArg(1, 65536)).default(DEFAULT_CHUNK_SIZE);
}

// ---------------------------------------------------------------------------------------------
// Sampling

export interface SamplingFlags { maxTokens: number; temperature: number; topP: number; seed: number; stop?: string[] }

export function samplingOptions(cmd: Command): Command {
  return cmd
    .option('--max-tokens <n>', 'maximum number of new tokens', intArg(1), 64)
    .option('--temperature <t>', 'sampling temperature; 0 = greedy', floatArg(0, 100), 0)
    .option('--top-p <p>', 'nucleus sampling: keep the most probable tokens up to this total probability', floatArg(0, 1, { aboveMin: true }), 1)
    .option('--seed <n>', 'random seed for sampling', intArg(0, 2 ** 32 - 1), 0)
    .option('--stop <text...>', 'stop when the output contains this text (repeatable)');
}

export function sampling(o: SamplingFlags, tok: Tokenizer): SamplingOptions {
  return { maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, seed: o.seed, stopIds: tok.eosIds, stopStrings: o.stop };
}

// ---------------------------------------------------------------------------------------------
// CSAttention's table parameters (prefill, bench, eval)

export type CsaFlags = CsaParams;

export function csaOptions(cmd: Command): Command {
  const d = DEFAULT_CSA;
  return cmd
    .option('--subspaces <m>', 'CSA: subspaces the head dimension is split into', intArg(1, 256), d.subspaces)
    .option('--centroids <C>', 'CSA: query centroids per subspace (cosine k-means)', intArg(1, 4096), d.centroids)
    .option('--list-fraction <alpha>', 'CSA: lookup-list length as a fraction of the context (L = alpha N)', floatArg(1e-6, 1), d.listFraction)
    .option('--kmeans-iters <n>', 'CSA: k-means iterations', intArg(0, 1000), d.kmeansIters)
    .option('--seed <n>', 'CSA: k-means seed', intArg(0, 2 ** 32 - 1), d.seed)
    .addOption(new Option('--granularity <g>', 'CSA: tables per KV head (query heads of a GQA group pooled) or per query head').choices(['kv-head', 'query-head']).default(d.granularity))
    .addOption(new Option('--rope <r>', 'CSA: cluster and score queries/keys after RoPE (as attention sees them) or before').choices(['post', 'pre']).default(d.rope))
    .addOption(new Option('--score-scale <s>', 'CSA: weight each subspace\'s partial scores by the query sub-vector norm').choices(['qnorm', 'none']).default(d.scoreScale))
    .addOption(choiceOption().default(d.choice));
}

/** CSA's centroid choice: a decode-time setting, which prefill records in the bundle as decode's default. */
export function choiceOption(what = ''): Option {
  return new Option('--choice <c>', `CSA, decode with kv-head tables: each query head of a GQA group picks its own centroid per subspace, or their summed query picks once (pooled: 1/g of the lists read)${what}`).choices([...CHOICES]);
}

/** The table parameters out of a command's options (which hold others too). */
export function csaParams(o: CsaFlags): CsaParams {
  return {
    subspaces: o.subspaces, centroids: o.centroids, listFraction: o.listFraction, kmeansIters: o.kmeansIters,
    seed: o.seed, granularity: o.granularity, rope: o.rope, scoreScale: o.scoreScale, choice: o.choice,
  };
}

// ---------------------------------------------------------------------------------------------
// The sparse budget (decode, demo, bench, eval)

export interface BudgetFlags { sink: number; window: number }

const SPARSITY_HELP = 'fraction of the context NOT attended per step (K = round((1 - s) N) keys)';

/** --sparsity (one value, or with `list` a comma-separated list of them) and, unless `sparsityOnly`, --sink and --window. */
export function budgetOptions(cmd: Command, o: { list?: boolean; sparsityOnly?: boolean } = {}): Command {
  const s = o.list
    ? cmd.option('--sparsity <list>', `comma-separated sparsities, e.g. 0.9,0.95,0.98: ${SPARSITY_HELP}`, listArg(floatArg(0, 1)), [DEFAULT_SPARSE.sparsity])
    : cmd.option('--sparsity <s>', SPARSITY_HELP, floatArg(0, 1), DEFAULT_SPARSE.sparsity);
  if (o.sparsityOnly) return s;
  return s
    .option('--sink <n>', 'first context tokens always attended (counted in the budget)', intArg(0), DEFAULT_SPARSE.sink)
    .option('--window <n>', 'last context tokens always attended (counted in the budget)', intArg(0), DEFAULT_SPARSE.window);
}

export function sparse(o: BudgetFlags & { sparsity: number }): SparseOptions {
  return { sparsity: o.sparsity, sink: o.sink, window: o.window };
}

/** The sparse methods and what each does, after the options of a command that takes them. */
export function methodsHelp(cmd: Command): Command {
  const width = maxOf(METHOD_NAMES.map((n) => n.length));
  const lines = METHODS.map((m) => `  ${m.name.padEnd(width)}  ${m.description}`);
  return cmd.addHelpText('after', ['', 'Sparse methods (each at the same budget of context keys):', ...lines].join('\n'));
}

export interface AttentionFlags extends BudgetFlags { attention: AttentionKind; sparsity: number; questionAttention: QuestionAttention }

/** How generated tokens (and the question) attend: decode's choice of method and budget. */
export function attentionOptions(cmd: Command): Command {
  return budgetOptions(methodsHelp(cmd)
    .addOption(new Option('--attention <kind>', 'attention for generated tokens: csa, full, or a baseline selector at the same budget (see below)').choices(ATTENTION_KINDS).default('csa')))
    .addOption(questionAttentionOption('--attention'));
}

export type QuestionAttention = 'full' | 'sparse';

/** How the question attends: one full-attention prefill over the context, or through the sparse decode step (`through`). */
export function questionAttentionOption(through: string): Option {
  return new Option('--question-attention <kind>', `the question (and template suffix): one prefill with full attention, or token by token with ${through}`).choices(['full', 'sparse']).default('full');
}

// ---------------------------------------------------------------------------------------------
// The question a break-even is computed for (prefill, info)

export type QuestionFlags = QuestionShape;

export function questionOptions(cmd: Command): Command {
  return cmd
    .option('--question-tokens <n>', 'break-even: tokens of a question', intArg(1, 1_000_000), DEFAULT_QUESTION.questionTokens)
    .option('--answer-tokens <n>', 'break-even: tokens of an answer', intArg(1, 1_000_000), DEFAULT_QUESTION.answerTokens);
}

export function questionShape(o: QuestionFlags): QuestionShape {
  return { questionTokens: o.questionTokens, answerTokens: o.answerTokens };
}
