/**
 * `csattn eval` as a cluster runs it, through the built CLI: a dataset that is not LongBench's with
 * a chosen metric, shards taken from a Slurm job array's environment (processes running at once,
 * sharing one cache and prefilling the same bundle together), `csattn merge`, and a damaged cached
 * bundle prefilled again. Two questions about one short context of fixtures/facts.tiny.jsonl.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PER_RUN_OPTIONS, type Report } from '../src/eval/report.js';
import { runCsattn } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'csattn-cluster-'));

/** The environment without any job runner's variables (the test may itself run in a job). */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLURM_') && k !== 'JOB_COMPLETION_INDEX'));

const first = JSON.parse(readFileSync('fixtures/facts.tiny.jsonl', 'utf8').split('\n')[0]);
const ask = (id: string, input: string, answers: string[]) => ({ _id: id, dataset: 'fact_retrieval', input, context: first.context, answers });
const data = join(tmp, 'data.jsonl');
writeFileSync(data, [
  ask('boat', first.input, first.answers),
  ask('name', "What is Yarri's middle name?", ['Nofe']), // "Yarri's middle name is Nofe." is in the same context
].map((r) => JSON.stringify(r)).join('\n') + '\n');
const templates = join(tmp, 'templates.json');
writeFileSync(templates, JSON.stringify({ prompt: { fact_retrieval: '{context}\n\nQuestion: {input}\nAnswer:' }, maxlen: { fact_retrieval: 8 } }));

const EVAL = [
  'eval', data, '--templates', templates, '--methods', 'csa', '--sparsity', '0.9', '--no-recall',
  '--centroids', '8', '--kmeans-iters', '2', '--chunk-size', '256', '--log-level', 'warn',
];

function csattnSync(args: string[], env: Record<string, string | undefined> = {}) {
  return runCsattn(args, { env: { ...cleanEnv, ...env } });
}

function csattn(args: string[], env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['bin/csattn.js', ...args], { env: { ...cleanEnv, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/** Everything that must not depend on how the run was split: all but timings, the creation time and per-run options. */
function outcome(r: Report) {
  return {
    model: r.model, metrics: r.metrics, skipped: r.skipped,
    options: Object.fromEntries(Object.entries(r.options).filter(([k]) => !PER_RUN_OPTIONS.has(k))),
    aggregates: r.aggregates.map(({ ms_per_token, ...rest }) => rest),
    records: r.records.map(({ results, timings, ...rec }) => ({ ...rec, results: results.map(({ msPerToken, ...rest }) => rest) })), // times differ run to run
  };
}

describe('eval input errors', () => {
  it('a dataset without a metric names it and how to give one; an unknown metric lists the valid ones', () => {
    const none = csattnSync(EVAL);
    expect(none.status).toBe(1);
    expect(none.errLines).toEqual([expect.stringMatching(/^csattn: no metric for dataset "fact_retrieval" \(LongBench has none\): give one with --metric NAME/)]);
    const bad = csattnSync([...EVAL, '--metric', 'f1']);
    expect(bad.status).not.toBe(0);
    expect(bad.errLines).toHaveLength(1);
    expect(bad.errLines[0]).toMatch(/argument 'f1' is invalid\. Allowed choices are qa_f1, qa_f1_zh, rouge, rouge_zh, classification, retrieval, retrieval_zh, count, code_sim, string_match_all, string_match_part/);
  });

  it('--shard auto outside a job array, in an Indexed Job without --shards, and --shards alone', () => {
    const args = [...EVAL, '--metric', 'qa_f1'];
    const outside = csattnSync([...args, '--shard', 'auto']);
    expect(outside.status).toBe(1);
    expect(outside.errLines).toEqual(['csattn: --shard auto: neither a Slurm job array (SLURM_ARRAY_TASK_ID) nor a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) is set: give --shard i/n']);
    const k8s = csattnSync([...args, '--shard', 'auto'], { JOB_COMPLETION_INDEX: '1' });
    expect(k8s.errLines).toEqual([expect.stringMatching(/^csattn: --shard auto in a Kubernetes Indexed Job needs --shards N/)]);
    const alone = csattnSync([...args, '--shards', '2']);
    expect(alone.errLines).toEqual(['csattn: --shards goes with --shard auto']);
  });
});

describe('eval on a cluster', () => {
  it('Slurm array tasks sharing a cache, merged, give the report of one run; a damaged cached bundle is prefilled again', async () => {
    const cache = join(tmp, 'cache');
    const args = [...EVAL, '--metric', 'string_match_part', '--cache-dir', cache, '--shard', 'auto'];
    const array = { SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MAX: '1' };
    // Both tasks at once: each has one question about the same context, so both prefill its bundle together.
    const tasks = await Promise.all([0, 1].map((id) =>
      csattn([...args, '--out', join(tmp, `shard-${id}.json`)], { ...array, SLURM_ARRAY_TASK_ID: String(id) })));
    for (const t of tasks) expect(t.status, t.stderr).toBe(0);
    const shards = [0, 1].map((id) => JSON.parse(readFileSync(join(tmp, `shard-${id}.json`), 'utf8')) as Report);
    expect(shards.map((r) => r.records.map((rec) => rec.id))).toEqual([['boat'], ['name']]);

    const merged = join(tmp, 'merged.json');
    const m = csattnSync(['merge', join(tmp, 'shard-1.json'), join(tmp, 'shard-0.json'), '-o', merged]);
    expect(m.status, m.stderr).toBe(0);

    // One bundle, complete, no temp file left; then cut short, as a full disk might leave a file of older tools.
    const files = readdirSync(cache);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{32}\.csa$/);
    const bundle = join(cache, files[0]);
    const size = statSync(bundle).size;
    truncateSync(bundle, size - 1000);

    const whole = join(tmp, 'whole.json');
    const one = csattnSync([...EVAL, '--metric', 'string_match_part', '--cache-dir', cache, '--out', whole]);
    expect(one.status, one.stderr).toBe(0);
    expect(one.stderr).toContain('unusable cached bundle: prefilling it again');
    expect(statSync(bundle).size).toBe(size);
    expect(readdirSync(cache)).toEqual(files);

    const single = JSON.parse(readFileSync(whole, 'utf8')) as Report;
    const joined = JSON.parse(readFileSync(merged, 'utf8')) as Report;
    expect(outcome(joined)).toEqual(outcome(single));
    expect(single.metrics).toEqual({ fact_retrieval: 'string_match_part' });
    expect(single.records.map((r) => r.id)).toEqual(['boat', 'name']);
    const boat = single.records[0].results[0];
    expect(boat.prediction).toContain('Brankor'); // the bundled model retrieves this fact
    expect(boat.score).toBe(100);
  });
});
