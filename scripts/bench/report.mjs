// Joins the JSON lines of the suite's output folders (csattn, PyTorch, probes: bench-suite.sh;
// llama.cpp: bench-peers.sh) and any csattn eval reports there (*.json with aggregates, for the
// fidelity targets) into one report: bench.md, bench.json and bench.svg in the first folder, the
// open issues' targets first.
//   node scripts/bench/report.mjs DIR [DIR...]   (after the build)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchChart, benchReport, parseBenchLines } from '../../dist/benchReport.js';
import { evalFidelity, issueTargets, targetsMarkdown } from '../../dist/benchTargets.js';

const dirs = process.argv.slice(2);
if (!dirs.length) { console.error('usage: node scripts/bench/report.mjs DIR [DIR...]'); process.exit(2); }
// bench.json is this script's own output (large, no eval report): not read back.
const files = (ext) => dirs.flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith(ext) && f !== 'bench.json').map((f) => readFileSync(join(dir, f), 'utf8')));
const lines = files('.jsonl').flatMap((text) => text.split('\n').filter((l) => l.startsWith('{')).flatMap((l) => {
  try { return [JSON.parse(l)]; } catch { return []; } // a line cut by a timeout
}));
const evals = files('.json').flatMap((text) => {
  try { const r = JSON.parse(text); return Array.isArray(r.aggregates) && Array.isArray(r.records) ? evalFidelity(r) : []; } catch { return []; }
});
const inputs = parseBenchLines(lines);
const targets = issueTargets(inputs, undefined, evals);
const { markdown, summary } = benchReport(inputs, undefined, targetsMarkdown(targets, inputs.meta.machine));
writeFileSync(join(dirs[0], 'bench.md'), markdown);
writeFileSync(join(dirs[0], 'bench.json'), JSON.stringify({ summary, targets, ...inputs }, null, 1));
writeFileSync(join(dirs[0], 'bench.svg'), benchChart(inputs));
process.stdout.write(markdown);
