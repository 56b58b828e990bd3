/**
 * The csattn command line. Every command validates its input first and fails with one line
 * (`csattn: <what is wrong>`) and a non-zero exit; output files appear only when complete.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CsattnError, check } from './errors.js';
import { createGpu } from './gpu/device.js';
import { Model } from './model/model.js';
import { Tokenizer } from './tokenizer.js';
import { Generator, type SamplingOptions } from './generate.js';
import { writeNpy } from './npy.js';
import { PRESETS, writeSynthModel } from './model/synth.js';
import { createLogger, progress, type Logger } from './log.js';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_MODEL = join(PACKAGE_ROOT, 'fixtures', 'models', 'tinylm');
export const VERSION = '0.1.0';

// ---------------------------------------------------------------------------------------------
// Option parsers: reject bad values before any work starts.

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}]`);
    return n;
  };
}

export function floatArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number in [${min}, ${max}]`);
    return n;
  };
}

function modelDir(dir: string | undefined): string {
  const d = resolve(dir ?? DEFAULT_MODEL);
  check(existsSync(d) && statSync(d).isDirectory(), `model folder not found: ${d}`, 'missing');
  return d;
}

export function modelOption(): Option {
  return new Option('--model <dir>', 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)').default(undefined, 'the bundled tinylm');
}

export function samplingOptions(cmd: Command): Command {
  return cmd
    .option('--max-tokens <n>', 'maximum number of new tokens', intArg(1), 64)
    .option('--temperature <t>', 'sampling temperature; 0 = greedy', floatArg(0, 100), 0)
    .option('--top-p <p>', 'nucleus sampling: keep the most probable tokens up to this total probability', floatArg(0, 1), 1)
    .option('--seed <n>', 'random seed for sampling', intArg(0, 2 ** 32 - 1), 0)
    .option('--stop <text...>', 'stop when the output contains this text (repeatable)');
}

export function sampling(o: { maxTokens: number; temperature: number; topP: number; seed: number; stop?: string[] }, tok: Tokenizer): SamplingOptions {
  return { maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, seed: o.seed, stopIds: tok.eosIds, stopStrings: o.stop };
}

/** Loads the model and tokenizer with a KV cache of `capacity` tokens, showing progress. */
export async function loadModel(dir: string, capacity: number, log: Logger, chunkSize?: number): Promise<{ model: Model; tok: Tokenizer }> {
  const tok = await Tokenizer.load(dir);
  const gpu = await createGpu();
  log.debug({ adapter: gpu.adapterName, f16: gpu.f16, subgroups: gpu.subgroups }, 'gpu');
  const bar = progress(log, 'load', 1, 'bytes');
  const model = await Model.load(gpu, dir, { capacity, chunkSize, onProgress: (d, t) => bar.update(d, { total: t }) });
  bar.stop();
  return { model, tok };
}

/**
 * Streams generated text to stdout: decodes incrementally (never splitting a UTF-8 character)
 * and stops at a stop string. Returns a callback for Generator.generate and the final text.
 */
export function textSink(tok: Tokenizer, stops: string[] | undefined, write: (s: string) => void) {
  const stream = tok.streamer({ skipSpecialTokens: true });
  let text = '';
  let printed = 0;
  const hold = Math.max(0, ...(stops ?? []).map((s) => s.length - 1));
  const onToken = (id: number): boolean => {
    text += stream.push(id);
    const hit = stops?.map((s) => text.indexOf(s)).filter((i) => i >= 0).sort((a, b) => a - b)[0];
    if (hit !== undefined) {
      text = text.slice(0, hit);
      write(text.slice(printed));
      printed = text.length;
      return true;
    }
    // Hold back the tail that could still become a stop string.
    const safe = Math.max(printed, text.length - hold);
    write(text.slice(printed, safe));
    printed = safe;
    return false;
  };
  const finish = (): string => {
    text += stream.flush();
    write(text.slice(printed));
    printed = text.length;
    return text;
  };
  return { onToken, finish };
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
    const tok = await Tokenizer.load(dir);
    const ids = tok.promptIds(o.prompt, { chat: o.chat });
    check(ids.length > 0, 'the prompt is empty');
    const { model } = await loadModel(dir, ids.length + o.maxTokens, log);
    const gen = new Generator(model);
    const sink = textSink(tok, o.stop, o.json ? () => {} : (s) => process.stdout.write(s));
    const r = await gen.generate(ids, sampling(o, tok), sink.onToken);
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
    .option('--chunk-size <n>', 'prefill chunk size in tokens', intArg(1, 65536), 256)
    .option('--log-level <level>', 'pino log level', 'warn')
    .action(async (o) => {
      const log = createLogger(o.logLevel);
      const dir = modelDir(o.model);
      const tok = await Tokenizer.load(dir);
      check(o.prompt !== undefined || o.ids !== undefined, 'give --prompt or --ids');
      const ids = o.ids !== undefined ? parseIds(o.ids) : tok.encode(o.prompt);
      check(ids.length > 0, 'no tokens to run');
      tok.checkIds(ids);
      const { model } = await loadModel(dir, ids.length, log, o.chunkSize);
      check(ids.every((i) => i < model.cfg.vocab), () => `token id ${ids.find((i) => i >= model.cfg.vocab)} is outside the model's vocabulary (${model.cfg.vocab})`, 'input');
      const logits = (await model.prefill(ids, { logits: 'all' }))!;
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
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o) => {
      const log = createLogger(o.logLevel);
      const bar = progress(log, 'write', 1, 'bytes');
      await writeSynthModel(resolve(o.out), o.preset, { seed: o.seed, dtype: o.dtype, onProgress: (d, t) => bar.update(d, { total: t }) });
      bar.stop();
      log.info({ preset: o.preset, out: o.out }, 'model written');
    });
}

export function buildProgram(): Command {
  const program = new Command('csattn')
    .description('serve long, reusable LLM contexts with CSAttention sparse attention on WebGPU')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (s, write) => write(s) });
  program.addCommand(generateCommand());
  program.addCommand(logitsCommand());
  program.addCommand(synthCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e: any) {
    if (e?.code === 'commander.helpDisplayed' || e?.code === 'commander.version' || e?.code === 'commander.help') process.exit(0);
    if (e?.code?.startsWith?.('commander.')) process.exit(e.exitCode ?? 2);
    throw e;
  }
  // Dawn keeps the process alive while a GPU instance exists.
  process.exit(0);
}
