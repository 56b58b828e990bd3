// The fact-retrieval fixtures: well-formed LongBench records, each fact line present exactly once,
// the trained prompt format, and byte-identical regeneration from the script.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPrompt, loadTemplates, maxNewTokens, parseJsonl, type LongBenchRecord } from '../src/eval/longbench.js';

const CHARS_PER_TOKEN = 3.47;
const ATTRIBUTES = ['passcode', 'favourite colour', 'home town', 'lucky number', 'locker number', 'middle name', "pet's name", 'office room', 'licence plate', 'secret word', 'birth year', 'boat name'];

/** The fixtures and the command lines that made them (as in the script's header). */
const FIXTURES = [
  { file: 'fixtures/facts.jsonl', args: ['--seed', '0', '--n', '60'], count: 60, minTokens: 1800, maxTokens: 8000 },
  { file: 'fixtures/facts.tiny.jsonl', args: ['--seed', '1', '--n', '4', '--lengths', '600,800,1000,1200'], count: 4, minTokens: 500, maxTokens: 1200 },
  { file: 'fixtures/facts.multi.jsonl', args: ['--seed', '2', '--n', '16', '--questions', '4', '--same-attribute'], count: 64, minTokens: 1800, maxTokens: 8000 },
  { file: 'fixtures/facts.questions.jsonl', args: ['--seed', '3', '--n', '16', '--questions', '4'], count: 64, minTokens: 1800, maxTokens: 8000 },
];

const tmp = mkdtempSync(join(tmpdir(), 'csattn-facts-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function makeFacts(out: string, args: string[]): string {
  execFileSync(process.execPath, ['scripts/make-facts.mjs', ...args, '--out', out]);
  return readFileSync(out, 'utf8');
}

function load(file: string): { records: LongBenchRecord[]; raw: Record<string, unknown>[] } {
  const text = readFileSync(file, 'utf8');
  const { records, bad } = parseJsonl(text, file);
  expect(bad).toEqual([]);
  return { records, raw: text.trim().split('\n').map((l) => JSON.parse(l)) };
}

/** "What is Kalomi's pet's name?" → name and attribute (names are one word, attributes may hold "'s"). */
function question(input: string): { name: string; attribute: string } {
  const m = /^What is ([A-Z][a-z]+)'s (.+)\?$/.exec(input);
  expect(m, input).not.toBeNull();
  return { name: m![1], attribute: m![2] };
}

function occurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

describe.each(FIXTURES)('$file', ({ file, args, count, minTokens, maxTokens }) => {
  const { records, raw } = load(file);

  it('parses as LongBench records of dataset "facts" with unique ids', () => {
    expect(records).toHaveLength(count);
    for (const r of records) {
      expect(r.dataset).toBe('facts');
      expect(r.answers).toHaveLength(1);
      expect(r.outputs).toEqual(r.answers);
    }
    expect(new Set(records.map((r) => r._id)).size).toBe(count);
  });

  it('holds the asked fact on its own line exactly once, at the recorded depth', () => {
    for (const [i, r] of records.entries()) {
      const { name, attribute } = question(r.input);
      expect(ATTRIBUTES).toContain(attribute);
      const line = `\n${name}'s ${attribute} is ${r.answers[0]}.\n`;
      expect(occurrences(r.context, line), r._id).toBe(1);
      expect(r.context).toContain(r.answers[0]);
      // no second fact about the same name and attribute
      expect(occurrences(r.context, `\n${name}'s ${attribute} is `), r._id).toBe(1);
      expect(raw[i].depth).toBeCloseTo(r.context.indexOf(line) / r.context.length, 3);
      expect(raw[i].facts).toBeGreaterThanOrEqual(1);
      expect(raw[i].facts).toBeLessThanOrEqual(8);
    }
  });

  it('has estimated lengths (characters / 3.47) in range, and varied lengths and depths', () => {
    for (const r of records) {
      expect(r.length).toBe(Math.round(r.context.length / CHARS_PER_TOKEN));
      expect(r.length).toBeGreaterThanOrEqual(minTokens);
      expect(r.length).toBeLessThanOrEqual(maxTokens);
    }
    const depths = raw.map((r) => r.depth as number);
    expect(Math.max(...depths) - Math.min(...depths)).toBeGreaterThan(0.5);
    const lengths = records.map((r) => r.length!);
    expect(Math.max(...lengths) - Math.min(...lengths)).toBeGreaterThan(maxTokens / 3);
  });

  it('is exactly what the script writes for its seed', () => {
    expect(makeFacts(join(tmp, 'again.jsonl'), args)).toBe(readFileSync(file, 'utf8'));
  });
});

describe('fixtures/facts.multi.jsonl: four questions a context, every fact of one attribute', () => {
  const { records, raw } = load('fixtures/facts.multi.jsonl');
  const byContext = new Map<string, { r: LongBenchRecord; facts: number }[]>();
  records.forEach((r, i) => byContext.set(r.context, [...(byContext.get(r.context) ?? []), { r, facts: raw[i].facts as number }]));

  it('asks four different facts of each of 16 contexts, the other names holding the same attribute', () => {
    expect(byContext.size).toBe(16);
    for (const group of byContext.values()) {
      expect(group).toHaveLength(4);
      expect(new Set(group.map((x) => x.r.input)).size).toBe(4);
      const { attribute } = question(group[0].r.input);
      for (const { r, facts } of group) {
        expect(question(r.input).attribute).toBe(attribute);
        expect(occurrences(r.context, `'s ${attribute} is `), r._id).toBe(facts); // every fact is of this attribute
      }
    }
  });
});

describe('fixtures/facts.questions.jsonl: four questions a context', () => {
  const { records } = load('fixtures/facts.questions.jsonl');
  const byContext = new Map<string, LongBenchRecord[]>();
  for (const r of records) byContext.set(r.context, [...(byContext.get(r.context) ?? []), r]);

  it('asks four different facts of each of 16 contexts', () => {
    expect(byContext.size).toBe(16);
    for (const group of byContext.values()) {
      expect(group).toHaveLength(4);
      expect(new Set(group.map((r) => question(r.input).name)).size).toBe(4);
    }
  });
});

describe('make-facts.mjs', () => {
  it('regenerates the same seed identically and another seed differently', () => {
    const a = makeFacts(join(tmp, 'a.jsonl'), ['--seed', '7', '--n', '5']);
    const b = makeFacts(join(tmp, 'b.jsonl'), ['--seed', '7', '--n', '5']);
    const c = makeFacts(join(tmp, 'c.jsonl'), ['--seed', '8', '--n', '5']);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a.trim().split('\n')).toHaveLength(5);
  });
});

describe('facts.templates.json', () => {
  it('builds the trained prompt "…context\\n\\nQuestion: What is X\'s Y?\\nAnswer:" with 8 new tokens', () => {
    const t = loadTemplates('fixtures/facts.templates.json');
    const [r] = load('fixtures/facts.tiny.jsonl').records;
    expect(buildPrompt(r, t)).toBe(`${r.context}\n\nQuestion: ${r.input}\nAnswer:`);
    expect(maxNewTokens('facts', t)).toBe(8);
  });
});
