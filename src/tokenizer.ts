/**
 * Hugging Face tokenizers: tokenizer.json through @huggingface/tokenizers, chat templates through
 * @huggingface/jinja, plus what generation needs on top: BOS handling that never doubles, id
 * validation, and incremental detokenization whose pieces add up exactly to a full decode.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { CsattnError, check } from './errors.js';
import { readJson } from './model/config.js';
import { readInputFile } from './fsutil.js';

export interface ChatMessage { role: 'system' | 'user' | 'assistant' | string; content: string }

/** Special tokens that transformers passes to chat templates, by their tokenizer_config key. */
const TEMPLATE_TOKENS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosIds: number[];
  readonly chatTemplate: string | null;
  private readonly bosToken: string | null;
  private readonly cleanUp: boolean;
  private readonly templateTokens: Record<string, string>;
  private compiledTemplate: Template | null = null;

  private constructor(private readonly hf: HfTokenizer, config: any, generation: any, templateFile: string | null) {
    check(hf.model, 'tokenizer.json has no model', 'format');
    this.vocabSize = hf.model.vocab.length;
    this.templateTokens = Object.fromEntries(TEMPLATE_TOKENS.flatMap((key) => {
      const text = tokenText(config[key]);
      return text === null ? [] : [[key, text]];
    }));
    this.bosToken = this.templateTokens.bos_token ?? null;
    this.bosId = this.tokenId(this.bosToken) ?? idOrNull(generation.bos_token_id);
    this.eosIds = eosIds(generation.eos_token_id) ?? [this.tokenId(this.templateTokens.eos_token ?? null)].filter(isId);
    this.chatTemplate = configTemplate(config.chat_template) ?? templateFile;
    this.cleanUp = config.clean_up_tokenization_spaces === true;
  }

  /** Loads tokenizer.json (+ tokenizer_config.json, chat_template.jinja, generation_config.json when present) from a model folder. */
  static async load(dir: string): Promise<Tokenizer> {
    check(existsSync(dir) && statSync(dir).isDirectory(), `model folder not found: ${dir}`, 'missing');
    const json = readJson(join(dir, 'tokenizer.json'), 'tokenizer.json');
    const config = optionalJson(join(dir, 'tokenizer_config.json'));
    const generation = optionalJson(join(dir, 'generation_config.json'));
    const templatePath = join(dir, 'chat_template.jinja');
    const templateFile = existsSync(templatePath) ? readInputFile(templatePath, 'chat_template.jinja').toString('utf8') : null;
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(json, config);
    } catch (e) {
      throw new CsattnError(`cannot load tokenizer from ${dir}: ${(e as Error).message}`, 'format');
    }
    return new Tokenizer(hf, config, generation, templateFile);
  }

  /** Token ids of `text`; with special tokens (the default) the post-processor adds BOS where the model does. */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** Text of `ids`, cleaning up spaces before punctuation only when tokenizer_config asks for it. */
  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    const text = this.rawDecode(ids, opts.skipSpecialTokens ?? false);
    return this.cleanUp ? cleanUpSpaces(text) : text;
  }

  /** Renders the chat template with the special tokens and Python-compatible helpers transformers provides. */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (this.chatTemplate === null) throw new CsattnError('this model has no chat template', 'unsupported');
    try {
      this.compiledTemplate ??= new Template(this.chatTemplate);
      const env = new Environment();
      const context = { ...this.templateTokens, messages, add_generation_prompt: opts.addGenerationPrompt ?? false };
      for (const [name, value] of Object.entries({ ...TEMPLATE_GLOBALS, ...context })) env.set(name, value);
      return new BudgetInterpreter(env).run(this.compiledTemplate.parsed).value as string;
    } catch (e) {
      if (e instanceof CsattnError) throw e;
      throw new CsattnError(`chat template failed: ${(e as Error).message}`, 'template');
    }
  }

  /** Ids of a full prompt, through the chat template when asked for and available; never a double BOS. */
  promptIds(text: string, opts: { chat?: boolean } = {}): number[] {
    const prompt = opts.chat && this.chatTemplate !== null
      ? this.applyChatTemplate([{ role: 'user', content: text }], { addGenerationPrompt: true })
      : text;
    const hasBos = this.bosToken !== null && prompt.startsWith(this.bosToken);
    return this.encode(prompt, { addSpecialTokens: !hasBos });
  }

  /** Ids for text that continues an existing sequence (no BOS added). */
  continuationIds(text: string): number[] {
    return this.encode(text, { addSpecialTokens: false });
  }

  /** Throws a CsattnError naming the first id that is not in the vocabulary. */
  checkIds(ids: number[]): void {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || this.hf.id_to_token(id) === undefined) {
        throw new CsattnError(`token id ${id} is not in the vocabulary (${this.vocabSize} ids)`, 'token');
      }
    }
  }

  /**
   * Incremental detokenization: push ids, get back only the new text. Raw text is decoded over a
   * short window that starts one emission back, so decoders that treat a sequence's first token
   * specially (SentencePiece's leading space) see the same context as a full decode; text is held
   * back while it ends in a partial UTF-8 character. Space cleanup, when on, runs on pieces cut
   * where no cleanup rule can reach across (see safeCut).
   */
  streamer(opts: { skipSpecialTokens?: boolean } = {}): { push(id: number): string; flush(): string } {
    const skip = opts.skipSpecialTokens ?? false;
    const ids: number[] = [];
    let prefix = 0, read = 0;
    const rawStep = (final: boolean): string => {
      const before = this.rawDecode(ids.slice(prefix, read), skip);
      const now = this.rawDecode(ids.slice(prefix), skip);
      if (!final && (now.length <= before.length || now.endsWith('\uFFFD'))) return '';
      prefix = read;
      read = ids.length;
      return now.slice(before.length);
    };
    if (!this.cleanUp) {
      return { push: (id) => (ids.push(id), rawStep(false)), flush: () => rawStep(true) };
    }
    let pending = '';
    const cleanStep = (final: boolean): string => {
      pending += rawStep(final);
      const cut = final ? pending.length : safeCut(pending);
      const out = cleanUpSpaces(pending.slice(0, cut));
      pending = pending.slice(cut);
      return out;
    };
    return { push: (id) => (ids.push(id), cleanStep(false)), flush: () => cleanStep(true) };
  }

  private rawDecode(ids: number[], skipSpecialTokens: boolean): string {
    if (ids.length === 0) return '';
    this.checkIds(ids);
    return this.hf.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }

  private tokenId(token: string | null): number | null {
    return token === null ? null : (this.hf.token_to_id(token) ?? null);
  }
}

/**
 * transformers' clean_up_tokenization: drops the space before punctuation and English contractions.
 * Every rule removes only spaces, and a match never continues past a character outside RULE_TAIL.
 */
const CLEANUP_RULES: [string, string][] = [
  [' .', '.'], [' ?', '?'], [' !', '!'], [' ,', ','], [" ' ", "'"],
  [" n't", "n't"], [" 'm", "'m"], [" 's", "'s"], [" 've", "'ve"], [" 're", "'re"],
];
const RULE_TAIL = new Set(CLEANUP_RULES.flatMap(([from]) => [...from.slice(1)]));

function cleanUpSpaces(text: string): string {
  return CLEANUP_RULES.reduce((s, [from, to]) => s.replaceAll(from, to), text);
}

/**
 * The last index i > 0 where text can be split so that cleanUpSpaces(text[..i]) + cleanUpSpaces(rest)
 * equals cleanUpSpaces of the whole, whatever follows: text[i] cannot be part of any match that
 * starts before it, and since rules only delete spaces, that stays true after each rule. 0 if none.
 */
function safeCut(text: string): number {
  for (let i = text.length - 1; i > 0; i--) if (!RULE_TAIL.has(text[i])) return i;
  return 0;
}

/** strftime for templates, in the C locale like Python's (month and day names never localised). */
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export function strftime(date: Date, format: string): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const fields: Record<string, () => string> = {
    Y: () => String(date.getFullYear()), y: () => pad(date.getFullYear() % 100), m: () => pad(date.getMonth() + 1),
    d: () => pad(date.getDate()), H: () => pad(date.getHours()), M: () => pad(date.getMinutes()), S: () => pad(date.getSeconds()),
    B: () => MONTHS[date.getMonth()], b: () => MONTHS[date.getMonth()].slice(0, 3),
    A: () => DAYS[date.getDay()], a: () => DAYS[date.getDay()].slice(0, 3), '%': () => '%',
  };
  return format.replace(/%(.)/gs, (_, c: string) => {
    const field = fields[c];
    if (!field) throw new CsattnError(`chat template: strftime_now does not support %${c}`, 'template');
    return field();
  });
}

/**
 * What a chat template may do: evaluation steps (one message takes a few hundred; a long
 * conversation with tools a few thousand) and the length of any string or list it makes.
 */
const TEMPLATE_STEPS = 50_000;
const TEMPLATE_SIZE = 16_000_000;

/** What is used of @huggingface/jinja's Interpreter (whose runtime types do not resolve under NodeNext). */
interface JinjaValue { value: unknown }
type InterpreterClass = new (env: Environment) => { run(program: unknown): JinjaValue; evaluate(node: unknown, env: unknown): JinjaValue };

/**
 * The template interpreter on a budget: a broken or hostile template (a loop over range(1e9),
 * nested loops, a string doubled in a loop) fails with a clear error within a fraction of a second,
 * instead of running out of memory or holding the process, Ctrl-C unanswered, for hours.
 */
class BudgetInterpreter extends (Interpreter as unknown as InterpreterClass) {
  private steps = 0;

  override evaluate(node: unknown, env: unknown): JinjaValue {
    if (++this.steps > TEMPLATE_STEPS) {
      throw new CsattnError(`chat template: too much work (more than ${TEMPLATE_STEPS} steps), is it looping?`, 'template');
    }
    const value = super.evaluate(node, env);
    const size = (value.value as { length?: unknown } | null)?.length;
    if (typeof size === 'number' && size > TEMPLATE_SIZE) {
      throw new CsattnError(`chat template: made a value of ${size} characters or items (at most ${TEMPLATE_SIZE})`, 'template');
    }
    return value;
  }
}

/** Python's range(), refusing more numbers than a template may loop over anyway. */
function range(start: number, stop?: number, step = 1): number[] {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  check(step !== 0, 'chat template: range() step must not be zero', 'template');
  const count = Math.max(0, Math.ceil((to - from) / step));
  check(count <= TEMPLATE_STEPS, `chat template: range() of ${count} numbers is too long (at most ${TEMPLATE_STEPS})`, 'template');
  const out: number[] = [];
  for (let i = from; step > 0 ? i < to : i > to; i += step) out.push(i);
  return out;
}

/**
 * The globals a transformers chat template can rely on. @huggingface/jinja has its own, but they
 * cannot be overridden through Template.render, and its strftime_now follows the process locale
 * while Python's prints English month names; so the template runs in an environment built here.
 */
const TEMPLATE_GLOBALS: Record<string, unknown> = {
  true: true, false: false, none: null, True: true, False: false, None: null,
  range,
  raise_exception: (message: string): never => {
    throw new CsattnError(`chat template: ${message}`, 'template');
  },
  strftime_now: (format: string): string => strftime(new Date(), format),
};

/** tokenizer_config special tokens are strings or AddedToken objects ({content: ...}). */
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  const content = (v as { content?: unknown } | null)?.content;
  return typeof content === 'string' ? content : null;
}

/** chat_template is a string, or a list of named templates of which "default" is the one to use. */
function configTemplate(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) return null;
  const named = v.find((t) => t?.name === 'default');
  return typeof named?.template === 'string' ? named.template : null;
}

function eosIds(v: unknown): number[] | null {
  const ids = (Array.isArray(v) ? v : [v]).filter(isId);
  return ids.length > 0 ? ids : null;
}

function idOrNull(v: unknown): number | null {
  return isId(v) ? v : null;
}

function isId(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0;
}

function optionalJson(path: string): any {
  return existsSync(path) ? readJson(path, basename(path)) : {};
}
