import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CsattnError } from '../src/errors.js';
import { strftime, Tokenizer } from '../src/tokenizer.js';

const TINYLM = 'fixtures/models/tinylm';
const BOS = '<|begin_of_text|>';

const SAMPLES = [
  'The .deb format',
  'The Lord said unto Moses',
  'def add(a, b):\n    return a + b  # sum\n\n\tprint(add(1, 2))\n',
  'naïve café — 東京 🚀',
  'line one\r\nline two\n\n\n  indented , spaced ! ok ?',
];

/** Held-out English prose and code (not in the training data), copied from data/heldout/heldout-a.txt. */
const HELDOUT = [
  '- The old and new target objects are the same object.  Its method',
  'dnd_motion(source, event) is called.',
  '',
  '- The old target object was None, and the new target object is not',
  "None.  The new target object's method dnd_enter(source, event) is",
  'called.',
  "        # remove the build/temp.<plat> directory (unless it's already",
  '        # gone)',
  '        if os.path.exists(self.build_temp):',
  '            remove_tree(self.build_temp, dry_run=self.dry_run)',
  '        else:',
  '            log.debug("\'%s\' does not exist -- can\'t clean it",',
  '                      self.build_temp)',
  '',
  '',
  "There's no official binary release of OpenOCD for Windows but if you're not in the mood to compile it yourself, the xPack project provides a binary distribution, here. Follow the provided installation instructions. Then update your %PATH% environment variable to include the path where the binaries were installed. (C:\\Users\\USERNAME\\AppData\\Roaming\\xPacks\\@xpack-dev-tools\\openocd\\0.10.0-13.1\\.content\\bin\\, if you've been using the easy install)",
].join('\n');

/** A Llama-3.1-style chat template: BOS from the tokenizer, today's date, role checks, JSON. */
const CHAT_TEMPLATE = [
  '{{- bos_token }}',
  '{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}',
  "{%- if messages[0]['role'] == 'system' %}",
  "{%- set system_message = messages[0]['content'] | trim %}{%- set messages = messages[1:] %}",
  '{%- else %}{%- set system_message = "" %}{%- endif %}',
  '{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}',
  '{{- "Today Date: " + date_string + "\\n" }}',
  '{{- "Meta: " + {"turns": messages | length, "date": date_string} | tojson + "\\n\\n" }}',
  '{{- system_message + "<|eot_id|>" }}',
  '{%- for message in messages %}',
  "{%- if message['role'] not in ['user', 'assistant'] %}{{- raise_exception('Unknown role: ' + message['role']) }}{%- endif %}",
  "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}",
  '{%- endfor %}',
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
].join('\n');

const tempDirs: string[] = [];
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'csattn-tok-'));
  tempDirs.push(dir);
  return dir;
}

/** A model folder in a temp dir: the bundled tokenizer.json plus the given extra files. */
function craftedFolder(files: Record<string, unknown>): string {
  const dir = tempDir();
  copyFileSync(join(TINYLM, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

function stream(tok: Tokenizer, ids: number[], skipSpecialTokens = false): string[] {
  const s = tok.streamer({ skipSpecialTokens });
  return [...ids.map((id) => s.push(id)), s.flush()];
}

async function loadError(dir: string): Promise<CsattnError> {
  const e = await Tokenizer.load(dir).then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(CsattnError);
  return e as CsattnError;
}

let tok: Tokenizer;
beforeAll(async () => {
  tok = await Tokenizer.load(TINYLM);
});

describe('tokenizer (bundled tinylm)', () => {
  it('reads the vocabulary size and special ids', () => {
    expect(tok.vocabSize).toBe(8192);
    expect(tok.bosId).toBe(0);
    expect(tok.eosIds).toEqual([1]);
    expect(tok.chatTemplate).toBeNull();
  });

  it('adds exactly one BOS and round-trips text, with no space cleanup', () => {
    for (const text of SAMPLES) {
      const ids = tok.encode(text);
      expect(ids[0]).toBe(0);
      expect(ids.filter((id) => id === 0)).toHaveLength(1);
      expect(ids.slice(1)).toEqual(tok.encode(text, { addSpecialTokens: false }));
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
      expect(tok.decode(ids)).toBe(BOS + text);
    }
    expect(tok.decode(tok.encode('The .deb format'), { skipSpecialTokens: true })).toBe('The .deb format');
    expect(tok.decode([])).toBe('');
  });

  it('encodes golden ids that an independent byte-level BPE reproduces', () => {
    const golden = [585, 5361, 2145, 2223, 464, 6946];
    expect(tok.encode('The Lord said unto Moses')).toEqual([0, ...golden]);
    const ref = new ReferenceBpe(JSON.parse(readFileSync(join(TINYLM, 'tokenizer.json'), 'utf8')));
    expect(ref.encode('The Lord said unto Moses')).toEqual(golden);
    for (const text of [HELDOUT, ...SAMPLES]) expect(tok.continuationIds(text)).toEqual(ref.encode(text));
  });

  it('streams exactly decode(all), holding back partial UTF-8 characters', () => {
    const text = SAMPLES[3];
    const ids = tok.encode(text);
    // The test only means something if some character spans tokens.
    expect(ids.some((id) => tok.decode([id]).includes('\uFFFD'))).toBe(true);
    for (const skip of [false, true]) {
      const pieces = stream(tok, ids, skip);
      expect(pieces.join('')).toBe(tok.decode(ids, { skipSpecialTokens: skip }));
      for (const p of pieces) expect(p).not.toContain('\uFFFD');
    }
    const long = tok.encode(HELDOUT + '\n' + SAMPLES.join('\n'));
    expect(stream(tok, long, true).join('')).toBe(HELDOUT + '\n' + SAMPLES.join('\n'));
  });

  it('builds prompts and continuations without doubling BOS', () => {
    const text = 'Question: What is Kalomi\'s passcode?\nAnswer:';
    expect(tok.promptIds(text)).toEqual(tok.encode(text));
    expect(tok.promptIds(text, { chat: true })).toEqual(tok.encode(text));
    expect(tok.promptIds(BOS + text)).toEqual(tok.encode(text));
    expect(tok.continuationIds(' more')).toEqual(tok.encode(' more').slice(1));
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(/no chat template/);
  });

  it('rejects ids outside the vocabulary, naming them', () => {
    expect(() => tok.checkIds([0, 5, 8191])).not.toThrow();
    for (const bad of [8192, -1, 2.5]) {
      expect(() => tok.checkIds([3, bad, 9000])).toThrow(CsattnError);
      expect(() => tok.checkIds([3, bad, 9000])).toThrow(new RegExp(`token id ${bad} is not`));
    }
    expect(() => tok.decode([5, 8192])).toThrow(/token id 8192/);
  });
});

describe('tokenizer loading errors', () => {
  it('names a missing folder, a missing tokenizer.json and invalid JSON', async () => {
    expect((await loadError('/nonexistent/model')).message).toMatch(/model folder not found: \/nonexistent\/model/);
    const empty = tempDir();
    expect((await loadError(empty)).message).toMatch(/tokenizer\.json.*not found/);
    writeFileSync(join(empty, 'tokenizer.json'), '{"model": ');
    expect((await loadError(empty)).message).toMatch(/tokenizer\.json.*not valid JSON/);
    writeFileSync(join(empty, 'tokenizer.json'), '{}');
    expect((await loadError(empty)).message).toMatch(/^cannot load tokenizer from .*: Tokenizer must contain/);
    const badConfig = craftedFolder({ 'tokenizer_config.json': '{,}' });
    expect((await loadError(badConfig)).message).toMatch(/tokenizer_config\.json.*not valid JSON/);
    for (const e of [await loadError(empty), await loadError(badConfig)]) expect(e.message).not.toContain('\n');
  });
});

describe('tokenizer with a Llama-3-style chat template', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const messages = [
    { role: 'system', content: 'You answer briefly. ' },
    { role: 'user', content: ' What is 2+2?' },
  ];
  const expected = BOS +
    '<|start_header_id|>system<|end_header_id|>\n\nToday Date: 26 Jul 2024\n' +
    'Meta: {"turns": 1, "date": "26 Jul 2024"}\n\nYou answer briefly.<|eot_id|>' +
    '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>';
  const header = '<|start_header_id|>assistant<|end_header_id|>\n\n';
  const config = {
    bos_token: { content: BOS, special: true }, eos_token: '<|end_of_text|>',
    clean_up_tokenization_spaces: false, chat_template: CHAT_TEMPLATE,
  };

  it('renders the template with bos_token, strftime_now, tojson and add_generation_prompt', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(2024, 6, 26, 12, 0, 0));
    const t = await Tokenizer.load(craftedFolder({ 'tokenizer_config.json': config }));
    expect(t.chatTemplate).toBe(CHAT_TEMPLATE);
    expect(t.bosId).toBe(0);
    expect(t.eosIds).toEqual([1]);
    expect(t.applyChatTemplate(messages)).toBe(expected);
    expect(t.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(expected + header);
  });

  it('encodes a templated prompt with a single BOS', async () => {
    const t = await Tokenizer.load(craftedFolder({ 'tokenizer_config.json': config }));
    const rendered = t.applyChatTemplate([{ role: 'user', content: 'Hello' }], { addGenerationPrompt: true });
    expect(rendered.startsWith(BOS)).toBe(true);
    const ids = t.promptIds('Hello', { chat: true });
    expect(ids).toEqual([0, ...t.continuationIds(rendered.slice(BOS.length))]);
    expect(ids.filter((id) => id === 0)).toHaveLength(1);
    expect(t.promptIds('Hello')).toEqual(t.encode('Hello'));
  });

  it('surfaces raise_exception as a CsattnError with the template message', async () => {
    const t = await Tokenizer.load(craftedFolder({ 'tokenizer_config.json': config }));
    const call = () => t.applyChatTemplate([{ role: 'tool', content: '{}' }]);
    expect(call).toThrow(CsattnError);
    expect(call).toThrow('chat template: Unknown role: tool');
  });

  it.each([
    ['range(1e9)', '{% for i in range(1000000000) %}x{% endfor %}', /^chat template: range\(\) of 1000000000 numbers is too long/],
    ['nested loops', '{% for i in range(10000) %}{% for j in range(10000) %}{{ i }}{% endfor %}{% endfor %}', /^chat template: too much work/],
    ['a string doubled in a loop', '{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}', /^chat template: made a value of \d+ characters or items/],
  ])('a template that would not finish (%s) fails fast with a clear error', async (_, template, error) => {
    const t = await Tokenizer.load(craftedFolder({ 'tokenizer_config.json': { chat_template: template } }));
    const t0 = performance.now();
    expect(() => t.applyChatTemplate(messages)).toThrow(error);
    expect(performance.now() - t0).toBeLessThan(5000); // about half a second on 2 CPU cores
  });

  it('reports other template errors as CsattnError', async () => {
    const t = await Tokenizer.load(craftedFolder({ 'tokenizer_config.json': { chat_template: '{% if %}' } }));
    expect(() => t.applyChatTemplate(messages)).toThrow(CsattnError);
    expect(() => t.applyChatTemplate(messages)).toThrow(/^chat template failed: /);
  });

  it('takes chat_template.jinja when tokenizer_config has none, and "default" from a template list', async () => {
    const fromFile = await Tokenizer.load(craftedFolder({
      'tokenizer_config.json': { bos_token: BOS }, 'chat_template.jinja': CHAT_TEMPLATE,
    }));
    expect(fromFile.chatTemplate).toBe(CHAT_TEMPLATE);
    expect(fromFile.applyChatTemplate([{ role: 'user', content: 'x' }])).toContain('<|start_header_id|>user');
    const listed = await Tokenizer.load(craftedFolder({
      'tokenizer_config.json': { chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D{{ eos_token }}' }], eos_token: 'E' },
    }));
    expect(listed.applyChatTemplate([])).toBe('DE');
  });

  it('reads eos ids from generation_config (number or list), else eos_token', async () => {
    const list = await Tokenizer.load(craftedFolder({ 'generation_config.json': { eos_token_id: [1, 7] } }));
    expect(list.eosIds).toEqual([1, 7]);
    expect(list.bosId).toBeNull();
    const one = await Tokenizer.load(craftedFolder({ 'generation_config.json': { eos_token_id: 1, bos_token_id: 0 } }));
    expect([one.eosIds, one.bosId]).toEqual([[1], 0]);
    const fromConfig = await Tokenizer.load(craftedFolder({ 'tokenizer_config.json': { eos_token: { content: '<|end_of_text|>' } } }));
    expect(fromConfig.eosIds).toEqual([1]);
  });
});

describe('clean_up_tokenization_spaces', () => {
  const text = "The .deb format , it 's here ! Don 't, do n't you 've ' quoted ' we 're I 'm ? yes .\n .x";
  // What transformers' clean_up_tokenization gives (its replace() chain run in Python).
  const cleaned = "The.deb format, it's here! Don 't, don't you've'quoted'we're I'm? yes.\n.x";

  it('cleans up only when tokenizer_config asks for it, and streams the same text', async () => {
    const t = await Tokenizer.load(craftedFolder({ 'tokenizer_config.json': { clean_up_tokenization_spaces: true } }));
    const ids = t.encode(text);
    expect(t.decode(ids, { skipSpecialTokens: true })).toBe(cleaned);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
    expect(t.decode(t.encode('The .deb format'), { skipSpecialTokens: true })).toBe('The.deb format');
    expect(stream(t, ids, true).join('')).toBe(cleaned);
    const all = t.encode(HELDOUT + ' .' + SAMPLES.join(' , '));
    expect(stream(t, all).join('')).toBe(t.decode(all));
  });

  it('streams exactly decode(all) on random text dense in cleanup patterns', async () => {
    const t = await Tokenizer.load(craftedFolder({ 'tokenizer_config.json': { clean_up_tokenization_spaces: true } }));
    const pieces = [' ', '  ', '.', ',', '?', '!', "'", 'n', 't', 's', 've', 're', 'm', 'a', '\n', 'é', '🚀', '<|end_of_text|>'];
    fc.assert(fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 40 }), (parts) => {
      const ids = t.encode(parts.join(''));
      for (const skip of [false, true]) expect(stream(t, ids, skip).join('')).toBe(t.decode(ids, { skipSpecialTokens: skip }));
    }), { numRuns: 300, seed: 7 });
  });
});

describe('tokenizer with a SentencePiece-style (Metaspace) decoder', () => {
  // Decoding drops the leading space of a sequence's first token only, so a streamer that decoded
  // each new token on its own would print "Hithere".
  const json = {
    normalizer: null, post_processor: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always' },
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always' },
    added_tokens: [{ id: 0, content: '<unk>', special: true }],
    model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['\u2581Hi', -1], ['\u2581there', -1], ['!', -1], ['\u2581', -2]] },
  };

  it('streams the same text as a full decode', async () => {
    const t = await Tokenizer.load(craftedFolder({ 'tokenizer.json': json }));
    const ids = t.encode('Hi there! Hi!');
    expect(ids).toEqual([1, 2, 3, 1, 3]);
    expect(t.decode(ids)).toBe('Hi there! Hi!');
    expect(stream(t, ids).join('')).toBe('Hi there! Hi!');
  });
});

describe('strftime', () => {
  it('formats like Python in the C locale', () => {
    const d = new Date(2024, 0, 5, 9, 3, 7);
    expect(strftime(d, '%a %A %b %B %d %m %y %Y %H:%M:%S %%')).toBe('Fri Friday Jan January 05 01 24 2024 09:03:07 %');
    expect(() => strftime(d, '%Z')).toThrow(CsattnError);
  });
});

/**
 * Independent byte-level BPE (GPT-2 scheme): split with the ByteLevel pre-tokenizer's regex, map
 * UTF-8 bytes to printable characters, then repeatedly merge the lowest-ranked adjacent pair.
 */
class ReferenceBpe {
  private readonly ranks = new Map<string, number>();
  private readonly vocab: Record<string, number>;
  private readonly byteChar: string[] = [];
  // What tokenizers' ByteLevel pre-tokenizer splits with when use_regex is set (GPT-2's pattern).
  private static readonly SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

  constructor(json: any) {
    expect(json.pre_tokenizer).toMatchObject({ type: 'ByteLevel', use_regex: true, add_prefix_space: false });
    expect(json.normalizer).toBeNull();
    this.vocab = json.model.vocab;
    json.model.merges.forEach((m: string | string[], rank: number) => {
      this.ranks.set(Array.isArray(m) ? m.join(' ') : m, rank);
    });
    // Printable bytes stand for themselves; the others take code points from 256 up, in byte order.
    let next = 256;
    for (let b = 0; b < 256; b++) {
      const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      this.byteChar.push(String.fromCodePoint(printable ? b : next++));
    }
  }

  encode(text: string): number[] {
    return (text.match(ReferenceBpe.SPLIT) ?? []).flatMap((word) => this.bpe(word).map((piece) => this.vocab[piece]));
  }

  private bpe(word: string): string[] {
    let parts = [...new TextEncoder().encode(word)].map((b) => this.byteChar[b]);
    for (;;) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rank = this.ranks.get(parts[i] + ' ' + parts[i + 1]) ?? Infinity;
        if (rank < bestRank) [best, bestRank] = [i, rank];
      }
      if (best < 0) return parts;
      const [a, b] = [parts[best], parts[best + 1]];
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) merged.push(a + b), i++;
        else merged.push(parts[i]);
      }
      parts = merged;
    }
  }
}
