#!/usr/bin/env node
/**
 * Mutation fuzzer for the parsers of files users download and share: safetensors, .csa bundles,
 * LongBench JSONL. Runs over the built dist/ (`npm run build` first).
 *
 *   node scripts/fuzz.mjs [--seed S] [--cases N]
 *
 * Prints a summary JSON {seed, cases, ok, errorsByKind, crashes, crashList}; exits 1 on any crash.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fuzz } from './fuzz-core.mjs';
import { CsattnError } from '../dist/errors.js';
import { DTYPE_SIZE, SafetensorsFile, entryBytes, toF32, writeSafetensors } from '../dist/weights/safetensors.js';
import { Bundle, bundleEntries, writeBundle } from '../dist/bundle.js';
import { parseJsonl } from '../dist/eval/longbench.js';

const { values } = parseArgs({ options: { seed: { type: 'string', default: '1' }, cases: { type: 'string', default: '100000' } } });
const seed = Number(values.seed);
const cases = Number(values.cases);
if (!Number.isInteger(seed) || !Number.isInteger(cases) || cases < 1) {
  process.stderr.write('usage: node scripts/fuzz.mjs [--seed S] [--cases N]\n');
  process.exit(2);
}

const lib = { CsattnError, DTYPE_SIZE, SafetensorsFile, entryBytes, toF32, writeSafetensors, Bundle, bundleEntries, writeBundle, parseJsonl };
const dir = mkdtempSync(join(tmpdir(), 'csattn-fuzz-'));
const t0 = Date.now();
try {
  const summary = await fuzz(lib, {
    seed, cases, dir,
    onProgress: (done) => { if (done % 10_000 === 0) process.stderr.write(`fuzz: ${done}/${cases} cases, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`); },
  });
  process.stdout.write(`${JSON.stringify({ ...summary, seconds: Math.round((Date.now() - t0) / 1000) }, null, 2)}\n`);
  process.exitCode = summary.crashes ? 1 : 0;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
