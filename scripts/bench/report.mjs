// Joins the JSON lines of the suite's output folders (csattn, PyTorch, probes: bench-suite.sh;
// llama.cpp: bench-peers.sh) into one report: bench.md, bench.json and bench.svg in the first folder.
//   node scripts/bench/report.mjs DIR [DIR...]   (after the build)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchChart, benchReport, parseBenchLines } from '../../dist/benchReport.js';

const dirs = process.argv.slice(2);
if (!dirs.length) { console.error('usage: node scripts/bench/report.mjs DIR [DIR...]'); process.exit(2); }
const lines = dirs.flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) =>
  readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.startsWith('{')).flatMap((l) => {
    try { return [JSON.parse(l)]; } catch { return []; } // a line cut by a timeout
  })));
const inputs = parseBenchLines(lines);
const { markdown, summary } = benchReport(inputs);
writeFileSync(join(dirs[0], 'bench.md'), markdown);
writeFileSync(join(dirs[0], 'bench.json'), JSON.stringify({ summary, ...inputs }, null, 1));
writeFileSync(join(dirs[0], 'bench.svg'), benchChart(inputs));
process.stdout.write(markdown);
