/**
 * What the offline phase costs and buys: the break-even worked out by hand, and `csattn prefill
 * --json` / `csattn info --json` on a tiny bundle of the bundled model (lavapipe).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { breakEven, costStats, costs, figuresFromStats, perQuestion, type CostFigures, type DecodeProbe } from '../src/costs.js';
import { runCsattn } from './helpers/cli.js';

// 5 ms per question token, 20 ms per answer token with full attention, 10 with CSA.
const PROBE: DecodeProbe = { questionTokens: 10, questionMs: 50, decodeSteps: 4, fullMsPerToken: 20, csaMsPerToken: 10, sparsity: 0.95 };
// Load: 3000 + 1000 bytes at 10000 bytes/s = 400 ms.
const FIGURES: CostFigures = { kvBytes: 3000, tableBytes: 1000, prefillMs: 1000, tablesMs: 200, writeMs: 300, modelLoadBytesPerSecond: 10_000, probe: PROBE };

describe('break-even', () => {
  it('per question: prefill(document + question) + full decode against load + question + CSA decode', () => {
    // without: 1000 + 32 × 5 + 64 × 20 = 2440; with: 400 + 160 + 64 × 10 = 1200
    expect(perQuestion({ prefillMs: 1000, loadMs: 400, probe: PROBE }, { questionTokens: 32, answerTokens: 64 }))
      .toEqual({ withoutBundleMs: 2440, withBundleMs: 1200 });
  });

  it('the first n at which the offline time is paid back, never when a question saves nothing', () => {
    expect(breakEven(1500, { withoutBundleMs: 2440, withBundleMs: 1200 })).toBe(2); // 1500 / 1240 = 1.2
    expect(breakEven(1400, { withoutBundleMs: 2000, withBundleMs: 1300 })).toBe(2); // exactly 2: even at 2
    expect(breakEven(0.7, { withoutBundleMs: 0.3, withBundleMs: 0.2 })).toBe(7); // 7.000000000000001 in floating point
    expect(breakEven(0, { withoutBundleMs: 2, withBundleMs: 1 })).toBe(1);
    expect(breakEven(1500, { withoutBundleMs: 1200, withBundleMs: 1200 })).toBeNull();
    expect(breakEven(1500, { withoutBundleMs: 1000, withBundleMs: 1200 })).toBeNull();
  });

  it('costs: sizes, times with and without the tables, and the break-even with the write measured or estimated', () => {
    const c = costs(FIGURES, { questionTokens: 32, answerTokens: 10 });
    expect(c.tableToKvRatio).toBeCloseTo(1 / 3, 12);
    expect(c.prefillWithTablesMs).toBe(1200);
    expect(c.loadMs).toBe(400);
    expect(c.writeBasis).toBe('measured');
    // without: 1000 + 160 + 10 × 20 = 1360; with: 400 + 160 + 10 × 10 = 660; once: 1000 + 200 + 300 = 1500
    expect([c.withoutBundleMs, c.withBundleMs, c.offlineMs]).toEqual([1360, 660, 1500]);
    expect(c.breakEvenQuestions).toBe(3); // 1500 / 700 = 2.14
    const info = costs({ ...FIGURES, writeMs: undefined }, { questionTokens: 32, answerTokens: 10 });
    expect(info.writeMs).toBe(400); // estimated like the load
    expect(info.writeBasis).toMatch(/^estimated/);
    expect(info.offlineMs).toBe(1600);
    // A load that costs more than the document's prefill and the decode saving together: never.
    const slow = costs({ ...FIGURES, modelLoadBytesPerSecond: 1000 }, { questionTokens: 32, answerTokens: 10 }); // load 4000 ms
    expect(slow.breakEvenQuestions).toBeNull();
    expect(slow.breakEvenNote).toMatch(/^never: a question costs 2\.900 s more with the bundle/); // 4000 + 160 + 100 − 1360
  });

  it('round-trips through bundle stats; a bundle without them says the break-even is unknown', () => {
    const stats = { prefillMs: 1000, tablesMs: 200, adapter: 'x', ...costStats(PROBE, 10_000) };
    const { writeMs, ...stored } = FIGURES;
    expect(figuresFromStats(stats, { kvBytes: 3000, tableBytes: 1000 })).toEqual(stored);
    const bare = figuresFromStats({ prefillMs: 1000, tablesMs: 200 }, { kvBytes: 3000, tableBytes: 1000 });
    expect(bare.probe).toBeNull();
    const c = costs(bare, { questionTokens: 32, answerTokens: 64 });
    expect(c.breakEvenQuestions).toBeNull();
    expect(c.breakEvenNote).toMatch(/^unknown: decode speed and load rate were not measured/);
  });
});

describe('prefill and info on a tiny bundle', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'csattn-costs-'));
  const csattn = (...args: string[]) => runCsattn(args);

  it('print table against KV bytes, prefill with and without the tables, the measured decode and the break-even', () => {
    const doc = join(tmp, 'doc.txt');
    const bundle = join(tmp, 'doc.csa');
    writeFileSync(doc, "In the beginning God created the heaven and the earth.\nKalomi's passcode is 4821.\n");
    const p = csattn('prefill', doc, '-o', bundle, '--centroids', '4', '--question-tokens', '8', '--json', '--log-level', 'warn');
    expect(p.status, p.stderr).toBe(0);
    const s = JSON.parse(p.stdout);
    const c = s.costs;
    expect(s.tableToKvRatio).toBeCloseTo(s.tableBytes / s.kvBytes, 12);
    expect(c.prefillWithTablesMs).toBeCloseTo(s.prefillMs + s.tablesMs, 6);
    expect(c.writeMs).toBe(s.writeMs);
    expect(c.decode.questionTokens).toBe(8);
    for (const v of [c.decode.questionMs, c.decode.fullMsPerToken, c.decode.csaMsPerToken, c.loadMs]) expect(v).toBeGreaterThan(0);
    // The model of the top of src/costs.ts, from the printed figures (the probe's 8-token question, a 64-token answer by default).
    expect([c.questionTokens, c.answerTokens]).toEqual([8, 64]);
    const question = c.decode.questionMs;
    expect(c.withoutBundleMs).toBeCloseTo(s.prefillMs + question + 64 * c.decode.fullMsPerToken, 6);
    expect(c.withBundleMs).toBeCloseTo(c.loadMs + question + 64 * c.decode.csaMsPerToken, 6);
    const saving = c.withoutBundleMs - c.withBundleMs;
    expect(c.breakEvenQuestions).toBe(saving > 0 ? Math.ceil(c.offlineMs / saving - 1e-9) : null);

    const i = csattn('info', bundle, '--json', '--answer-tokens', '100');
    expect(i.status, i.stderr).toBe(0);
    const info = JSON.parse(i.stdout);
    expect(info.tableToKvRatio).toBeCloseTo(info.tableBytes / info.kvBytes, 12);
    expect(info.costs.answerTokens).toBe(100);
    expect(info.costs.prefillMs).toBe(Math.round(s.prefillMs));
    expect(info.costs.decode.fullMsPerToken).toBeCloseTo(c.decode.fullMsPerToken, 2);
    expect(info.costs.writeBasis).toMatch(/^estimated/);
    expect(info.costs.loadBasis).toMatch(/^estimated: the bundle's bytes at the rate prefill loaded the model's weights/);
    expect(typeof info.costs.breakEvenNote).toBe('string');

    const text = csattn('info', bundle).stdout;
    expect(text).toMatch(/prefill +[\d.]+ s without the tables, [\d.]+ s with them/);
    expect(text).toMatch(/per question 32-token question, 64-token answer/);
    expect(text).toMatch(/break-even +(after \d+ questions?|never)/);
  });
});
