/**
 * The csattn command line: each command declares its options and hands its work to the module that
 * does it. Every command validates its input first and fails with one line (`csattn: <what is
 * wrong>`) and a non-zero exit; output files appear only when complete.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { CsattnError, check } from './errors.js';
import { createGpu, fmtBytes } from './gpu/device.js';
import { loadModel } from './model/load.js';
import type { Model } from './model/model.js';
import type { WeightFormat } from './ops/quant.js';
import type { KvFormat } from './model/kvcache.js';
import { loadConfig } from './model/config.js';
import { Tokenizer } from './tokenizer.js';
import { Generator, textSink } from './generate.js';
import { writeNpy } from './npy.js';
import { PRESETS, writeSynthModel } from './model/synth.js';
import { createLogger, progress, type Logger } from './log.js';
import { VERSION } from './version.js';
import { ATTENTION_KINDS, METHOD_NAMES, isMethod, type AttentionKind, type Method } from './attention/methods.js';
import { costs, formatCosts } from './costs.js';
import { prefillDocument } from './prefill.js';
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH_TENSOR_CORES, answerQuestions, decodeSummary } from './decode.js';
import { readQuestions, type QuestionSources } from './questions.js';
import { bundleInfo, formatInfo } from './info.js';
import { formatSummary, runEval } from './eval/run.js';
import { loadReport, mergeReports, parseShard, shardFromEnv, writeReport } from './eval/report.js';
import { renderHtml } from './eval/html.js';
import { METRIC_NAMES, type MetricName } from './eval/metrics.js';
import type { Choice } from './attention/csa/tables.js';
import { checkOutputs, exitOnSignals, modelFiles, readDocument, writeFileAtomic, type NamedPath } from './fsutil.js';
import { bench, formatBench } from './bench.js';
import { formatPerplexity, perplexity } from './perplexity.js';
import { doctor, failedChecks, formatDoctor } from './doctor.js';
import { DEFAULT_MODEL, DEMO_DOCUMENT } from './paths.js';
import { formatDemo, runDemo } from './demo.js';
import {
  attentionOptions, budgetOptions, choiceOption, chunkSizeOption, csaOptions, csaParams, floatArg, intArg, listArg, logLevelOption,
  methodsHelp, modelDir, modelOption, weightsOption, kvOption, questionAttentionOption, questionOptions, questionShape, sampling, samplingOptions, sparse,
  type AttentionFlags, type BudgetFlags, type Common, type CsaFlags, type QuestionAttention, type QuestionFlags, type SamplingFlags,
} from './cli/options.js';

/** The model on the GPU with a KV cache of `capacity` tokens, showing the load's progress. */
async function modelOnGpu(dir: string, capacity: number, log: Logger, o: { chunkSize?: number; weights?: WeightFormat; kv?: KvFormat } = {}): Promise<Model> {
  loadConfig(dir); // a bad config fails before the GPU starts
  const gpu = await createGpu({ log });
  log.debug({ adapter: gpu.adapterName, f16: gpu.f16, subgroups: gpu.subgroups, tensorCores: gpu.tensorCores }, 'gpu');
  const bar = progress(log, 'load', 1, 'bytes');
  const model = await loadModel(gpu, dir, { capacity, ...o, onProgress: (d, t) => bar.update(d, { total: t }) });
  bar.stop();
  return model;
}

// ---------------------------------------------------------------------------------------------
// generate / logits / synth-model

interface GenerateFlags extends Common, SamplingFlags { model?: string; weights: WeightFormat; kv: KvFormat; prompt: string; chat: boolean }

function generateCommand(): Command {
  return samplingOptions(
    new Command('generate')
      .description('generate text from a prompt with full attention, streaming tokens to stdout')
      .addOption(modelOption())
      .addOption(weightsOption())
      .addOption(kvOption())
      .requiredOption('--prompt <text>', 'the prompt')
      .option('--no-chat', 'do not apply the chat template (raw text continuation)')
      .option('--json', 'print one JSON object (text, ids, timings) instead of streaming text')
      .addOption(logLevelOption('warn')),
  ).action(async (o: GenerateFlags) => {
    const log = createLogger(o.logLevel);
    const dir = modelDir(o.model);
    loadConfig(dir);
    const tok = await Tokenizer.load(dir);
    const ids = tok.promptIds(o.prompt, { chat: o.chat });
    check(ids.length > 0, 'the prompt is empty');
    const model = await modelOnGpu(dir, ids.length + o.maxTokens, log, { weights: o.weights, kv: o.kv });
    const sink = textSink(tok, o.stop, o.json ? () => {} : (s) => process.stdout.write(s));
    const r = await new Generator(model).generate(ids, 0, sampling(o, tok), sink.onToken);
    const text = sink.finish();
    if (o.json) {
      process.stdout.write(JSON.stringify({ text, ids: r.ids, promptTokens: ids.length, stopReason: r.stopReason, adapter: model.gpu.adapterName, ...r.timings }) + '\n');
    } else {
      process.stdout.write('\n');
      log.info(r.timings, 'timings');
    }
    model.destroy();
  });
}

interface LogitsFlags extends Common { model?: string; weights: WeightFormat; kv: KvFormat; prompt?: string; ids?: string; out: string; chunkSize: number }

function logitsCommand(): Command {
  return new Command('logits')
    .description('write the logits of every position as a float32 .npy file [tokens, vocab] (reference checks)')
    .addOption(modelOption())
    .addOption(weightsOption())
    .addOption(kvOption())
    .addOption(new Option('--prompt <text>', 'text to encode (BOS added as the tokenizer does)').conflicts('ids'))
    .option('--ids <list>', 'comma-separated token ids, used exactly as given (no BOS added)')
    .requiredOption('--out <file>', 'output .npy file')
    .addOption(chunkSizeOption())
    .addOption(logLevelOption('warn'))
    .action(async (o: LogitsFlags) => {
      const log = createLogger(o.logLevel);
      const dir = modelDir(o.model);
      await checkOutputs([{ what: '--out', path: o.out }], await modelFiles(dir));
      const tok = await Tokenizer.load(dir);
      check(o.prompt !== undefined || o.ids !== undefined, 'give --prompt or --ids');
      const ids = o.ids !== undefined ? parseIds(o.ids) : tok.encode(o.prompt!);
      check(ids.length > 0, 'no tokens to run');
      tok.checkIds(ids);
      const model = await modelOnGpu(dir, ids.length, log, { chunkSize: o.chunkSize, weights: o.weights, kv: o.kv });
      check(ids.every((i) => i < model.cfg.vocab), () => `token id ${ids.find((i) => i >= model.cfg.vocab)} is outside the model's vocabulary (${model.cfg.vocab})`, 'input');
      const logits = (await model.prefill(ids, 0, { logits: 'all' }))!;
      await writeNpy(o.out, logits, [ids.length, model.cfg.vocab]);
      log.info({ tokens: ids.length, out: o.out }, 'logits written');
      model.destroy();
    });
}

function parseIds(s: string): number[] {
  const parts = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  return parts.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(n)) throw new CsattnError(`--ids: "${p}" is not a token id`, 'input');
    return n;
  });
}

interface SynthFlags extends Common { preset: string; out: string; seed: number; dtype: 'F16' | 'BF16' | 'F32'; layers?: number }

function synthCommand(): Command {
  return new Command('synth-model')
    .description('write a random-weight model folder with the shapes of a real model (for benchmarks and reference tests)')
    .addOption(new Option('--preset <name>', 'model shape').choices(Object.keys(PRESETS)).makeOptionMandatory())
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--seed <n>', 'weight seed', intArg(0, 2 ** 32 - 1), 0)
    .addOption(new Option('--dtype <dtype>', 'stored weight type').choices(['F16', 'BF16', 'F32']).default('F16'))
    .option('--layers <n>', 'fewer layers than the preset (same shapes otherwise)', intArg(1, 1000))
    .addOption(logLevelOption('info'))
    .action(async (o: SynthFlags) => {
      const log = createLogger(o.logLevel);
      const bar = progress(log, 'write', 1, 'bytes');
      await writeSynthModel(resolve(o.out), o.preset, { seed: o.seed, dtype: o.dtype, layers: o.layers, onProgress: (d, t) => bar.update(d, { total: t }) });
      bar.stop();
      log.info({ preset: o.preset, out: o.out }, 'model written');
    });
}

// ---------------------------------------------------------------------------------------------
// prefill / info / decode

interface PrefillFlags extends Common, CsaFlags, QuestionFlags {
  out: string; model?: string; weights: WeightFormat; kv: KvFormat; template: string; truncate?: 'middle' | 'end'; reserve: number; chunkSize: number;
}

function prefillCommand(): Command {
  return questionOptions(csaOptions(new Command('prefill')
    .description('prefill a document once: KV cache + CSAttention lookup tables in one .csa bundle')
    .argument('<document>', 'UTF-8 text file')
    .requiredOption('-o, --out <file>', 'output bundle (.csa); replaced only by a complete bundle')
    .addOption(modelOption())
    .addOption(weightsOption('f16', '; decode runs the bundle in the same format'))
    .addOption(kvOption('; decode runs the bundle\'s'))
    .option('--template <t>', 'prompt template: auto (chat template if the model has one, else plain "{context}\\n\\n{prompt}"), plain, chat, or a custom text with {context} and {prompt}', 'auto')
    .addOption(new Option('--truncate <how>', 'cut a document longer than the model\'s window: middle (keep both ends) or end').choices(['middle', 'end']))
    .option('--reserve <n>', 'positions kept free for the question and answer', intArg(0), 512)
    .addOption(chunkSizeOption())
    .option('--json', 'print a JSON summary (phase times, peak GPU memory, sizes, costs and break-even) at the end')
    .addOption(logLevelOption('info'))))
    .action(async (document: string, o: PrefillFlags) => {
      const log = createLogger(o.logLevel);
      const dir = modelDir(o.model);
      await checkOutputs([{ what: '--out', path: o.out }], [{ what: 'the document', path: document }, ...await modelFiles(dir)]);
      const s = await prefillDocument({
        document, out: resolve(o.out), modelDir: dir, weights: o.weights, kv: o.kv, template: o.template, truncate: o.truncate,
        reserve: o.reserve, chunkSize: o.chunkSize, csa: csaParams(o), questionTokens: o.questionTokens, log,
      });
      const c = costs(s, questionShape(o));
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...s, tableToKvRatio: c.tableToKvRatio, costs: c }) + '\n');
        return;
      }
      log.info(s, `wrote ${s.out}: ${s.tokens} tokens, ${fmtBytes(s.fileBytes)}`);
      process.stdout.write([`${s.out}: ${s.tokens} tokens, ${fmtBytes(s.fileBytes)}`, ...formatCosts(c)].join('\n') + '\n');
    });
}

function infoCommand(): Command {
  return questionOptions(new Command('info')
    .description('describe a .csa bundle: tokens, model, CSA parameters, sizes, what the prefill cost and after how many questions it pays off')
    .argument('<bundle>', '.csa file')
    .option('--json', 'print JSON'))
    .action(async (path: string, o: QuestionFlags & { json?: boolean }) => {
      const info = await bundleInfo(path, questionShape(o));
      process.stdout.write(o.json ? JSON.stringify(info) + '\n' : formatInfo(info));
    });
}

interface DecodeFlags extends Common, SamplingFlags, AttentionFlags, QuestionSources { model?: string; weights?: WeightFormat; choice?: Choice; batch?: number }

function decodeCommand(): Command {
  return attentionOptions(samplingOptions(new Command('decode')
    .description('answer questions from a .csa bundle with CSAttention sparse attention, streaming tokens')
    .argument('<bundle>', '.csa file made by csattn prefill')
    .addOption(modelOption())
    .addOption(weightsOption(null, '; default: the format the bundle was prefilled with'))
    .addOption(choiceOption('; default: the one the bundle was prefilled with'))
    .option('--prompt <text>', 'the question')
    .option('--prompt-file <file>', 'read the question from a file')
    .option('--prompts <jsonl>', 'answer every line ({"prompt": ...}) against one loaded bundle; one JSON line out per question')
    .option('--batch <n>', `with --prompts: questions decoded together, each step reading the weights once for all (a finished question's slot takes the next); default: what fits the GPU, at most ${DEFAULT_MAX_BATCH} (${DEFAULT_MAX_BATCH_TENSOR_CORES} with tensor cores; printed on stderr)`, intArg(1, 4096))
    .option('--json', 'print the answer as JSON with timings (load, question prefill, first token, ms/token, KV bytes per step)')
    .addOption(logLevelOption('warn'))))
    .action(async (path: string, o: DecodeFlags) => {
      const log = createLogger(o.logLevel);
      const questions = await readQuestions(o);
      // One question streams its text; answers to many (or --json) come as JSON lines.
      const lines = o.json || o.prompts !== undefined;
      await answerQuestions({
        bundle: resolve(path), modelDir: modelDir(o.model), weights: o.weights, choice: o.choice, questions, attention: o.attention, sparse: sparse(o),
        sampling: { maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, seed: o.seed, stopStrings: o.stop, promptAttention: o.questionAttention },
        stream: lines ? undefined : (s) => process.stdout.write(s), log, batch: o.batch,
        onBatch: (B) => { if (questions.length > 1) process.stderr.write(`[decoding ${B} question${B > 1 ? 's' : ''} at a time${o.batch === undefined ? ' (--batch default)' : ''}]\n`); },
      }, (r) => {
        if (lines) { process.stdout.write(JSON.stringify(r) + '\n'); return; }
        process.stdout.write('\n');
        process.stderr.write(decodeSummary(r) + '\n');
        log.debug(r, 'answer');
      });
    });
}

// ---------------------------------------------------------------------------------------------
// perplexity

interface PerplexityFlags extends Common, CsaFlags, BudgetFlags {
  model?: string; weights: WeightFormat; kv: KvFormat; attention: AttentionKind; sparsity: number; context: number; scored?: number; windows?: number; chunkSize: number;
}

function perplexityCommand(): Command {
  return csaOptions(budgetOptions(methodsHelp(new Command('perplexity')
    .description('teacher-forced perplexity of a text file: windows of --context tokens, each prefilled (CSA tables built) but for its last --scored tokens, which are scored token by token through the decode step with --attention (attending to the selected context keys and to every scored token before them)')
    .argument('<text-file>', 'UTF-8 text (PG19 book, held-out document)')
    .addOption(modelOption())
    .addOption(weightsOption())
    .addOption(kvOption())
    .addOption(new Option('--attention <kind>', 'attention of the scored tokens: full, csa, or a baseline selector at the same budget (see below)').choices(ATTENTION_KINDS).default('full'))
    .option('--context <n>', 'tokens per window (the leading BOS included)', intArg(4, 1 << 20), 1024)
    .option('--scored <n>', 'tokens scored at the end of each window (default: half the window)', intArg(1))
    .option('--windows <n>', 'score at most this many windows (from the start of the text)', intArg(1)))))
    .addOption(chunkSizeOption())
    .option('--json', 'print one JSON object: perplexity, tokens, nll, windows, context, scored, attention, sparsity, weights, kv')
    .addOption(logLevelOption('info', 'pino log level (a progress bar on a terminal at info)'))
    .action(async (path: string, o: PerplexityFlags) => {
      const log = createLogger(o.logLevel);
      const text = await readDocument(path);
      const dir = modelDir(o.model);
      const tok = await Tokenizer.load(dir);
      const model = await modelOnGpu(dir, o.context, log, { chunkSize: o.chunkSize, weights: o.weights, kv: o.kv });
      try {
        const r = await perplexity({
          model, tok, text, context: o.context, scored: o.scored, maxWindows: o.windows, attention: o.attention, sparse: sparse(o), csa: csaParams(o), log,
        });
        process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatPerplexity(r) + '\n');
      } finally {
        model.destroy();
      }
    });
}

// ---------------------------------------------------------------------------------------------
// demo

function demoCommand(): Command {
  return budgetOptions(new Command('demo')
    .description('the main job on what ships: prefill a bundled document into a bundle, answer a question from it with CSAttention')
    .option('-o, --out <file>', 'keep the bundle here (default: a temp file, removed at the end)'), { sparsityOnly: true })
    .option('--json', 'print one JSON object (answer, sizes, keys per step, timings)')
    .addOption(logLevelOption('info', 'pino log level (progress bars on a terminal at info)'))
    .action(async (o: Common & { out?: string; sparsity: number }) => {
      const log = createLogger(o.logLevel);
      if (o.out) await checkOutputs([{ what: '--out', path: o.out }], [{ what: 'the demo document', path: DEMO_DOCUMENT }, ...await modelFiles(DEFAULT_MODEL)]);
      const r = await runDemo({ out: o.out && resolve(o.out), sparsity: o.sparsity, log });
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatDemo(r));
    });
}

// ---------------------------------------------------------------------------------------------
// bench

interface BenchFlags extends Common, CsaFlags, BudgetFlags {
  preset: string; model?: string; weights: WeightFormat; kv: KvFormat; layers?: number; contexts: number[]; sparsity: number; decodeTokens: number; questionTokens: number;
  bundleIo?: boolean; randomContext?: boolean; profile?: boolean; peakGbps?: number; chunkSize: number; batch?: number[];
}

function benchCommand(): Command {
  return budgetOptions(csaOptions(new Command('bench')
    .description('decode speed against the bandwidth floor: prefill, tables, bundle write/load, decode ms/token with full and CSA attention, per context length')
    .addOption(new Option('--preset <name>', 'model shape with random weights made on the GPU').choices(Object.keys(PRESETS)).default('llama-3.1-8b'))
    .option('--model <dir>', 'a real Hugging Face model folder instead of a preset')
    .addOption(weightsOption())
    .addOption(kvOption())
    .option('--layers <n>', 'use only the first n layers (quick runs)', intArg(1, 1000))
    .option('--contexts <list>', 'comma-separated context lengths in tokens', listArg(intArg(1)), [32768, 65536, 131072])))
    .option('--decode-tokens <n>', 'tokens generated per measurement', intArg(2, 100000), 128)
    .option('--question-tokens <n>', 'random question tokens prefilled after the context', intArg(1, 100000), 16)
    .option('--batch <list>', 'also decode this many sequences together (comma-separated batch sizes, e.g. 1,4,16): ms a step, tokens/s of all and of each sequence, full and csa', listArg(intArg(1, 4096)))
    .option('--bundle-io', 'also write the bundle to a temp file and load it back (timed)')
    .option('--random-context', 'skip the prefill: random K/V and tables of the same shapes clustered from the keys (decode speed does not depend on values)')
    .option('--profile', 'GPU time per kernel (timestamp queries) of one decode step of each attention, alone and as part of the step (the step without it), of the whole step, of a step of each --batch, and of one prefill layer over the last chunk')
    .option('--peak-gbps <n>', 'memory bandwidth the floor is computed with, GB/s (default: the adapter\'s datasheet figure, e.g. H200 4800, H100 SXM 3350; floors are left out for an adapter not in the table)', floatArg(1, 1e6))
    .addOption(chunkSizeOption())
    .option('--json', 'one JSON line per context instead of the table')
    .addOption(logLevelOption('info'))
    .action(async (o: BenchFlags) => {
      const log = createLogger(o.logLevel);
      const rows = await bench({
        preset: o.model ? undefined : o.preset, modelDir: o.model ? modelDir(o.model) : undefined, weights: o.weights, kv: o.kv, layers: o.layers,
        contexts: o.contexts, sparse: sparse(o), decodeTokens: o.decodeTokens,
        questionTokens: o.questionTokens, csa: csaParams(o), chunkSize: o.chunkSize, bundleIo: !!o.bundleIo, randomContext: !!o.randomContext, profile: !!o.profile,
        peakGbps: o.peakGbps, seed: o.seed, batches: o.batch, log,
      }, (r) => { if (o.json) process.stdout.write(JSON.stringify(r) + '\n'); });
      if (!o.json) process.stdout.write(formatBench(rows));
    });
}

// ---------------------------------------------------------------------------------------------
// eval / merge

interface EvalFlags extends Common, CsaFlags, BudgetFlags {
  model?: string; weights: WeightFormat; kv: KvFormat; sparsity: number[]; methods: Method[]; templates?: string; defaultTemplate?: string; metric?: MetricName;
  cacheDir: string; out?: string; html?: string; resume?: boolean; limit?: number; datasets?: string[];
  shard?: string; shards?: number; recall: boolean; chunkSize: number; questionAttention: QuestionAttention; batch: boolean;
}

function evalCommand(): Command {
  return methodsHelp(budgetOptions(csaOptions(new Command('eval')
    .description('answer every record with full attention and with sparse methods; report scores, agreement, recall, centroid cosine and speed')
    .argument('<jsonl...>', 'LongBench-format JSONL files (input, context, answers, dataset, ...)')
    .addOption(modelOption())
    .addOption(weightsOption())
    .addOption(kvOption())
    .option('--methods <list>', `sparse methods besides full: ${METHOD_NAMES.join(', ')} (see below)`, listArg((m: string) => {
      if (!isMethod(m)) throw new InvalidArgumentError(`unknown method ${m} (${METHOD_NAMES.join(', ')})`);
      return m;
    }), ['csa'])), { list: true })
    .option('--templates <file>', 'JSON {"prompt": {dataset: template}, "maxlen": {dataset: n}, "metric": {dataset: name}} adding or overriding datasets')
    .option('--default-template <text>', 'template for datasets without one ({context}, {input})')
    .addOption(new Option('--metric <name>', 'metric for datasets that have none (not LongBench\'s, none in --templates, no "outputs")').choices(METRIC_NAMES))
    .option('--cache-dir <dir>', 'where prefilled bundles are kept between runs', '.csattn-cache')
    .option('--out <file>', 'report.json (per record and aggregates)')
    .option('--html <file>', 'self-contained HTML report with charts')
    .option('--resume', 'continue from --out, skipping records already in it')
    .option('--limit <n>', 'at most n records', intArg(1))
    .option('--datasets <list>', 'only these datasets', listArg(String))
    .option('--shard <i/n|auto>', 'run only shard i of n (1-based); auto: this task of a Slurm job array or Kubernetes Indexed Job; join shards with csattn merge')
    .option('--shards <n>', 'with --shard auto in a Kubernetes Indexed Job: the number of shards (the Job\'s completions)', intArg(1))
    .option('--no-recall', 'skip the probe step (one per method): recall@K of the oracle keys, and for csa and keypq the query\'s cosine to their centroids')
    .addOption(questionAttentionOption('each sparse method (the strict setting: the question arrives after the offline prefill)'))
    .option('--no-batch', 'answer a record\'s runs (full attention, each method at each sparsity) one after another, not decoding together as one batch with those of the next records of its context (the report is the same)')
    .addOption(chunkSizeOption())
    .addOption(logLevelOption('info')))
    .action(async (files: string[], o: EvalFlags) => {
      const log = createLogger(o.logLevel);
      check(o.shards === undefined || o.shard === 'auto', '--shards goes with --shard auto', 'usage');
      const shard = o.shard === 'auto' ? shardFromEnv(process.env, o.shards) : o.shard;
      if (shard) parseShard(shard);
      if (o.resume) check(o.out, '--resume needs --out (the report to continue)', 'input');
      if (o.shard === 'auto') log.info({ shard }, `shard ${shard} from the job runner`);
      const dir = modelDir(o.model);
      const inputs = [...files.map((path) => ({ what: 'the dataset file', path })), ...await modelFiles(dir)];
      if (o.templates) inputs.push({ what: '--templates', path: o.templates });
      // --resume rewrites --out on purpose: the report read is in the one written.
      await checkOutputs(reportOutputs(o), inputs);
      const { report, exitCode } = await runEval({
        files: files.map((f) => resolve(f)), modelDir: dir, weights: o.weights, kv: o.kv, methods: o.methods, sparsities: o.sparsity,
        sink: o.sink, window: o.window, csa: csaParams(o), templatesFile: o.templates, defaultTemplate: o.defaultTemplate, metric: o.metric,
        cacheDir: resolve(o.cacheDir), out: o.out && resolve(o.out), html: o.html && resolve(o.html), resume: Boolean(o.resume),
        limit: o.limit, datasets: o.datasets, shard, chunkSize: o.chunkSize, recall: o.recall, questionAttention: o.questionAttention, batch: o.batch, log,
      });
      process.stdout.write(formatSummary(report));
      if (exitCode !== 0) process.exit(exitCode);
    });
}

/** The files eval and merge write. */
function reportOutputs(o: { out?: string; html?: string }): NamedPath[] {
  const outputs: NamedPath[] = [];
  if (o.out) outputs.push({ what: '--out', path: o.out });
  if (o.html) outputs.push({ what: '--html', path: o.html });
  return outputs;
}

function mergeCommand(): Command {
  return new Command('merge')
    .description('join the reports of eval shards into one')
    .argument('<reports...>', 'report.json files from csattn eval --shard')
    .requiredOption('-o, --out <file>', 'merged report.json')
    .option('--html <file>', 'also write the HTML report')
    .action(async (files: string[], o) => {
      await checkOutputs(reportOutputs(o), files.map((path) => ({ what: 'the report', path })));
      const merged = mergeReports(await Promise.all(files.map((f) => loadReport(resolve(f)))));
      await writeReport(resolve(o.out), merged);
      if (o.html) await writeFileAtomic(resolve(o.html), [Buffer.from(renderHtml(merged))]);
      process.stdout.write(formatSummary(merged));
    });
}

// ---------------------------------------------------------------------------------------------
// doctor

function doctorCommand(): Command {
  return new Command('doctor')
    .description('check the GPU: create the device, run a small kernel on each path csattn chose (f16, subgroups, tensor cores, timestamps), report the adapter, webgpu version and limits')
    .option('--json', 'print the report as one JSON object')
    .option('--log-level <level>', 'pino log level; debug shows what Dawn printed at start-up', 'warn')
    .action(async (o) => {
      const report = await doctor(createLogger(o.logLevel));
      process.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatDoctor(report));
      check(report.ok, () => `doctor: the ${failedChecks(report).join(', ')} check failed on this GPU`, 'gpu');
    });
}

export function buildProgram(): Command {
  const program = new Command('csattn')
    .description('serve long, reusable LLM contexts with CSAttention sparse attention on WebGPU')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (s, write) => write(s) });
  program.addCommand(demoCommand());
  program.addCommand(generateCommand());
  program.addCommand(logitsCommand());
  program.addCommand(synthCommand());
  program.addCommand(prefillCommand());
  program.addCommand(infoCommand());
  program.addCommand(decodeCommand());
  program.addCommand(evalCommand());
  program.addCommand(mergeCommand());
  program.addCommand(perplexityCommand());
  program.addCommand(benchCommand());
  program.addCommand(doctorCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  exitOnSignals();
  const program = buildProgram();
  // Subcommands added whole do not inherit it: set on each, so their usage errors come here too.
  for (const cmd of [program, ...program.commands]) cmd.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e: any) {
    if (e?.code === 'commander.helpDisplayed' || e?.code === 'commander.version' || e?.code === 'commander.help') process.exit(0);
    // commander gives usage errors status 1; the README (and scripts) tell them apart by 2.
    if (e?.code?.startsWith?.('commander.')) process.exit(2);
    throw e;
  }
  // Dawn keeps the process alive while a GPU instance exists.
  process.exit(0);
}
