#!/usr/bin/env node
// Markdown tables of `csattn eval` reports for the README's premise evidence and strict sweep
// (scripts/device/eval-premise.sh writes the reports): per report and sparse method, the score
// over all datasets, Δ vs full, teacher-forced top-1, chosen-part recall and the cosine to the
// nearest centroid; with --layers, per report the per-layer cosine and chosen-part recall of each
// method that has centroids.
//
//   node scripts/premise-table.mjs [--layers] report.json...
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const layers = args.includes('--layers');
const files = args.filter((a) => a !== '--layers');
if (files.length === 0) {
  process.stderr.write('usage: node scripts/premise-table.mjs [--layers] report.json...\n');
  process.exit(2);
}

const mean = (xs) => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
const pct = (x) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`);
const num = (x, digits) => (x === null || x === undefined ? '—' : x.toFixed(digits));
const signed = (x) => (x === null || x === undefined ? '—' : `${x > 0 ? '+' : ''}${x.toFixed(1)}`);
const row = (cells) => `| ${cells.join(' | ')} |`;
const label = (m, s) => (s === null ? m : `${m}@${s}`);

/** Per layer, the mean over the results of one method and sparsity. */
function layerMeans(results, pick) {
  const lists = results.map(pick).filter((x) => Array.isArray(x) && x.length > 0);
  const n = Math.max(0, ...lists.map((x) => x.length));
  return Array.from({ length: n }, (_, l) => mean(lists.flatMap((x) => (l < x.length ? [x[l]] : []))));
}

const reports = files.map((f) => ({ name: basename(f).replace(/\.json$/, ''), r: JSON.parse(readFileSync(f, 'utf8')) }));

console.log(row(['report', 'question', 'method', 'n', 'score', 'Δ vs full', 'top-1', 'chosen recall', 'centroid cos']));
console.log(row(Array(9).fill('---')));
for (const { name, r } of reports) {
  const results = r.records.flatMap((rec) => rec.results);
  for (const a of r.aggregates.filter((x) => x.dataset === 'all')) {
    const mine = results.filter((x) => x.method === a.method && x.sparsity === a.sparsity);
    const top1 = mean(mine.flatMap((x) => (x.agreement ? [x.agreement.top1] : [])));
    console.log(row([name, r.options.questionAttention ?? 'full', label(a.method, a.sparsity), a.n, num(a.score, 1),
      signed(a.delta_vs_full), pct(top1), pct(a.chosen_recall), num(a.centroid_cosine, 3)]));
  }
}

if (layers) {
  for (const { name, r } of reports) {
    const results = r.records.flatMap((rec) => rec.results);
    const cells = [...new Set(results.filter((x) => x.centroidCosine).map((x) => label(x.method, x.sparsity)))];
    const of = (l) => results.filter((x) => label(x.method, x.sparsity) === l);
    const cos = cells.map((l) => layerMeans(of(l), (x) => x.centroidCosine));
    const chosen = cells.map((l) => layerMeans(of(l), (x) => x.chosenRecall));
    console.log(`\n${name}: per layer, cosine to the nearest centroid and chosen-part recall`);
    console.log(row(['layer', ...cells.map((l) => `${l} cos`), ...cells.map((l) => `${l} chosen recall`)]));
    console.log(row(Array(1 + 2 * cells.length).fill('---')));
    const n = Math.max(0, ...cos.map((c) => c.length));
    for (let l = 0; l < n; l++) console.log(row([l, ...cos.map((c) => num(c[l], 3)), ...chosen.map((c) => pct(c[l]))]));
  }
}
