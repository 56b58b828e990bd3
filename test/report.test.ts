// Eval bookkeeping on hand-built records: every expected number below is worked out by hand.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CsattnError } from '../src/errors.js';
import {
  aggregate, buildReport, formatTable, loadReport, mergeReports, onInterrupt, parseShard, pendingRecords,
  shardFromEnv, shardOf, writeReport,
  type Aggregate, type MethodResult, type RecordResult,
} from '../src/eval/report.js';
import { renderHtml } from '../src/eval/html.js';

const tmp = mkdtempSync(join(tmpdir(), 'csattn-report-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function full(score: number, msPerToken: number, tokens: number): MethodResult {
  return { method: 'full', sparsity: null, prediction: `full says ${score}`, score, msPerToken, tokens };
}

function sparse(method: string, sparsity: number, score: number, exactMatch: boolean, recall: number[]): MethodResult {
  return {
    method, sparsity, prediction: `${method} says ${score}`, score, msPerToken: 2, tokens: 5,
    agreement: { exactMatch, firstDivergence: exactMatch ? 5 : 1, top1: exactMatch ? 1 : 0.5, meanKl: exactMatch ? 0.01 : 0.7 },
    recall, chosenRecall: recall.map((x) => x / 2),
    // csa selects through centroids: a cosine per layer, 1 - recall / 2 (worked out below)
    ...(method === 'csa' ? { centroidCosine: recall.map((x) => 1 - x / 2) } : {}),
  };
}

function rec(file: string, line: number, dataset: string, results: MethodResult[]): RecordResult {
  return { key: `${file}:${line}`, file, line, dataset, contextTokens: 1000 + line, answers: [`answer ${line}`], results };
}

// Two "facts" records and one "qa" record. quest ran on r1 only; streaming did not run on qa.
const r1 = rec('facts.jsonl', 1, 'facts', [
  full(100, 10, 4),
  sparse('csa', 0.9, 100, true, [0.8, 0.6]),
  sparse('csa', 0.95, 0, false, [0.5, 0.3]),
  sparse('streaming', 0.95, 0, false, [0.1, 0.1]),
  sparse('quest', 0.95, 90, false, [0.9, 0.9]),
]);
const r2 = rec('facts.jsonl', 2, 'facts', [
  full(50, 20, 1),
  sparse('csa', 0.9, 50, true, [1, 0.8]),
  sparse('csa', 0.95, 50, true, [0.7, 0.5]),
  sparse('streaming', 0.95, 0, false, [0.2, 0]),
]);
const r3 = rec('qa.jsonl', 1, 'qa', [
  full(80, 5, 2),
  sparse('csa', 0.9, 60, false, [0.9, 0.7]),
  sparse('csa', 0.95, 40, false, [0.6, 0.2]),
]);
const RECORDS = [r1, r2, r3];

const row = (aggs: Aggregate[], dataset: string, method: string, sparsity: number | null) => {
  const found = aggs.filter((a) => a.dataset === dataset && a.method === method && a.sparsity === sparsity);
  expect(found, `${dataset} ${method} ${sparsity}`).toHaveLength(1);
  return found[0];
};

describe('aggregate', () => {
  const aggs = aggregate(RECORDS);

  it('has one row per (dataset, method, sparsity) plus the "all" rows, in table order', () => {
    expect(aggs.map((a) => `${a.dataset} ${a.method} ${a.sparsity}`)).toEqual([
      'facts full null', 'facts csa 0.9', 'facts csa 0.95', 'facts streaming 0.95', 'facts quest 0.95',
      'qa full null', 'qa csa 0.9', 'qa csa 0.95',
      'all full null', 'all csa 0.9', 'all csa 0.95', 'all streaming 0.95', 'all quest 0.95',
    ]);
  });

  it('per dataset: mean score, paired Δ vs full, exact-match rate, recall over records and layers, ms/token over tokens', () => {
    // full: (100 + 50) / 2 = 75; ms/token weighted by tokens: (10·4 + 20·1) / 5 = 12
    expect(row(aggs, 'facts', 'full', null)).toEqual({
      dataset: 'facts', method: 'full', sparsity: null, n: 2, score: 75, delta_vs_full: null, agreement: null, recall: null, chosen_recall: null, centroid_cosine: null, ms_per_token: 12,
    });
    // csa@0.9: (100 + 50) / 2 = 75, Δ = 75 − 75 = 0, exact 2/2, recall (0.8 + 0.6 + 1 + 0.8) / 4 = 0.8
    const csa90 = row(aggs, 'facts', 'csa', 0.9);
    expect(csa90).toMatchObject({ n: 2, score: 75, delta_vs_full: 0, agreement: 1, ms_per_token: 2 });
    expect(csa90.recall).toBeCloseTo(0.8, 12);
    expect(csa90.chosen_recall).toBeCloseTo(0.4, 12); // the chosen part's recall, averaged the same way
    // csa@0.95: (0 + 50) / 2 = 25, Δ = −50, exact 1/2, recall (0.5 + 0.3 + 0.7 + 0.5) / 4 = 0.5
    const csa95 = row(aggs, 'facts', 'csa', 0.95);
    expect(csa95).toMatchObject({ n: 2, score: 25, delta_vs_full: -50, agreement: 0.5 });
    expect(csa95.recall).toBeCloseTo(0.5, 12);
    // its centroid cosine, over records and layers: 1 - (0.5 + 0.3 + 0.7 + 0.5) / 8 = 0.75; none for streaming
    expect(csa95.centroid_cosine).toBeCloseTo(0.75, 12);
    expect(row(aggs, 'facts', 'streaming', 0.95).centroid_cosine).toBeNull();
    // streaming@0.95: 0, Δ = −75, exact 0/2, recall (0.1 + 0.1 + 0.2 + 0) / 4 = 0.1
    const stream = row(aggs, 'facts', 'streaming', 0.95);
    expect(stream).toMatchObject({ n: 2, score: 0, delta_vs_full: -75, agreement: 0 });
    expect(stream.recall).toBeCloseTo(0.1, 12);
    // quest ran on r1 only: Δ against full on r1 (100), not full's mean (75): 90 − 100 = −10
    expect(row(aggs, 'facts', 'quest', 0.95)).toMatchObject({ n: 1, score: 90, delta_vs_full: -10, agreement: 0, recall: 0.9 });
    // qa csa@0.9: 60 − 80 = −20; recall (0.9 + 0.7) / 2 = 0.8
    const qa90 = row(aggs, 'qa', 'csa', 0.9);
    expect(qa90).toMatchObject({ n: 1, score: 60, delta_vs_full: -20, agreement: 0 });
    expect(qa90.recall).toBeCloseTo(0.8, 12);
  });

  it('"all" rows are macro averages over the datasets that ran the method', () => {
    // full: (75 + 80) / 2 = 77.5; ms/token (12 + 5) / 2 = 8.5; n = 3
    expect(row(aggs, 'all', 'full', null)).toEqual({
      dataset: 'all', method: 'full', sparsity: null, n: 3, score: 77.5, delta_vs_full: null, agreement: null, recall: null, chosen_recall: null, centroid_cosine: null, ms_per_token: 8.5,
    });
    // csa@0.9: score (75 + 60) / 2 = 67.5, Δ (0 − 20) / 2 = −10, agreement (1 + 0) / 2 = 0.5, recall (0.8 + 0.8) / 2 = 0.8
    const csa90 = row(aggs, 'all', 'csa', 0.9);
    expect(csa90).toMatchObject({ n: 3, score: 67.5, delta_vs_full: -10, agreement: 0.5 });
    expect(csa90.recall).toBeCloseTo(0.8, 12);
    expect(csa90.chosen_recall).toBeCloseTo(0.4, 12); // the chosen part's recall, averaged the same way
    // csa@0.95: score (25 + 40) / 2 = 32.5, Δ (−50 − 40) / 2 = −45, agreement (0.5 + 0) / 2 = 0.25, recall (0.5 + 0.4) / 2 = 0.45
    const csa95 = row(aggs, 'all', 'csa', 0.95);
    expect(csa95).toMatchObject({ n: 3, score: 32.5, delta_vs_full: -45, agreement: 0.25 });
    expect(csa95.recall).toBeCloseTo(0.45, 12);
    // centroid cosine: facts 0.75, qa 1 - (0.6 + 0.2) / 4 = 0.8: (0.75 + 0.8) / 2
    expect(csa95.centroid_cosine).toBeCloseTo(0.775, 12);
    // streaming ran on facts only: its "all" row is the facts row
    expect(row(aggs, 'all', 'streaming', 0.95)).toMatchObject({ n: 2, score: 0, delta_vs_full: -75, agreement: 0 });
  });

  it('has no Δ where no record has a full result', () => {
    const [only] = aggregate([rec('x.jsonl', 1, 'x', [sparse('csa', 0.9, 40, false, [])])]);
    expect(only).toMatchObject({ score: 40, delta_vs_full: null, agreement: 0, recall: null });
  });
});

describe('formatTable', () => {
  const lines = formatTable(aggregate(RECORDS)).split('\n');
  const cells = (line: string) => line.trim().split(/\s{2,}/);

  it('shows each row\'s numbers under the header', () => {
    expect(cells(lines[0])).toEqual(['dataset', 'method', 'n', 'score', 'Δ vs full', 'agreement', 'recall', 'chosen recall', 'centroid cos', 'ms/token']);
    const byLabel = new Map(lines.filter((l) => /\d/.test(l)).map((l) => [cells(l).slice(0, 2).join(' '), cells(l)]));
    expect(byLabel.get('facts full')).toEqual(['facts', 'full', '2', '75.0', '—', '—', '—', '—', '—', '12.00']);
    expect(byLabel.get('facts csa@0.95')).toEqual(['facts', 'csa@0.95', '2', '25.0', '-50.0', '50.0%', '50.0%', '25.0%', '0.750', '2.00']);
    expect(byLabel.get('all csa@0.9')).toEqual(['all', 'csa@0.9', '3', '67.5', '-10.0', '50.0%', '80.0%', '40.0%', '0.600', '2.00']);
    expect(byLabel.get('all csa@0.95')).toEqual(['all', 'csa@0.95', '3', '32.5', '-45.0', '25.0%', '45.0%', '22.5%', '0.775', '2.00']);
    expect(byLabel.size).toBe(13);
  });

  it('aligns every column', () => {
    const widths = new Set(lines.map((l) => l.length));
    expect(widths.size).toBe(1);
    // numbers end where their header ends
    const scoreEnd = lines[0].indexOf('score') + 'score'.length;
    for (const l of lines.filter((x) => /\d/.test(x))) expect(l[scoreEnd - 1]).toMatch(/\d/);
  });
});

const META = { model: 'fixtures/models/tinylm', options: { sparsity: [0.9, 0.95], methods: ['csa', 'streaming', 'quest'], maxLength: 8192 }, created: '2025-01-01T00:00:00.000Z' };

describe('writeReport / loadReport', () => {
  it('round-trips, leaving no temp file', async () => {
    const report = buildReport(RECORDS, [{ file: 'qa.jsonl', line: 7, reason: 'missing "input"' }], META);
    const path = join(tmp, 'round.json');
    await writeReport(path, report);
    expect(await loadReport(path)).toEqual(report);
    expect(readdirSync(tmp).filter((f) => f.startsWith('round.json'))).toEqual(['round.json']);
  });

  it('rejects corrupt files with a CsattnError naming the problem', async () => {
    const bad = async (name: string, text: string) => {
      const path = join(tmp, name);
      writeFileSync(path, text);
      return loadReport(path).then(() => 'loaded', (e) => e);
    };
    const good = JSON.stringify(buildReport(RECORDS, [], META));
    const truncated = await bad('truncated.json', good.slice(0, good.length / 2));
    expect(truncated).toBeInstanceOf(CsattnError);
    expect(truncated.message).toMatch(/not valid JSON/);
    const wrongType = JSON.parse(good);
    wrongType.records[1].results[2].score = '50';
    expect((await bad('type.json', JSON.stringify(wrongType))).message).toMatch(/records\[1\]\.results\[2\]\.score must be a finite number/);
    const noRecall = JSON.parse(good);
    noRecall.records[0].results[1].recall = [0.5, 1.5];
    expect((await bad('recall.json', JSON.stringify(noRecall))).message).toMatch(/records\[0\]\.results\[1\]\.recall\[1\] must be a number in \[0, 1\]/);
    expect((await bad('version.json', JSON.stringify({ ...JSON.parse(good), version: 2 }))).message).toMatch(/version must be 1/);
    expect((await bad('array.json', '[]')).message).toMatch(/must be a JSON object/);
    await expect(loadReport(join(tmp, 'absent.json'))).rejects.toThrow(CsattnError);
  });

  it('refuses to write what it could not load back (NaN becomes null in JSON)', async () => {
    const r = buildReport([rec('f.jsonl', 1, 'facts', [{ ...full(100, 1, 1), msPerToken: NaN }])], [], META);
    await expect(writeReport(join(tmp, 'nan.json'), r)).rejects.toThrow(/records\[0\]\.results\[0\]\.msPerToken must be a finite number/);
  });
});

describe('shards', () => {
  it('shardOf deals every index to exactly one shard, round-robin', () => {
    for (let n = 1; n <= 5; n++) {
      const sizes = Array.from({ length: n }, () => 0);
      for (let index = 0; index < 23; index++) {
        const owners = Array.from({ length: n }, (_, i) => i + 1).filter((i) => shardOf(index, `${i}/${n}`));
        expect(owners).toEqual([(index % n) + 1]);
        sizes[owners[0] - 1]++;
      }
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it('parseShard accepts "i/n" with 1 ≤ i ≤ n and nothing else', () => {
    expect(parseShard('2/4')).toEqual({ i: 2, n: 4 });
    expect(parseShard('1/1')).toEqual({ i: 1, n: 1 });
    for (const spec of ['0/2', '3/2', 'a/b', '1/0', '0/0', '', '1/2/3', '-1/2', '1.5/2', '2']) {
      expect(() => parseShard(spec), spec).toThrow(CsattnError);
      expect(() => parseShard(spec), spec).toThrow(`got "${spec}"`);
    }
    expect(() => shardOf(0, '3/2')).toThrow(/--shard must be "i\/n" with 1 ≤ i ≤ n/);
  });

  it('merging the shards\' reports gives the report of all records', () => {
    const shard = (spec: string) => buildReport(
      RECORDS.filter((_, index) => shardOf(index, spec)),
      [{ file: 'qa.jsonl', line: 9, reason: `bad line seen by ${spec}` }], // both shards read every line
      { ...META, options: { ...META.options, shard: spec, out: `report-${spec.replace('/', 'of')}.json` } },
    );
    const merged = mergeReports([shard('2/2'), shard('1/2')]);
    const whole = buildReport(RECORDS, [{ file: 'qa.jsonl', line: 9, reason: 'bad line seen by 2/2' }], META);
    expect(merged).toEqual(whole);
  });

  it('keeps a record present in several parts once', () => {
    const a = buildReport([r1, r2], [], META);
    const b = buildReport([r2, r3], [], META);
    expect(mergeReports([a, b]).records.map((r) => r.key)).toEqual(['facts.jsonl:1', 'facts.jsonl:2', 'qa.jsonl:1']);
  });

  it('refuses to merge reports with different options or models', () => {
    const a = buildReport([r1], [], META);
    const b = buildReport([r2], [], { ...META, options: { ...META.options, sparsity: [0.95] } });
    expect(() => mergeReports([a, b])).toThrow(CsattnError);
    expect(() => mergeReports([a, b])).toThrow(/"sparsity" is \[0\.9,0\.95\] in one and \[0\.95\]/);
    // key order does not matter
    const reordered = buildReport([r2], [], { ...META, options: { maxLength: 8192, methods: ['csa', 'streaming', 'quest'], sparsity: [0.9, 0.95] } });
    expect(mergeReports([a, reordered]).records).toHaveLength(2);
    expect(() => mergeReports([a, buildReport([r2], [], { ...META, model: 'other' })])).toThrow(/different models/);
    expect(() => mergeReports([])).toThrow(CsattnError);
  });

  it('tells models apart by fingerprint, not folder name, when the reports have one', () => {
    const of = (model: string, modelFingerprint: string | undefined, r: typeof r1) => buildReport([r], [], { ...META, model, modelFingerprint });
    // retrained weights in a folder of the same name
    expect(() => mergeReports([of('tinylm', 'aaaa1111', r1), of('tinylm', 'bbbb2222', r2)]))
      .toThrow(/different models \("tinylm" \(fingerprint aaaa1111\) and "tinylm" \(fingerprint bbbb2222\)\)/);
    // the same weights copied to another folder
    const merged = mergeReports([of('tinylm', 'aaaa1111', r1), of('copy-of-tinylm', 'aaaa1111', r2)]);
    expect([merged.records.length, merged.modelFingerprint]).toEqual([2, 'aaaa1111']);
    // a report from before fingerprints: folder names decide
    expect(mergeReports([of('tinylm', undefined, r1), of('tinylm', 'aaaa1111', r2)]).records).toHaveLength(2);
    expect(() => mergeReports([of('tinylm', undefined, r1), of('other', 'aaaa1111', r2)])).toThrow(/different models/);
  });
});

describe('metrics in the report', () => {
  it('records the metric of each dataset; merging joins them and refuses a dataset scored two ways', async () => {
    const a = buildReport([r1], [], { ...META, metrics: { facts: 'string_match_all' } });
    const b = buildReport([r3], [], { ...META, metrics: { qa: 'qa_f1' } });
    expect(mergeReports([b, a]).metrics).toEqual({ facts: 'string_match_all', qa: 'qa_f1' });
    const other = buildReport([r2], [], { ...META, metrics: { facts: 'string_match_part' } });
    expect(() => mergeReports([a, other]))
      .toThrow(/cannot merge reports that score dataset "facts" with different metrics \("string_match_all" in one, "string_match_part" in another\)/);
    const path = join(tmp, 'metrics.json');
    await writeReport(path, a);
    expect((await loadReport(path)).metrics).toEqual({ facts: 'string_match_all' });
  });

  it('reads a report written before metrics were recorded, and refuses a malformed map', async () => {
    const { metrics, ...old } = buildReport([r1], [], META);
    const path = join(tmp, 'old.json');
    writeFileSync(path, JSON.stringify(old));
    expect(mergeReports([await loadReport(path), buildReport([r2], [], { ...META, metrics: { facts: 'qa_f1' } })]).metrics).toEqual({ facts: 'qa_f1' });
    writeFileSync(path, JSON.stringify({ ...old, metrics: { facts: 3 } }));
    await expect(loadReport(path)).rejects.toThrow(/metrics\.facts must be a string/);
  });
});

describe('shardFromEnv', () => {
  it('a Slurm job array: task ID − MIN of COUNT', () => {
    const slurm = (id: number, min = 0, count = 3) => ({
      SLURM_ARRAY_TASK_ID: String(id), SLURM_ARRAY_TASK_MIN: String(min), SLURM_ARRAY_TASK_COUNT: String(count),
    });
    expect([0, 1, 2].map((id) => shardFromEnv(slurm(id)))).toEqual(['1/3', '2/3', '3/3']);
    expect(shardFromEnv({ ...slurm(7, 5, 4), SLURM_ARRAY_TASK_MAX: '8' })).toBe('3/4'); // --array=5-8
    expect(shardFromEnv(slurm(1), 3)).toBe('2/3'); // --shards may repeat the count
    expect(() => shardFromEnv(slurm(1), 4)).toThrow(/--shards 4 disagrees with the Slurm array's 3 tasks/);
    // --array=0-6:2: ids 0, 2, 4, 6; a step would leave shards out
    expect(() => shardFromEnv({ ...slurm(2, 0, 4), SLURM_ARRAY_TASK_MAX: '6' })).toThrow(/not in a contiguous array: use --array=0-3/);
    expect(() => shardFromEnv(slurm(3))).toThrow(/not in a contiguous array/);
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '1' })).toThrow(/--shard auto: SLURM_ARRAY_TASK_MIN is not set/);
    expect(() => shardFromEnv({ ...slurm(1), SLURM_ARRAY_TASK_COUNT: 'x' })).toThrow(/SLURM_ARRAY_TASK_COUNT is "x", not a whole number/);
  });

  it('a Kubernetes Indexed Job: JOB_COMPLETION_INDEX of --shards', () => {
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '0' }, 4)).toBe('1/4');
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '3' }, 4)).toBe('4/4');
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '4' }, 4)).toThrow(/JOB_COMPLETION_INDEX 4 is not below --shards 4/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '1' })).toThrow(/Kubernetes Indexed Job needs --shards N/);
  });

  it('neither: an error naming both', () => {
    expect(() => shardFromEnv({})).toThrow(CsattnError);
    expect(() => shardFromEnv({ HOME: '/root' }, 2))
      .toThrow('--shard auto: neither a Slurm job array (SLURM_ARRAY_TASK_ID) nor a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) is set: give --shard i/n');
  });
});

describe('pendingRecords', () => {
  it('skips the records an earlier report holds', () => {
    const all = [{ key: 'facts.jsonl:1' }, { key: 'facts.jsonl:2' }, { key: 'qa.jsonl:1' }, { key: 'qa.jsonl:2' }];
    const done = buildReport([r1, r3], [], META);
    expect(pendingRecords(all, done)).toEqual([{ key: 'facts.jsonl:2' }, { key: 'qa.jsonl:2' }]);
    expect(pendingRecords(all, null)).toEqual(all);
  });
});

describe('onInterrupt', () => {
  it('saves once on SIGINT/SIGTERM, then exits with 130; the returned function removes the handlers', async () => {
    const before = { int: process.listeners('SIGINT'), term: process.listeners('SIGTERM') };
    let finish!: () => void;
    const save = vi.fn(() => new Promise<void>((resolve) => { finish = resolve; }));
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    try {
      const remove = onInterrupt(save);
      const [onInt] = process.listeners('SIGINT').filter((l) => !before.int.includes(l));
      const [onTerm] = process.listeners('SIGTERM').filter((l) => !before.term.includes(l));
      expect(onInt).toBe(onTerm);
      // called directly: emitting a real signal would reach the test runner's own handlers
      (onInt as () => void)();
      (onTerm as () => void)();
      expect(save).toHaveBeenCalledTimes(1);
      expect(exit).not.toHaveBeenCalled(); // still saving
      finish();
      await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(130));
      remove();
      expect(process.listeners('SIGINT')).toEqual(before.int);
      expect(process.listeners('SIGTERM')).toEqual(before.term);
    } finally {
      exit.mockRestore();
    }
  });

  it('still exits with 130 when saving fails, saying so', async () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const before = process.listeners('SIGINT');
    const remove = onInterrupt(() => Promise.reject(new Error('disk full')));
    try {
      (process.listeners('SIGINT').find((l) => !before.includes(l)) as () => void)();
      await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(130));
      expect(stderr).toHaveBeenCalledWith('csattn: could not save before exiting: disk full\n');
    } finally {
      remove();
      exit.mockRestore();
      stderr.mockRestore();
    }
  });
});

describe('renderHtml', () => {
  const report = buildReport(RECORDS.map((r, i) => (i === 2
    ? { ...r, results: r.results.map((m) => (m.method === 'full' ? { ...m, prediction: '<script>alert(1)</script>' } : m)) }
    : r)), [], META);
  const html = renderHtml(report);

  /** The markup of the svg.chart with this id. */
  function chart(id: string): string {
    const m = new RegExp(`<svg class="chart" id="${id}"[^>]*>([^]*?)</svg>`).exec(html);
    expect(m, id).not.toBeNull();
    return m![1];
  }

  const polylines = (svg: string) => [...svg.matchAll(/<polyline class="series" data-series="([^"]+)" points="([^"]+)"/g)]
    .map((m) => ({ label: m[1], points: m[2].split(' ').map((p) => p.split(',').map(Number)) }));

  it('is one self-contained page', () => {
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script|<link|@import|url\(|src=/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('draws score vs sparsity: one line per sparse method at its "all" scores, full as a reference line', () => {
    const svg = chart('score-vs-sparsity');
    const lines = polylines(svg);
    expect(lines.map((l) => l.label)).toEqual(['csa', 'streaming', 'quest']);
    expect(svg).toMatch(/<line class="reference" data-series="full \(77\.5\)"[^>]* y1="([\d.]+)"/);
    const refY = Number(/<line class="reference"[^>]* y1="([\d.]+)"/.exec(svg)![1]);
    // the y axis is affine in score: the pixel offsets from the full line keep the score offsets' ratio
    const [csa] = lines;
    expect(csa.points).toHaveLength(2);
    expect(csa.points[0][0]).toBeLessThan(csa.points[1][0]); // 0.9 left of 0.95
    const ratio = (csa.points[0][1] - refY) / (csa.points[1][1] - refY);
    expect(ratio).toBeCloseTo((67.5 - 77.5) / (32.5 - 77.5), 2);
    expect(svg).toMatch(/>sparsity</);
    expect(svg).toMatch(/>score</);
  });

  it('draws recall per layer: one line per method and sparsity, a point per layer', () => {
    const lines = polylines(chart('recall-per-layer'));
    expect(lines.map((l) => l.label)).toEqual(['csa@0.9', 'csa@0.95', 'streaming@0.95', 'quest@0.95']);
    for (const l of lines) expect(l.points).toHaveLength(2);
    // csa@0.9 layer means: (0.8 + 1 + 0.9) / 3 = 0.9 and (0.6 + 0.8 + 0.7) / 3 = 0.7;
    // quest@0.95: 0.9 and 0.9, so its layer-0 point sits level with csa@0.9's
    const [csa90, , , quest] = lines;
    expect(csa90.points[0][1]).toBeCloseTo(quest.points[0][1], 1);
    expect(csa90.points[1][1]).toBeGreaterThan(quest.points[1][1]); // lower recall is lower on screen
  });

  it('draws the centroid cosine per layer beside the chosen recall of the methods that have centroids', () => {
    const lines = polylines(chart('centroid-cosine-per-layer'));
    expect(lines.map((l) => l.label)).toEqual(['csa cosine', 'csa@0.9 recall', 'csa@0.95 recall']);
    for (const l of lines) expect(l.points).toHaveLength(2);
    // csa's cosine, layer means over records and sparsities: layer 0 (0.6 + 0.75 + 0.5 + 0.65 + 0.55 + 0.7) / 6
    // = 0.625, layer 1 (0.7 + 0.85 + 0.6 + 0.75 + 0.65 + 0.9) / 6 = 0.742: higher, so higher on screen
    const [cosine] = lines;
    expect(cosine.points[1][1]).toBeLessThan(cosine.points[0][1]);
    expect(chart('centroid-cosine-per-layer')).toMatch(/<polyline class="series" data-series="csa@0\.9 recall"[^>]* stroke-dasharray=/);
  });

  it('draws a single sparsity inside the plot, and an empty report as "no data"', () => {
    const single = renderHtml(buildReport([rec('f.jsonl', 1, 'facts', [full(80, 1, 1), sparse('csa', 0.95, 40, false, [0.5])])], [], META));
    const [point] = /<polyline class="series" data-series="csa" points="([^"]+)"/.exec(single)![1].split(' ');
    const [x, y] = point.split(',').map(Number);
    const width = Number(/<svg class="chart" id="score-vs-sparsity"[^>]* width="(\d+)"/.exec(single)![1]);
    expect(x).toBeGreaterThan(0);
    expect(x).toBeLessThan(width);
    expect(Number.isFinite(y)).toBe(true);
    const empty = renderHtml(buildReport([], [], META));
    expect(empty.match(/<svg class="chart"/g)).toHaveLength(4);
    expect(empty.match(/>no data</g)).toHaveLength(4);
  });

  it('tabulates aggregates and records', () => {
    expect(html).toContain('<table id="aggregates">');
    expect(html).toContain('<td class="num">-45.0</td>');
    expect(html).toContain('answer 2');
    expect(html).toContain('csa says 60');
  });
});
