import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CsattnError } from '../src/errors.js';
import {
  buildPrompt, datasetMetrics, FIRST_LINE_DATASETS, loadTemplates, maxNewTokens, NO_CHAT_DATASETS, parseJsonl,
  references, splitPrompt, truncateMiddle, type LongBenchRecord,
} from '../src/eval/longbench.js';

const SAMPLE = 'fixtures/longbench/multi_news.sample.jsonl';
const sampleText = readFileSync(SAMPLE, 'utf8');

function record(fields: Partial<LongBenchRecord>): LongBenchRecord {
  return { input: 'Q?', context: 'C.', answers: ['A'], dataset: 'multi_news', ...fields };
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'csattn-lb-')), name);
  writeFileSync(path, text);
  return path;
}

describe('parseJsonl', () => {
  it('parses the real multi_news rows', () => {
    const { records, bad } = parseJsonl(sampleText, SAMPLE);
    const raw = sampleText.trim().split('\n').map((l) => JSON.parse(l));
    expect(bad).toEqual([]);
    expect(records).toHaveLength(5);
    records.forEach((rec, i) => {
      expect(rec.dataset).toBe('multi_news');
      expect(rec.context).toBe(raw[i].context);
      expect(rec.input).toBe('');
      expect(rec.answers).toEqual(raw[i].answers);
      expect(rec.length).toBe(raw[i].length);
      expect(rec._id).toBe(raw[i]._id);
      expect(rec.all_classes).toBeUndefined(); // null in the file
    });
  });

  it('reports bad lines with their 1-based numbers and keeps the good ones', () => {
    const lines = [
      '{"input":"q","context":"c","answers":["a"],"dataset":"trec","all_classes":["x"]}', // 1 ok
      '', // 2 blank
      '{not json', // 3
      '{"input":"q","context":"c","answers":"a"}', // 4 answers not an array
      '{"input":"q","answers":["a"]}', // 5 no context
      '   ', // 6 blank
      '{"input":"q","context":"c","answers":["a"]}', // 7 ok, dataset from the hint
      '[1, 2]', // 8 not an object
      '{"input":"q","context":"c","answers":["a", 3]}', // 9 answers not all strings
      '{"input":"q","context":"c","answers":["a"],"length":"long"}', // 10 length mistyped
    ];
    const { records, bad } = parseJsonl(lines.join('\r\n') + '\n', 'mine.jsonl', 'hotpotqa');
    expect(records.map((r) => r.dataset)).toEqual(['trec', 'hotpotqa']);
    expect(records[0].all_classes).toEqual(['x']);
    expect(bad.map((b) => b.line)).toEqual([3, 4, 5, 8, 9, 10]);
    expect(bad.every((b) => b.file === 'mine.jsonl')).toBe(true);
    const reasons = bad.map((b) => b.reason);
    expect(reasons[0]).toMatch(/invalid JSON/);
    expect(reasons[1]).toBe('"answers" must be an array of strings');
    expect(reasons[2]).toBe('missing "context"');
    expect(reasons[3]).toBe('not a JSON object');
    expect(reasons[4]).toBe('"answers" must be an array of strings');
    expect(reasons[5]).toBe('"length" must be a number');
  });

  it('needs a dataset from the record or the hint', () => {
    const { records, bad } = parseJsonl('{"input":"q","context":"c","answers":["a"]}', 'x.jsonl');
    expect(records).toEqual([]);
    expect(bad).toEqual([{ file: 'x.jsonl', line: 1, reason: expect.stringMatching(/missing "dataset"/) }]);
  });
});

describe('templates', () => {
  it('loads LongBench\'s prompts and generation lengths', () => {
    const t = loadTemplates();
    expect(Object.keys(t.prompt)).toHaveLength(21);
    expect(maxNewTokens('multi_news', t)).toBe(512);
    expect(maxNewTokens('hotpotqa', t)).toBe(32);
    expect(maxNewTokens('mine', t, 100)).toBe(100);
    expect(() => maxNewTokens('mine', t)).toThrow(/"mine"/);
    expect(() => maxNewTokens('toString', t)).toThrow(/"toString"/);
  });

  it('merges a user file, nested or flat', () => {
    const nested = tempFile('t.json', JSON.stringify({
      prompt: { mine: 'C: {context}\nQ: {input}' },
      maxlen: { mine: 16, multi_news: 256 },
    }));
    const t = loadTemplates(nested);
    expect(t.prompt.mine).toBe('C: {context}\nQ: {input}');
    expect(t.prompt.multi_news).toBe(loadTemplates().prompt.multi_news);
    expect(maxNewTokens('mine', t)).toBe(16);
    expect(maxNewTokens('multi_news', t)).toBe(256);

    const flat = loadTemplates(tempFile('f.json', JSON.stringify({ mine: '{context}|{input}' })));
    expect(flat.prompt.mine).toBe('{context}|{input}');
    expect(flat.maxlen.multi_news).toBe(512);
  });

  it('names the file when it is unusable', () => {
    const badValue = tempFile('bad.json', JSON.stringify({ prompt: { mine: 3 } }));
    expect(() => loadTemplates(badValue)).toThrow(CsattnError);
    expect(() => loadTemplates(badValue)).toThrow(/bad\.json: prompt for "mine" must be a string/);
    const badLen = tempFile('len.json', JSON.stringify({ maxlen: { mine: 0 } }));
    expect(() => loadTemplates(badLen)).toThrow(/maxlen for "mine" must be a positive integer/);
    expect(() => loadTemplates(tempFile('broken.json', '{'))).toThrow(/broken\.json is not valid JSON/);
    expect(() => loadTemplates('/nonexistent/t.json')).toThrow(/templates file not found: \/nonexistent\/t\.json/);
  });

  it('takes a metric per dataset, and names the valid ones for an unknown metric', () => {
    const t = loadTemplates(tempFile('m.json', JSON.stringify({ prompt: { mine: '{context} {input}' }, metric: { mine: 'string_match_part' } })));
    expect(t.metric).toEqual({ mine: 'string_match_part' });
    expect(loadTemplates().metric).toEqual({});
    const bad = tempFile('badmetric.json', JSON.stringify({ metric: { mine: 'f1' } }));
    expect(() => loadTemplates(bad)).toThrow(/badmetric\.json: metric for "mine" must be one of qa_f1, qa_f1_zh, rouge, .*string_match_part/);
  });
});

describe('datasetMetrics', () => {
  const t = loadTemplates();
  const chosen = { ...t, metric: { hotpotqa: 'rouge' as const, ruler: 'string_match_part' as const } };

  it('templates file, then string_match_all for records with outputs, then LongBench\'s, then --metric', () => {
    const records = [
      record({ dataset: 'hotpotqa' }), // templates: rouge over LongBench's qa_f1
      record({ dataset: 'ruler', outputs: ['x'] }), // templates: string_match_part over outputs' default
      record({ dataset: 'niah', outputs: ['x'] }),
      record({ dataset: 'multi_news' }),
      record({ dataset: 'fact_retrieval' }),
    ];
    expect(datasetMetrics(records, chosen, 'qa_f1')).toEqual({
      hotpotqa: 'rouge', ruler: 'string_match_part', niah: 'string_match_all', multi_news: 'rouge', fact_retrieval: 'qa_f1',
    });
    expect(datasetMetrics([record({ dataset: 'multi_news' })], t, 'qa_f1')).toEqual({ multi_news: 'rouge' }); // --metric only where there is none
  });

  it('a dataset without a metric, or scored two ways, is an error naming it', () => {
    expect(() => datasetMetrics([record({ dataset: 'fact_retrieval' })], t))
      .toThrow(/no metric for dataset "fact_retrieval" \(LongBench has none\): give one with --metric NAME or in the templates file's "metric" map \(qa_f1, .*string_match_part\)/);
    expect(() => datasetMetrics([record({ dataset: 'toString' })], t)).toThrow(/"toString"/);
    const mixed = [record({ dataset: 'mine', outputs: ['x'] }), record({ dataset: 'mine' })];
    expect(() => datasetMetrics(mixed, t, 'qa_f1')).toThrow(/dataset "mine" would be scored with both string_match_all and qa_f1/);
    expect(datasetMetrics(mixed, { ...t, metric: { mine: 'qa_f1' } })).toEqual({ mine: 'qa_f1' });
  });

  it('scores against outputs when a record has them, else its answers', () => {
    expect(references(record({ answers: ['a'], outputs: ['o1', 'o2'] }))).toEqual(['o1', 'o2']);
    expect(references(record({ answers: ['a'], outputs: [] }))).toEqual(['a']);
    expect(references(record({ answers: ['a'] }))).toEqual(['a']);
  });
});

describe('prompts', () => {
  const t = loadTemplates();
  const { records } = parseJsonl(sampleText, SAMPLE);

  it('fills the multi_news template with the record', () => {
    const rec = records[0];
    expect(buildPrompt(rec, t)).toBe(
      'You are given several news passages. Write a one-page summary of all news. \n\nNews:\n' + rec.context +
      '\n\nNow, write a one-page summary of all the news.\n\nSummary:',
    );
  });

  it('substitutes in one pass and leaves other braces alone', () => {
    const mine = { prompt: { mine: 'JSON like {"a": 1}. {context} | {input} | {length}' }, maxlen: {}, metric: {} };
    const rec = record({ dataset: 'mine', context: 'has {input} and $& inside', input: 'q {context}' });
    expect(buildPrompt(rec, mine)).toBe('JSON like {"a": 1}. has {input} and $& inside | q {context} | {length}');
  });

  it('names a dataset without a template unless a default is given', () => {
    const rec = record({ dataset: 'mine' });
    expect(() => buildPrompt(rec, t)).toThrow(CsattnError);
    expect(() => buildPrompt(rec, t)).toThrow(/"mine"/);
    expect(buildPrompt(rec, t, '{context}\n{input}')).toBe('C.\nQ?');
  });

  it('splits at {context}; the parts concatenate to the prompt', () => {
    const rec = records[1];
    const { contextText, questionText } = splitPrompt(rec, t);
    expect(contextText).toBe('You are given several news passages. Write a one-page summary of all news. \n\nNews:\n' + rec.context);
    expect(questionText).toBe('\n\nNow, write a one-page summary of all the news.\n\nSummary:');
    const others = [
      ...records,
      record({ dataset: 'trec', context: 'Q: Who? Type: Individual', input: 'Q: Where?' }),
      record({ dataset: 'repobench-p', context: 'import os\n', input: 'def f():\n' }),
      record({ dataset: 'passage_count', context: 'Paragraph 1: x' }),
    ];
    for (const r of others) {
      const parts = splitPrompt(r, t);
      expect(parts.contextText + parts.questionText).toBe(buildPrompt(r, t));
      expect(parts.contextText.endsWith(r.context)).toBe(true);
      expect(parts.questionText).not.toContain(r.context);
    }
    const trec = splitPrompt(others[5], t);
    expect(trec.questionText).toBe('\nQ: Where?');
  });

  it('puts everything in the question part when the template has no {context}', () => {
    const parts = splitPrompt(record({ dataset: 'x' }), t, 'Just {input}');
    expect(parts).toEqual({ contextText: '', questionText: 'Just Q?' });
  });
});

describe('dataset sets', () => {
  it('match pred.py and eval.py', () => {
    expect([...NO_CHAT_DATASETS].sort()).toEqual(['lcc', 'lsht', 'repobench-p', 'samsum', 'trec', 'triviaqa']);
    expect([...FIRST_LINE_DATASETS].sort()).toEqual(['lsht', 'samsum', 'trec', 'triviaqa']);
  });
});

describe('truncateMiddle', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => i);

  it('keeps prompts up to the limit', () => {
    expect(truncateMiddle(ids(5), 6)).toEqual(ids(5));
    expect(truncateMiddle(ids(6), 6)).toEqual(ids(6));
  });

  it('keeps int(limit/2) tokens from each end past it', () => {
    expect(truncateMiddle(ids(7), 6)).toEqual([0, 1, 2, 4, 5, 6]);
    expect(truncateMiddle(ids(100), 6)).toEqual([0, 1, 2, 97, 98, 99]);
    // odd limit: half = int(7/2) = 3, so 6 tokens, one under the limit (as pred.py)
    expect(truncateMiddle(ids(8), 7)).toEqual([0, 1, 2, 5, 6, 7]);
    expect(truncateMiddle(ids(7), 7)).toEqual(ids(7));
    expect(truncateMiddle(ids(3), 2)).toEqual([0, 2]);
  });

  it('refuses a limit under 2', () => {
    expect(() => truncateMiddle(ids(3), 1)).toThrow(CsattnError);
    expect(() => truncateMiddle(ids(3), 2.5)).toThrow(CsattnError);
  });
});
