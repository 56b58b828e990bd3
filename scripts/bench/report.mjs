// Joins csattn bench and PyTorch reference JSON lines into the README's Performance table: every
// figure with its target and the ratio to it, plus an SVG chart of decode latency vs context.
//   node scripts/bench/report.mjs OUTDIR   (after the build; reads OUTDIR/*.jsonl, writes OUTDIR/bench.md, bench.svg, bench.json)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchTable } from '../../dist/bench.js';

const dir = process.argv[2];
const lines = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) =>
  readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)));
const ours = lines.filter((r) => r.full && r.csa).sort((a, b) => a.model.localeCompare(b.model) || a.context - b.context);
const torch = lines.filter((r) => r.reference === 'pytorch' && !r.error);
const llama = ours.filter((r) => r.model === 'llama-3.1-8b');
const at = (rows, n) => rows.find((r) => Math.abs(r.context - n) <= 256);
const f = (x, d = 2) => (x === null || x === undefined ? '-' : x.toFixed(d));

const table = benchTable(ours, (r) => (r.model === 'llama-3.1-8b' ? at(torch, r.context)?.msPerToken : undefined));
const ref = ['| PyTorch (transformers) | context | prefill s | prefill tok/s | decode ms/tok | decode mode | peak GiB |', '|---|---|---|---|---|---|---|',
  ...torch.map((t) => `| ${t.model} | ${t.context} | ${f(t.prefillMs / 1e3, 1)} | ${f(t.prefillTokensPerSecond, 0)} | ${f(t.msPerToken)} | ${t.decodeMode} | ${f(t.peakGpuBytes / 2 ** 30, 1)} |`),
  ...lines.filter((r) => r.reference === 'pytorch' && r.error).map((t) => `| ${t.model} | ${t.context} | ${t.error} | | | | |`)];

// Targets of the performance issue, Llama-3.1-8B shape, batch 1.
const l128 = at(llama, 131072), t128 = at(torch, 131072);
const targets = [['target', 'measured', 'ratio to target', 'met'], ['---', '---', '---', '---']];
const target = (name, measured, ratio, met) => targets.push([name, measured, ratio, met === null ? 'not measured' : met ? 'yes' : 'no']);
target('CSA decode at 128K <= 1.25x its floor', l128 ? `${f(l128.csa.msPerToken)} ms (floor ${f(l128.csa.floorMs)})` : '-', l128 ? `${f(l128.csa.msPerToken / l128.csa.floorMs)}x floor (target 1.25x)` : '-', l128 ? l128.csa.msPerToken <= 1.25 * l128.csa.floorMs : null);
target('CSA >= 1.9x faster than csattn full at 128K', l128 ? `${f(l128.csaSpeedup)}x` : '-', l128 ? `${f(l128.csaSpeedup / 1.9)} of 1.9x` : '-', l128 ? l128.csaSpeedup >= 1.9 : null);
for (const n of [32768, 65536, 131072]) {
  const o = at(llama, n), t = at(torch, n);
  target(`csattn full decode <= PyTorch at ${n / 1024}K`, o && t ? `${f(o.full.msPerToken)} vs ${f(t.msPerToken)} ms` : '-', o && t ? `${f(o.full.msPerToken / t.msPerToken)}x PyTorch (target <= 1)` : '-', o && t ? o.full.msPerToken <= t.msPerToken : null);
}
const p128 = llama.find((r) => r.context >= 131072 - 256 && r.prefillMs !== null);
target('prefill + tables at 128K <= 2x PyTorch prefill', p128 && t128 ? `${f((p128.prefillMs + p128.tablesMs) / 1e3, 1)} vs ${f(t128.prefillMs / 1e3, 1)} s` : '-', p128 && t128 ? `${f((p128.prefillMs + p128.tablesMs) / t128.prefillMs)}x (target <= 2)` : '-', p128 && t128 ? p128.prefillMs + p128.tablesMs <= 2 * t128.prefillMs : null);
// An "80 GB" H100 has 80 GiB of HBM3.
target('128K context fits in 80 GB', l128 ? `peak ${f(l128.peakGpuBytes / 2 ** 30, 1)} GiB (${l128.context_kind})` : '-', l128 ? `${f(l128.peakGpuBytes / (80 * 2 ** 30))} of 80 GiB` : '-', l128 ? l128.peakGpuBytes <= 80 * 2 ** 30 : null);

const md = ['### csattn', '', ...table, '', '### PyTorch reference', '', ...ref, '', '### Targets (Llama-3.1-8B shape, batch 1)', '', ...targets.map((r) => `| ${r.join(' | ')} |`), ''].join('\n');
writeFileSync(join(dir, 'bench.md'), md);
writeFileSync(join(dir, 'bench.json'), JSON.stringify({ csattn: ours, pytorch: lines.filter((r) => r.reference === 'pytorch') }, null, 1));
writeFileSync(join(dir, 'bench.svg'), chart([
  ['csattn full', '#c0392b', llama.map((r) => [r.context, r.full.msPerToken])],
  ['csattn CSA 0.95', '#2471a3', llama.map((r) => [r.context, r.csa.msPerToken])],
  ['PyTorch full', '#7f8c8d', torch.map((t) => [t.context, t.msPerToken])],
  ['full floor', '#e6b0aa', llama.map((r) => [r.context, r.full.floorMs])],
  ['CSA floor', '#a9cce3', llama.map((r) => [r.context, r.csa.floorMs])],
]));
process.stdout.write(md);

/** Decode ms/token against context (log2 x axis), one polyline per series. */
function chart(series) {
  const W = 640, H = 360, L = 60, R = 170, T = 20, B = 50;
  const pts = series.flatMap(([, , p]) => p);
  if (!pts.length) return '<svg xmlns="http://www.w3.org/2000/svg"/>';
  const xs = pts.map(([x]) => Math.log2(x)), ys = pts.map(([, y]) => y);
  const x0 = Math.min(...xs) - 0.2, x1 = Math.max(...xs) + 0.2, y1 = Math.max(...ys) * 1.1;
  const px = (x) => L + ((Math.log2(x) - x0) / (x1 - x0)) * (W - L - R), py = (y) => H - B - (y / y1) * (H - T - B);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<text x="${L}" y="14">decode ms/token, Llama-3.1-8B shape, batch 1, H100</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`];
  for (const x of [...new Set(pts.map(([x]) => x))]) out.push(`<text x="${px(x) - 14}" y="${H - B + 16}">${Math.round(x / 1024)}K</text>`);
  for (let i = 0; i <= 4; i++) out.push(`<text x="8" y="${py((y1 * i) / 4) + 4}">${f((y1 * i) / 4, 1)}</text>`);
  out.push(`<text x="${(W - R) / 2}" y="${H - 10}">context tokens</text>`);
  series.forEach(([name, color, p], i) => {
    const s = [...p].sort((a, b) => a[0] - b[0]);
    if (s.length) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${s.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>`);
    for (const [x, y] of s) out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${color}"/>`);
    out.push(`<rect x="${W - R + 10}" y="${T + i * 18}" width="12" height="3" fill="${color}"/><text x="${W - R + 28}" y="${T + i * 18 + 5}">${name}</text>`);
  });
  return out.join('\n') + '\n</svg>\n';
}
