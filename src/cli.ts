/**
 * The csattn command line. Every command validates its input first and fails with one line
 * (`csattn: <what is wrong>`) and a non-zero exit; output files appear only when complete.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CsattnError, check } from './errors.js';
import { createGpu } from './gpu/device.js';
import { loadModel } from './model/load.js';
import { DEFAULT_CHUNK_SIZE, type Model } from './model/model.js';
import { loadConfig } from './model/config.js';
import { Tokenizer } from './tokenizer.js';
import { Generator, textSink, type SamplingOptions } from './generate.js';
import { writeNpy } from './npy.js';
import { PRESETS, writeSynthModel } from './model/synth.js';
import { createLogger, progress, type Logger } from './log.js';
import { VERSION } from './version.js';
import { fmtBytes } from './gpu/device.js';
import { DEFAULT_CSA, type CsaParams } from './attention/csa.js';
import { ATTENTION_KINDS, METHODS, METHOD_NAMES, isMethod } from './attention/methods.js';
import { Bundle } from './bundle.js';
import { DEFAULT_QUESTION, costs, figuresFromStats, formatCosts } from './costs.js';
import { prefillDocument, readDocument } from './prefill.js';
import { DEFAULT_SPARSE, Session } from './decode.js';
import { questionIds } from './template.js';
import { formatSummary, runEval } from './eval/run.js';
import { loadReport, mergeReports, parseShard, renderHtml, shardFromEnv, writeReport } from './eval/report.js';
import { METRIC_NAMES } from './eval/metrics.js';
import { checkOutputs, exitOnSignals, modelFiles, writeFileAtomic, type NamedPath } from './fsutil.js';
import { bench, formatBench } from './bench.js';
import { doctor, failedChecks, formatDoctor } from './doctor.js';
import { DEFAULT_MODEL, DEMO_DOCUMENT } from './paths.js';
import { formatDemo, runDemo } from './demo.js';
import { maxOf } from './arrays.js';

export { DEFAULT_MODEL, PACKAGE_ROOT } from './paths.js';

// ---------------------------------------------------------------------------------------------
// Option parsers: reject bad values before any work starts.

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

function modelDir(dir: string | undefined): string {
  const d = resolve(dir ?? DEFAULT_MODEL);
  check(existsSync(d) && statSync(d).isDirectory(), `model folder not found: ${d}`, 'missing');
  return d;
}

export function modelOption(): Option {
  return new Option('--model <dir>', 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)').default(DEFAULT_MODEL, 'the bundled tinylm');
}

export function samplingOptions(cmd: Command): Command {
  return cmd
    .option('--max-tokens <n>', 'maximum number of new tokens', intArg(1), 64)
    .option('--temperature <t>', 'sampling temperature; 0 = greedy', floatArg(0, 100), 0)
    .option('--top-p <p>', 'nucleus sampling: keep the most probable tokens up to this total probability', floatArg(0, 1, { aboveMin: true }), 1)
    .option('--seed <n>', 'random seed for sampling', intArg(0, 2 ** 32 - 1), 0)
    .option('--stop <text...>', 'stop when the output contains this text (repeatable)');
}

export function sampling(o: { maxTokens: number; temperature: number; topP: number; seed: number; stop?: string[] }, tok: Tokenizer): SamplingOptions {
  return { maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, seed: o.seed, stopIds: tok.eosIds, stopStrings: o.stop };
}

/** Loads the model and tokenizer with a KV cache of `capacity` tokens, showing progress. */
export async function loadModelAndTokenizer(dir: string, capacity: number, log: Logger, chunkSize?: number): Promise<{ model: Model; tok: Tokenizer }> {
  loadConfig(dir); // a bad config fails before the GPU starts
  const tok = await Tokenizer.load(dir);
  const gpu = await createGpu({ log });
  log.debug({ adapter: gpu.adapterName, f16: gpu.f16, subgroups: gpu.subgroups, tensorCores: gpu.tensorCores }, 'gpu');
  const bar = progress(log, 'load', 1, 'bytes');
  const model = await loadModel(gpu, dir, { capacity, chunkSize, onProgress: (d, t) => bar.update(d, { total: t }) });
  bar.stop();
  return { model, tok };
}

// ---------------------------------------------------------------------------------------------
// Commands

function generateCommand(): Command {
  return samplingOptions(
    new Command('generate')
      .description('generate text from a prompt with full attention, streaming tokens to stdout')
      .addOption(modelOption())
      .requiredOption('--prompt <text>', 'the prompt')
      .option('--no-chat', 'do not apply the chat template (raw text continuation)')
      .option('--json', 'print one JSON object (text, ids, timings) instead of streaming text')
      .option('--log-level <level>', 'pino log level (fatal, error, warn, info, debug)', 'warn'),
  ).action(async (o) => {
    const log = createLogger(o.logLevel);
    const dir = modelDir(o.model);
    loadConfig(dir);
    const tok = await Tokenizer.load(dir);
    const ids = tok.promptIds(o.prompt, { chat: o.chat });
    check(ids.length > 0, 'the prompt is empty');
    const { model } = await loadModelAndTokenizer(dir, ids.length + o.maxTokens, log);
    const gen = new Generator(model);
    const sink = textSink(tok, o.stop, o.json ? () => {} : (s) => process.stdout.write(s));
    const r = await gen.generate(ids, 0, sampling(o, tok), sink.onToken);
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

function logitsCommand(): Command {
  return new Command('logits')
    .description('write the logits of every position as a float32 .npy file [tokens, vocab] (reference checks)')
    .addOption(modelOption())
    .addOption(new Option('--prompt <text>', 'text to encode (BOS added as the tokenizer does)').conflicts('ids'))
    .option('--ids <list>', 'comma-separated token ids, used exactly as given (no BOS added)')
    .requiredOption('--out <file>', 'output .npy file')
    .option('--chunk-size <n>', 'prefill chunk size in tokens', intArg(1, 65536), DEFAULT_CHUNK_SIZE)
    .option('--log-level <level>', 'pino log level', 'warn')
    .action(async (o) => {
      const log = createLogger(o.logLevel);
      const dir = modelDir(o.model);
      await checkOutputs([{ what: '--out', path: o.out }], await modelFiles(dir));
      const tok = await Tokenizer.load(dir);
      check(o.prompt !== undefined || o.ids !== undefined, 'give --prompt or --ids');
      const ids = o.ids !== undefined ? parseIds(o.ids) : tok.encode(o.prompt);
      check(ids.length > 0, 'no tokens to run');
      tok.checkIds(ids);
      const { model } = await loadModelAndTokenizer(dir, ids.length, log, o.chunkSize);
      check(ids.every((i) => i < model.cfg.vocab), () => `token id ${ids.find((i) => i >= model.cfg.vocab)} is outside the model's vocabulary (${model.cfg.vocab})`, 'input');
      const logits = (await model.prefill(ids, 0, { logits: 'all' }))!;
      await writeNpy(o.out, logits, [ids.length, model.cfg.vocab]);
      log.info({ tokens: ids.length, out: o.out }, 'logits written');
      model.destroy();
    });
}

export function parseIds(s: string): number[] {
  const parts = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  return parts.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(n)) throw new CsattnError(`--ids: "${p}" is not a token id`, 'input');
    return n;
  });
}

function synthCommand(): Command {
  return new Command('synth-model')
    .description('write a random-weight model folder with the shapes of a real model (for benchmarks and reference tests)')
    .addOption(new Option('--preset <name>', 'model shape').choices(Object.keys(PRESETS)).makeOptionMandatory())
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--seed <n>', 'weight seed', intArg(0, 2 ** 32 - 1), 0)
    .addOption(new Option('--dtype <dtype>', 'stored weight type').choices(['F16', 'BF16', 'F32']).default('F16'))
    .option('--layers <n>', 'fewer layers than the preset (same shapes otherwise)', intArg(1, 1000))
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o) => {
      const log = createLogger(o.logLevel);
      const bar = progress(log, 'write', 1, 'bytes');
      await writeSynthModel(resolve(o.out), o.preset, { seed: o.seed, dtype: o.dtype, layers: o.layers, onProgress: (d, t) => bar.update(d, { total: t }) });
      bar.stop();
      log.info({ preset: o.preset, out: o.out }, 'model written');
    });
}

// ---------------------------------------------------------------------------------------------
// prefill / info / decode

function csaOptions(cmd: Command): Command {
  const d = DEFAULT_CSA;
  return cmd
    .option('--subspaces <m>', 'CSA: subspaces the head dimension is split into', intArg(1, 256), d.subspaces)
    .option('--centroids <C>', 'CSA: query centroids per subspace (cosine k-means)', intArg(1, 4096), d.centroids)
    .option('--list-fraction <alpha>', 'CSA: lookup-list length as a fraction of the context (L = alpha N)', floatArg(1e-6, 1), d.listFraction)
    .option('--kmeans-iters <n>', 'CSA: k-means iterations', intArg(0, 1000), d.kmeansIters)
    .option('--seed <n>', 'CSA: k-means seed', intArg(0, 2 ** 32 - 1), d.seed)
    .addOption(new Option('--granularity <g>', 'CSA: tables per KV head (query heads of a GQA group pooled) or per query head').choices(['kv-head', 'query-head']).default(d.granularity))
    .addOption(new Option('--rope <r>', 'CSA: cluster and score queries/keys after RoPE (as attention sees them) or before').choices(['post', 'pre']).default(d.rope))
    .addOption(new Option('--score-scale <s>', 'CSA: weight each subspace\'s partial scores by the query sub-vector norm').choices(['qnorm', 'none']).default(d.scoreScale));
}

function csaParams(o: any): CsaParams {
  return {
    subspaces: o.subspaces, centroids: o.centroids, listFraction: o.listFraction, kmeansIters: o.kmeansIters,
    seed: o.seed, granularity: o.granularity, rope: o.rope, scoreScale: o.scoreScale,
  };
}

function prefillCommand(): Command {
  return questionOptions(csaOptions(new Command('prefill')
    .description('prefill a document once: KV cache + CSAttention lookup tables in one .csa bundle')
    .argument('<document>', 'UTF-8 text file')
    .requiredOption('-o, --out <file>', 'output bundle (.csa); replaced only by a complete bundle')
    .addOption(modelOption())
    .option('--template <t>', 'prompt template: auto (chat template if the model has one, else plain "{context}\\n\\n{prompt}"), plain, chat, or a custom text with {context} and {prompt}', 'auto')
    .addOption(new Option('--truncate <how>', 'cut a document longer than the model\'s window: middle (keep both ends) or end').choices(['middle', 'end']))
    .option('--reserve <n>', 'positions kept free for the question and answer', intArg(0), 512)
    .option('--chunk-size <n>', 'prefill chunk size in tokens', intArg(1, 65536), DEFAULT_CHUNK_SIZE)
    .option('--json', 'print a JSON summary (phase times, peak GPU memory, sizes, costs and break-even) at the end')
    .option('--log-level <level>', 'pino log level', 'info')))
    .action(async (document: string, o) => {
      const log = createLogger(o.logLevel);
      const dir = modelDir(o.model);
      await checkOutputs([{ what: '--out', path: o.out }], [{ what: 'the document', path: document }, ...await modelFiles(dir)]);
      const s = await prefillDocument({
        document, out: resolve(o.out), modelDir: dir, template: o.template, truncate: o.truncate,
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

/** --question-tokens and --answer-tokens: the question the break-even is computed for. */
function questionOptions(cmd: Command): Command {
  return cmd
    .option('--question-tokens <n>', 'break-even: tokens of a question', intArg(1, 1_000_000), DEFAULT_QUESTION.questionTokens)
    .option('--answer-tokens <n>', 'break-even: tokens of an answer', intArg(1, 1_000_000), DEFAULT_QUESTION.answerTokens);
}

function questionShape(o: { questionTokens: number; answerTokens: number }) {
  return { questionTokens: o.questionTokens, answerTokens: o.answerTokens };
}

function infoCommand(): Command {
  return questionOptions(new Command('info')
    .description('describe a .csa bundle: tokens, model, CSA parameters, sizes, what the prefill cost and after how many questions it pays off')
    .argument('<bundle>', '.csa file')
    .option('--json', 'print JSON'))
    .action(async (path: string, o) => {
      const b = await Bundle.open(resolve(path));
      const m = b.meta;
      const size = statSync(path).size;
      const kv = [...b.file.tensors.values()].filter((t) => /\.(k|v)$/.test(t.name)).reduce((a, t) => a + t.byteLength, 0);
      const c = costs(figuresFromStats(m.stats, { kvBytes: kv, tableBytes: size - kv }), questionShape(o));
      const info = {
        file: path, bytes: size, tokens: b.tokens, formatVersion: m.formatVersion, csattnVersion: m.csattnVersion,
        model: { name: m.model.name, architecture: m.model.architecture, fingerprint: m.model.fingerprint },
        template: m.template, csa: m.csa, shape: m.shape, stats: m.stats,
        kvBytes: kv, tableBytes: size - kv, tableToKvRatio: c.tableToKvRatio, costs: c,
      };
      await b.close();
      if (o.json) { process.stdout.write(JSON.stringify(info) + '\n'); return; }
      const lines = [
        `${path}: csattn bundle v${m.formatVersion} (csattn ${m.csattnVersion})`,
        `  context      ${b.tokens} tokens, template ${m.template.kind}`,
        `  model        ${m.model.name} (${m.model.architecture}), fingerprint ${m.model.fingerprint.slice(0, 16)}`,
        `  shape        ${m.shape.layers} layers, ${m.shape.heads} heads / ${m.shape.kvHeads} KV heads, head dim ${m.shape.headDim}`,
        `  csa          m=${m.csa.subspaces} C=${m.csa.centroids} alpha=${m.csa.listFraction} (L=${m.shape.L}) iters=${m.csa.kmeansIters} seed=${m.csa.seed} ${m.csa.granularity} ${m.csa.rope}-rope scale=${m.csa.scoreScale}`,
        `  file         ${fmtBytes(size)}, made on ${m.stats.adapter ?? 'an unrecorded adapter'}`,
        ...formatCosts(c),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}

function sparseOptions(cmd: Command): Command {
  return methodsHelp(cmd)
    .addOption(new Option('--attention <kind>', 'attention for generated tokens: csa, full, or a baseline selector at the same budget (see below)').choices(ATTENTION_KINDS).default('csa'))
    .option('--sparsity <s>', 'fraction of the context NOT attended per step (K = round((1 - s) N) keys)', floatArg(0, 1), DEFAULT_SPARSE.sparsity)
    .option('--sink <n>', 'first context tokens always attended (counted in the budget)', intArg(0), DEFAULT_SPARSE.sink)
    .option('--window <n>', 'last context tokens always attended (counted in the budget)', intArg(0), DEFAULT_SPARSE.window)
    .addOption(new Option('--question-attention <kind>', 'the question (and template suffix): one prefill with full attention, or token by token with --attention').choices(['full', 'sparse']).default('full'));
}

async function readQuestions(o: any): Promise<{ id: string; prompt: string }[]> {
  const given = [o.prompt !== undefined, o.promptFile !== undefined, o.prompts !== undefined].filter(Boolean).length;
  check(given <= 1, 'give one of --prompt, --prompt-file, --prompts', 'input');
  if (o.prompt !== undefined) return [{ id: '0', prompt: o.prompt }];
  if (o.promptFile !== undefined) return [{ id: '0', prompt: await readDocument(o.promptFile) }];
  if (o.prompts !== undefined) return parsePromptsJsonl(await readDocument(o.prompts), o.prompts);
  check(!process.stdin.isTTY, 'give a question: --prompt, --prompt-file, --prompts, or on stdin', 'input');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return [{ id: '0', prompt: Buffer.concat(chunks).toString('utf8') }];
}

/** One question per line: a JSON object with "prompt" (and optionally "id"), or a JSON string. */
export function parsePromptsJsonl(text: string, file: string): { id: string; prompt: string }[] {
  const out: { id: string; prompt: string }[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: any;
    try { v = JSON.parse(line); } catch { throw new CsattnError(`${file}:${i + 1}: not valid JSON`, 'input'); }
    const prompt = typeof v === 'string' ? v : v?.prompt;
    check(typeof prompt === 'string' && prompt.trim() !== '', `${file}:${i + 1}: expected {"prompt": "..."} or a JSON string`, 'input');
    out.push({ id: String(v?.id ?? out.length), prompt });
  });
  check(out.length > 0, `${file} holds no questions`, 'input');
  return out;
}

function decodeCommand(): Command {
  return sparseOptions(samplingOptions(new Command('decode')
    .description('answer questions from a .csa bundle with CSAttention sparse attention, streaming tokens')
    .argument('<bundle>', '.csa file made by csattn prefill')
    .addOption(modelOption())
    .option('--prompt <text>', 'the question')
    .option('--prompt-file <file>', 'read the question from a file')
    .option('--prompts <jsonl>', 'answer every line ({"prompt": ...}) against one loaded bundle; one JSON line out per question')
    .option('--json', 'print the answer as JSON with timings (load, question prefill, first token, ms/token, KV bytes per step)')
    .option('--log-level <level>', 'pino log level', 'warn')))
    .action(async (path: string, o) => {
      const log = createLogger(o.logLevel);
      const questions = await readQuestions(o);
      const dir = modelDir(o.model);
      const b = await Bundle.open(resolve(path));
      const tok = await Tokenizer.load(dir);
      const longest = maxOf(questions.map((q) => questionIds(tok, b.meta.template, q.prompt).length), 0);
      await b.close();
      const session = await Session.open(resolve(path), dir, longest + o.maxTokens, { log });
      const sparse = { sparsity: o.sparsity, sink: o.sink, window: o.window };
      const many = o.prompts !== undefined;
      for (const q of questions) {
        const sink = textSink(tok, o.stop, o.json || many ? () => {} : (s) => process.stdout.write(s));
        const r = await session.answer(q.prompt, o.attention, sparse, { ...sampling(o, tok), promptAttention: o.questionAttention }, sink.onToken);
        const text = sink.finish();
        const result = {
          id: q.id, text, ids: r.ids, stopReason: r.stopReason, attention: r.attention, sparsity: o.attention === 'full' ? 0 : o.sparsity,
          contextTokens: session.contextTokens, questionTokens: r.questionTokens, loadMs: session.loadMs,
          questionPrefillMs: r.timings.prefillMs, firstTokenMs: r.timings.firstTokenMs, msPerToken: r.timings.msPerToken,
          tokensPerSecond: r.timings.tokensPerSecond, contextKeysPerStep: r.contextKeysPerStep, keysPerStep: r.keysPerStep,
          kvBytesPerStep: r.kvBytesPerStep,
        };
        if (o.json || many) process.stdout.write(JSON.stringify(result) + '\n');
        else {
          process.stdout.write('\n');
          process.stderr.write(decodeSummary(result) + '\n');
          log.debug(result, 'answer');
        }
      }
      await session.close();
    });
}

/** One line for people (stderr, after the answer): the attention, the keys a step attended, the speed. */
export function decodeSummary(r: { attention: string; sparsity: number; contextKeysPerStep: number; contextTokens: number; questionTokens: number; ids: number[]; msPerToken: number }): string {
  const share = ((100 * r.contextKeysPerStep) / r.contextTokens).toFixed(1);
  const how = r.attention === 'full' ? 'full attention' : `${r.attention} at sparsity ${r.sparsity}`;
  return `[${how}: ${r.contextKeysPerStep} of ${r.contextTokens} context keys per step (${share}%) + ${r.questionTokens} question tokens; ` +
    `${r.ids.length} tokens, ${r.msPerToken.toFixed(1)} ms/token]`;
}

// ---------------------------------------------------------------------------------------------
// demo

function demoCommand(): Command {
  return new Command('demo')
    .description('the main job on what ships: prefill a bundled document into a bundle, answer a question from it with CSAttention')
    .option('-o, --out <file>', 'keep the bundle here (default: a temp file, removed at the end)')
    .option('--sparsity <s>', 'fraction of the context NOT attended per step', floatArg(0, 1), DEFAULT_SPARSE.sparsity)
    .option('--json', 'print one JSON object (answer, sizes, keys per step, timings)')
    .option('--log-level <level>', 'pino log level (progress bars on a terminal at info)', 'info')
    .action(async (o) => {
      const log = createLogger(o.logLevel);
      if (o.out) await checkOutputs([{ what: '--out', path: o.out }], [{ what: 'the demo document', path: DEMO_DOCUMENT }, ...await modelFiles(DEFAULT_MODEL)]);
      const r = await runDemo({ out: o.out && resolve(o.out), sparsity: o.sparsity, log });
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatDemo(r));
    });
}

// ---------------------------------------------------------------------------------------------
// bench

function benchCommand(): Command {
  return csaOptions(new Command('bench')
    .description('decode speed against the bandwidth floor: prefill, tables, bundle write/load, decode ms/token with full and CSA attention, per context length')
    .addOption(new Option('--preset <name>', 'model shape with random weights made on the GPU').choices(Object.keys(PRESETS)).default('llama-3.1-8b'))
    .option('--model <dir>', 'a real Hugging Face model folder instead of a preset')
    .option('--layers <n>', 'use only the first n layers (quick runs)', intArg(1, 1000))
    .option('--contexts <list>', 'comma-separated context lengths in tokens', listArg(intArg(1)), [32768, 65536, 131072])
    .option('--sparsity <s>', 'CSA: fraction of the context not attended per step', floatArg(0, 1), DEFAULT_SPARSE.sparsity)
    .option('--sink <n>', 'first context tokens always attended (inside the budget)', intArg(0), DEFAULT_SPARSE.sink)
    .option('--window <n>', 'last context tokens always attended (inside the budget)', intArg(0), DEFAULT_SPARSE.window)
    .option('--decode-tokens <n>', 'tokens generated per measurement', intArg(2, 100000), 128)
    .option('--question-tokens <n>', 'random question tokens prefilled after the context', intArg(1, 100000), 16)
    .option('--bundle-io', 'also write the bundle to a temp file and load it back (timed)')
    .option('--random-context', 'skip the prefill: random K/V and tables of the same shapes clustered from the keys (decode speed does not depend on values)')
    .option('--profile', 'GPU time per kernel (timestamp queries) of one decode step of each attention, alone and as part of the step (the step without it), of the whole step, and of one prefill layer over the last chunk')
    .option('--peak-gbps <n>', 'memory bandwidth the floor is computed with, GB/s (default: the adapter\'s datasheet figure, e.g. H200 4800, H100 SXM 3350; floors are left out for an adapter not in the table)', floatArg(1, 1e6))
    .option('--chunk-size <n>', 'prefill chunk size in tokens', intArg(1, 65536), DEFAULT_CHUNK_SIZE)
    .option('--json', 'one JSON line per context instead of the table')
    .option('--log-level <level>', 'pino log level', 'info'))
    .action(async (o) => {
      const log = createLogger(o.logLevel);
      const rows = await bench({
        preset: o.model ? undefined : o.preset, modelDir: o.model ? modelDir(o.model) : undefined, layers: o.layers,
        contexts: o.contexts, sparse: { sparsity: o.sparsity, sink: o.sink, window: o.window }, decodeTokens: o.decodeTokens,
        questionTokens: o.questionTokens, csa: csaParams(o), chunkSize: o.chunkSize, bundleIo: !!o.bundleIo, randomContext: !!o.randomContext, profile: !!o.profile,
        peakGbps: o.peakGbps, seed: o.seed, log,
      }, (r) => { if (o.json) process.stdout.write(JSON.stringify(r) + '\n'); });
      if (!o.json) process.stdout.write(formatBench(rows));
    });
}

// ---------------------------------------------------------------------------------------------
// eval / merge

/** The sparse methods and what each does, after the options of a command that takes them. */
function methodsHelp(cmd: Command): Command {
  const width = maxOf(METHOD_NAMES.map((n) => n.length));
  const lines = METHODS.map((m) => `  ${m.name.padEnd(width)}  ${m.description}`);
  return cmd.addHelpText('after', ['', 'Sparse methods (each at the same budget of context keys):', ...lines].join('\n'));
}

export function listArg<T>(parse: (s: string) => T) {
  return (v: string): T[] => v.split(',').map((x) => x.trim()).filter(Boolean).map(parse);
}

function evalCommand(): Command {
  return methodsHelp(csaOptions(new Command('eval')
    .description('answer every record with full attention and with sparse methods; report scores, agreement, recall and speed')
    .argument('<jsonl...>', 'LongBench-format JSONL files (input, context, answers, dataset, ...)')
    .addOption(modelOption())
    .option('--sparsity <list>', 'comma-separated sparsities, e.g. 0.9,0.95,0.98', listArg(floatArg(0, 1)), [DEFAULT_SPARSE.sparsity])
    .option('--methods <list>', `sparse methods besides full: ${METHOD_NAMES.join(', ')} (see below)`, listArg((m: string) => {
      if (!isMethod(m)) throw new InvalidArgumentError(`unknown method ${m} (${METHOD_NAMES.join(', ')})`);
      return m;
    }), ['csa'])
    .option('--sink <n>', 'first context tokens always attended (inside the budget)', intArg(0), DEFAULT_SPARSE.sink)
    .option('--window <n>', 'last context tokens always attended (inside the budget)', intArg(0), DEFAULT_SPARSE.window)
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
    .option('--no-recall', 'skip recall@K of the oracle keys (one probe step per method)')
    .option('--chunk-size <n>', 'prefill chunk size', intArg(1, 65536), DEFAULT_CHUNK_SIZE)
    .option('--log-level <level>', 'pino log level', 'info')))
    .action(async (files: string[], o) => {
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
        files: files.map((f) => resolve(f)), modelDir: dir, methods: o.methods, sparsities: o.sparsity,
        sink: o.sink, window: o.window, csa: csaParams(o), templatesFile: o.templates, defaultTemplate: o.defaultTemplate, metric: o.metric,
        cacheDir: resolve(o.cacheDir), out: o.out && resolve(o.out), html: o.html && resolve(o.html), resume: Boolean(o.resume),
        limit: o.limit, datasets: o.datasets, shard, chunkSize: o.chunkSize, recall: o.recall, log,
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
