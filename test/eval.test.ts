/**
 * `csattn eval` end to end on lavapipe: two fact records of fixtures/facts.tiny.jsonl, full + csa +
 * streaming, through the real model; the table, report.json and report.html come out, and an
 * interrupted run resumed with --resume gives the same report as one run.
 */
import { describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { runEval, loadRecords, fileLabels, agreement, kl, formatSummary, type EvalOptions } from '../src/eval/run.js';
import { buildReport, loadReport, mergeReports, pendingRecords, type RecordTimings, type Report } from '../src/eval/report.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';
import { createLogger } from '../src/log.js';
import { Session } from '../src/decode.js';

const dir = mkdtempSync(join(tmpdir(), 'csattn-eval-'));
const base: EvalOptions = {
  files: [resolve('fixtures/facts.tiny.jsonl')], modelDir: resolve('fixtures/models/tinylm'),
  methods: ['csa', 'streaming'], sparsities: [0.9], sink: 4, window: 64, csa: { ...DEFAULT_CSA, kmeansIters: 4 },
  templatesFile: resolve('fixtures/facts.templates.json'), cacheDir: join(dir, 'cache'), resume: false,
  limit: 2, chunkSize: 256, recall: true, log: createLogger('silent'),
};

/** What must not depend on how the run was split: everything but timings. */
function answers(r: Report) {
  return r.records.map((rec) => ({ key: rec.key, results: rec.results.map(({ msPerToken, ...rest }) => rest) }));
}

describe('csattn eval', () => {
  it('answers each record with every method and writes the table, report.json and report.html', async () => {
    const out = join(dir, 'one.json');
    const html = join(dir, 'one.html');
    const { report, exitCode } = await runEval({ ...base, out, html });
    expect(exitCode).toBe(0);
    expect(report.records).toHaveLength(2);
    for (const rec of report.records) {
      expect(rec.results.map((r) => `${r.method}@${r.sparsity}`)).toEqual(['full@null', 'csa@0.9', 'streaming@0.9']);
      const full = rec.results[0];
      expect(full.prediction).toContain(rec.answers[0]); // the bundled model retrieves these facts
      expect(full.score).toBe(100);
      for (const r of rec.results.slice(1)) {
        expect(r.recall).toHaveLength(6); // one figure per layer
        expect(r.chosenRecall).toHaveLength(6);
        expect(r.chosenRecall!.every((x) => x >= 0 && x <= 1)).toBe(true);
        expect(r.agreement!.top1).toBeGreaterThanOrEqual(0);
      }
      // csa selects through centroids (kv-head tables: 2 groups per layer); streaming has none.
      const [, csa, streaming] = rec.results;
      expect(csa.centroidCosine).toHaveLength(6);
      expect(csa.centroidCosineGroups!.map((g) => g.length)).toEqual(Array(6).fill(2));
      expect(csa.centroidCosine!.every((x) => x > 0 && x <= 1)).toBe(true);
      expect(streaming.centroidCosine).toBeUndefined();
    }
    const table = formatSummary(report);
    expect(table).toMatch(/facts\s+csa@0\.9\s+2/);
    // Each record's wall time, split at the session's opening; their means close the table.
    for (const rec of report.records) expect(rec.timings!.openMs > 0 && rec.timings!.runsMs > 0).toBe(true);
    const mean = (f: (t: RecordTimings) => number) => ((f(report.records[0].timings!) + f(report.records[1].timings!)) / 2).toFixed(0);
    expect(table).toContain(`a record's wall time (mean of 2): bundle open ${mean((t) => t.openMs)} ms, runs ${mean((t) => t.runsMs)} ms`);
    expect(table).toContain('chosen recall');
    expect(table).toContain('centroid cos');
    expect(report.aggregates.find((a) => a.dataset === 'all' && a.method === 'csa')!.centroid_cosine).toBeGreaterThan(0);
    expect(report.aggregates.find((a) => a.dataset === 'all' && a.method === 'streaming')!.centroid_cosine).toBeNull();
    for (const a of report.aggregates.filter((x) => x.method !== 'full')) expect(a.chosen_recall).toBeLessThanOrEqual(a.recall!);
    expect((await loadReport(out)).records).toHaveLength(2);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('id="score-vs-sparsity"');
    expect(page).toContain('id="recall-per-layer"');
    expect(page).toContain('id="chosen-recall-per-layer"');
    expect(page).toContain('id="centroid-cosine-per-layer"');
    (globalThis as any).oneRun = report;
  });

  // The report's runs answered as one batch (the default) or one after another: the same answers
  // and agreements; KL from logits of differently ordered f32 sums, equal within float noise.
  it('a record\'s runs decoded as one batch give the report of runs one after another', async () => {
    const { report } = await runEval({ ...base, out: join(dir, 'in-turn.json'), batch: false });
    const withoutKl = (r: Report) => answers(r).map((rec) => rec.results.map(({ agreement, ...rest }) => ({ ...rest, agreement: agreement && { ...agreement, meanKl: 0 } })));
    const kls = (r: Report) => r.records.flatMap((rec) => rec.results.map((x) => x.agreement?.meanKl ?? 0));
    const batched: Report = (globalThis as any).oneRun;
    expect(withoutKl(report)).toEqual(withoutKl(batched));
    kls(report).forEach((k, i) => expect(k).toBeCloseTo(kls(batched)[i], 4));
  });

  // Two questions over one context (facts.tiny's first record asked for two of its facts), then
  // another context: the first two share one session and one batch of 2 x 3 runs.
  it('records of one context share a session and a batch, with the report of runs one after another', async () => {
    const [first, second] = readFileSync('fixtures/facts.tiny.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const file = join(dir, 'shared.jsonl');
    const twin = { ...first, _id: `${first._id}-b`, input: "What is Yarri's middle name?", answers: ['Nofe'], outputs: ['Nofe'] };
    writeFileSync(file, [first, twin, second].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const opens = vi.spyOn(Session, 'open');
    const batches = vi.spyOn(Session.prototype, 'batch');
    const run = (batch: boolean) => runEval({ ...base, files: [file], limit: undefined, recall: false, batch, out: join(dir, `shared-${batch}.json`) });
    const { report } = await run(true);
    expect(opens).toHaveBeenCalledTimes(2);
    expect(batches.mock.calls.map(([slots]) => slots.length)).toEqual([6, 3]);
    expect(report.records.map((r) => r.id)).toEqual([first._id, twin._id, second._id]);
    expect(report.records[1].results[0].prediction).toContain('Nofe');
    const [a, b] = report.records.map((r) => r.timings!);
    expect(a).toEqual(b); // each its share of the context's
    const { report: inTurn } = await run(false);
    expect(opens).toHaveBeenCalledTimes(4);
    const withoutKl = (r: Report) => answers(r).map((rec) => rec.results.map(({ agreement, ...rest }) => ({ ...rest, agreement: agreement && { ...agreement, meanKl: 0 } })));
    expect(withoutKl(report)).toEqual(withoutKl(inTurn));
    opens.mockRestore();
    batches.mockRestore();
  });

  it('a run resumed after an interruption gives the same report as one run', async () => {
    const out = join(dir, 'resumed.json');
    await runEval({ ...base, out, limit: 1 }); // "interrupted" after the first record
    expect((await loadReport(out)).records).toHaveLength(1);
    const { report } = await runEval({ ...base, out, resume: true });
    expect(answers(report)).toEqual(answers((globalThis as any).oneRun));
  });

  it('the strict setting: questions through the sparse decode step, recorded in the report', async () => {
    const out = join(dir, 'strict.json');
    const { report } = await runEval({ ...base, out, limit: 1, methods: ['csa'], sparsities: [0, 0.9], recall: false, questionAttention: 'sparse' });
    expect(report.options.questionAttention).toBe('sparse');
    const [full, all, sparse] = report.records[0].results;
    expect(sparse.method).toBe('csa');
    // Every key selected: the question and answer go through the decode step and come out as full attention's.
    expect(all.prediction).toBe(full.prediction);
    expect(all.agreement!.top1).toBe(1);
    expect((await loadReport(out)).options.questionAttention).toBe('sparse');
    // A report from before the option asked its questions with full attention: it joins a 'full' run only.
    const { questionAttention, ...options } = (globalThis as any).oneRun.options;
    expect(questionAttention).toBe('full');
    const old = { ...(globalThis as any).oneRun, options };
    expect(mergeReports([old, (globalThis as any).oneRun]).records).toHaveLength(2);
    const strict = { ...old, options: { ...options, questionAttention: 'sparse' } };
    expect(() => mergeReports([old, strict])).toThrow(/"questionAttention" is "full" in one and "sparse" in another/);
  });

  it('another centroid choice reuses the cached bundles (it is a decode-time setting)', async () => {
    const cached = () => readdirSync(base.cacheDir).filter((f) => f.endsWith('.csa')).sort();
    const before = cached();
    expect(before.length).toBeGreaterThan(0);
    const { report } = await runEval({ ...base, out: join(dir, 'pooled.json'), limit: 1, methods: ['csa'], recall: false, csa: { ...base.csa, choice: 'pooled' } });
    expect((report.options.csa as { choice: string }).choice).toBe('pooled');
    expect(report.records[0].results.map((r) => r.method)).toEqual(['full', 'csa']);
    expect(cached()).toEqual(before);
  });

  it('reports bad lines with their line numbers, skips them and says so in the exit code', async () => {
    const file = join(dir, 'bad.jsonl');
    const good = readFileSync('fixtures/facts.tiny.jsonl', 'utf8').split('\n')[0];
    writeFileSync(file, [good, '{not json', JSON.stringify({ input: 'q', answers: ['a'] })].join('\n'));
    const { jobs, skipped } = loadRecords({ files: [file] });
    expect(jobs).toHaveLength(1);
    expect(skipped.map((s) => s.line)).toEqual([2, 3]);
    const { exitCode, report } = await runEval({ ...base, files: [file], methods: ['streaming'], recall: false, out: join(dir, 'bad.json') });
    expect(exitCode).toBe(3);
    expect(report.skipped).toHaveLength(2);
    expect(existsSync(join(dir, 'bad.json'))).toBe(true);
  });
});

describe('loadRecords', () => {
  const write = (path: string, text: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  };
  const line = (id: string) => JSON.stringify({ input: 'q', context: 'c', answers: ['a'], dataset: 'qa', _id: id });

  it('keys files of the same base name by as much of their path as tells them apart', async () => {
    const a = write(join(dir, 'runs', 'a', 'qa.jsonl'), line('x') + '\n');
    const b = write(join(dir, 'runs', 'b', 'qa.jsonl'), line('x') + '\n');
    const other = write(join(dir, 'runs', 'b', 'facts.jsonl'), line('y') + '\n');
    expect(fileLabels([a, b, other])).toEqual(['a/qa.jsonl', 'b/qa.jsonl', 'facts.jsonl']);
    const { jobs } = loadRecords({ files: [a, b, other] });
    expect(jobs.map((j) => j.key)).toEqual(['a/qa.jsonl:1:x', 'b/qa.jsonl:1:x', 'facts.jsonl:1:y']);
    // a file alone keeps its base name, as in reports written before
    expect(loadRecords({ files: [a] }).jobs[0].key).toBe('qa.jsonl:1:x');
    // the report names them the same way, so merge and --resume keep both
    const done = buildReport([{ key: jobs[0].key, file: 'a/qa.jsonl', line: 1, dataset: 'qa', contextTokens: 1, answers: ['a'], results: [] }], [], { model: 'm', options: {} });
    expect(pendingRecords(jobs, done).map((j) => j.key)).toEqual(['b/qa.jsonl:1:x', 'facts.jsonl:1:y']);
  });

  it('200K bad lines are all reported (no spread into push)', () => {
    const file = write(join(dir, 'bad', 'many.jsonl'), 'not json\n'.repeat(200_000));
    expect(loadRecords({ files: [file] }).skipped).toHaveLength(200_000);
  });
});

describe('agreement', () => {
  it('counts tokens to the first difference and teacher-forced top-1 / KL', () => {
    const V = 3;
    const fullLogits = Float32Array.from([5, 0, 0, 0, 5, 0]);
    const same = agreement([0, 1], [0, 1], true, fullLogits, fullLogits, V);
    expect(same).toEqual({ exactMatch: true, firstDivergence: 2, top1: 1, meanKl: 0 });
    const other = Float32Array.from([5, 0, 0, 0, 0, 5]); // second step prefers token 2
    const diff = agreement([0, 1], [0, 2], false, fullLogits, other, V);
    expect(diff.firstDivergence).toBe(1);
    expect(diff.top1).toBe(0.5);
    expect(diff.meanKl).toBeCloseTo(kl(Float32Array.from([0, 5, 0]), Float32Array.from([0, 0, 5])) / 2, 6);
    // KL of two softmaxes by hand: p = softmax(0,5,0), q = softmax(0,0,5).
    const e = Math.exp(5);
    const p = [1 / (e + 2), e / (e + 2), 1 / (e + 2)];
    const q = [1 / (e + 2), 1 / (e + 2), e / (e + 2)];
    const want = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]), 0);
    expect(kl(Float32Array.from([0, 5, 0]), Float32Array.from([0, 0, 5]))).toBeCloseTo(want, 5);
  });
});
