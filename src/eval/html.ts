/**
 * The eval report as one self-contained HTML page: inline CSS and SVG, no scripts, no external
 * fonts or images, so it opens as is from a CI artifact or a mail attachment. Charts (score vs
 * sparsity; recall@K per layer, over all keys and the chosen part; the queries' cosine to the
 * centroids of csa and keypq beside their chosen-part recall), the aggregate table and a
 * per-record table.
 */
import {
  ALL_DATASETS, METHOD_ORDER, TABLE_COLUMNS, compareMethods, groupBy, methodLabel,
  type Aggregate, type MethodResult, type RecordResult, type Report, type Skipped,
} from './report.js';
import { maxOf, minOf } from '../arrays.js';

export function renderHtml(r: Report): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>csattn eval — ${esc(r.model)}</title>
<style>${STYLE}</style>
</head>
<body>
${header(r)}
<section class="charts">
${scoreChart(r.aggregates)}
${recallChart(r.records, RECALL_ALL)}
${recallChart(r.records, RECALL_CHOSEN)}
${centroidChart(r.records)}
</section>
${aggregateTable(r.aggregates)}
${recordTable(r.records)}
${skippedTable(r.skipped)}
</body>
</html>
`;
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: #555; } .meta code { font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart { border: 1px solid #ddd; background: #fff; }
svg.chart text { font: 12px system-ui, sans-serif; fill: #333; }
svg.chart .title { font-size: 14px; font-weight: 600; }
svg.chart .grid { stroke: #eee; } svg.chart .axis { stroke: #888; }
table { border-collapse: collapse; font-size: 13px; } .scroll { overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td .pred { white-space: pre-wrap; }
`;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function header(r: Report): string {
  return `<h1>csattn eval: ${esc(r.model)}</h1>
<p class="meta">${esc(r.created)} · ${r.records.length} records · metrics <code>${esc(JSON.stringify(r.metrics ?? {}))}</code> · options <code>${esc(JSON.stringify(r.options))}</code></p>`;
}

// ---- colours: one per method, the same in both charts; sparsities of one method differ by dash ----

const METHOD_COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const OTHER_COLORS = ['#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

/** A method's colour: METHOD_COLORS follows METHOD_ORDER; other methods share the spares by name. */
export function methodColor(method: string): string {
  const i = METHOD_ORDER.indexOf(method);
  if (i >= 0) return METHOD_COLORS[i];
  const hash = [...method].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 0);
  return OTHER_COLORS[hash % OTHER_COLORS.length];
}

// ---- line charts ----

interface Axis { label: string; min: number; max: number; ticks: number[]; format: (v: number) => string }
interface Series { label: string; color: string; dash: string; points: [number, number][] }
interface Reference { label: string; color: string; y: number }
interface Chart { id: string; title: string; x: Axis; y: Axis; series: Series[]; reference?: Reference }

const W = 560, H = 340;
const PLOT = { left: 56, right: 400, top: 36, bottom: 290 };
const LEGEND_X = PLOT.right + 16;

/** Ticks at 1, 2 or 5 × 10^k covering [lo, hi] with about `count` steps; the axis snaps to them. */
function niceAxis(label: string, lo: number, hi: number, count: number, format: (v: number) => string): Axis {
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.05, hi + 0.05];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9))!;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks = Array.from({ length: last - first + 1 }, (_, k) => Number(((first + k) * step).toPrecision(12)));
  return { label, min: ticks[0], max: ticks.at(-1)!, ticks, format };
}

const fixedAxis = (label: string, max: number, step: number, format: (v: number) => string): Axis => ({
  label, min: 0, max, ticks: Array.from({ length: Math.round(max / step) + 1 }, (_, k) => Number((k * step).toPrecision(12))), format,
});

const px = (v: number) => v.toFixed(1);
const sx = (c: Chart, x: number) => PLOT.left + ((x - c.x.min) / (c.x.max - c.x.min)) * (PLOT.right - PLOT.left);
const sy = (c: Chart, y: number) => PLOT.bottom - ((y - c.y.min) / (c.y.max - c.y.min)) * (PLOT.bottom - PLOT.top);

function axes(c: Chart): string {
  const yTicks = c.y.ticks.map((t) => {
    const y = px(sy(c, t));
    return `<line class="grid" x1="${PLOT.left}" x2="${PLOT.right}" y1="${y}" y2="${y}"/>`
      + `<text x="${PLOT.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(c.y.format(t))}</text>`;
  });
  const xTicks = c.x.ticks.map((t) => {
    const x = px(sx(c, t));
    return `<line class="axis" x1="${x}" x2="${x}" y1="${PLOT.bottom}" y2="${PLOT.bottom + 4}"/>`
      + `<text x="${x}" y="${PLOT.bottom + 16}" text-anchor="middle">${esc(c.x.format(t))}</text>`;
  });
  const midY = (PLOT.top + PLOT.bottom) / 2;
  return [
    ...yTicks, ...xTicks,
    `<line class="axis" x1="${PLOT.left}" x2="${PLOT.right}" y1="${PLOT.bottom}" y2="${PLOT.bottom}"/>`,
    `<line class="axis" x1="${PLOT.left}" x2="${PLOT.left}" y1="${PLOT.top}" y2="${PLOT.bottom}"/>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 36}" text-anchor="middle">${esc(c.x.label)}</text>`,
    `<text x="14" y="${midY}" text-anchor="middle" transform="rotate(-90 14 ${midY})">${esc(c.y.label)}</text>`,
  ].join('\n');
}

function seriesSvg(c: Chart, s: Series): string {
  const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`;
  const points = s.points.map(([x, y]) => `${px(sx(c, x))},${px(sy(c, y))}`).join(' ');
  const dots = s.points.map(([x, y]) => `<circle cx="${px(sx(c, x))}" cy="${px(sy(c, y))}" r="3.5" fill="${s.color}"/>`);
  return `<g data-series="${esc(s.label)}"><polyline class="series" data-series="${esc(s.label)}" points="${points}" fill="none" stroke="${s.color}" stroke-width="2.5"${dash}/>${dots.join('')}</g>`;
}

function referenceSvg(c: Chart, ref: Reference): string {
  const y = px(sy(c, ref.y));
  return `<line class="reference" data-series="${esc(ref.label)}" x1="${PLOT.left}" x2="${PLOT.right}" y1="${y}" y2="${y}" stroke="${ref.color}" stroke-width="2.5" stroke-dasharray="8 4"/>`;
}

const legendY = (entry: number) => PLOT.top + 8 + 18 * entry;

function legend(c: Chart): string {
  const entries = [
    ...(c.reference ? [{ label: c.reference.label, color: c.reference.color, dash: '8 4' }] : []),
    ...c.series,
  ];
  return entries.map((e, i) => {
    const y = legendY(i);
    const dash = e.dash === '' ? '' : ` stroke-dasharray="${e.dash}"`;
    return `<line x1="${LEGEND_X}" x2="${LEGEND_X + 24}" y1="${y}" y2="${y}" stroke="${e.color}" stroke-width="2.5"${dash}/>`
      + `<text x="${LEGEND_X + 30}" y="${y}" dominant-baseline="middle">${esc(e.label)}</text>`;
  }).join('\n');
}

function chartSvg(c: Chart): string {
  const empty = c.series.length === 0 && c.reference === undefined;
  const body = empty
    ? `<text x="${(PLOT.left + PLOT.right) / 2}" y="${(PLOT.top + PLOT.bottom) / 2}" text-anchor="middle">no data</text>`
    : [...(c.reference ? [referenceSvg(c, c.reference)] : []), ...c.series.map((s) => seriesSvg(c, s)), legend(c)].join('\n');
  const height = Math.max(H, legendY(c.series.length + 1) + 12); // a long legend grows the chart downwards
  return `<svg class="chart" id="${c.id}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-labelledby="${c.id}-title">
<title id="${c.id}-title">${esc(c.title)}</title>
<text class="title" x="${PLOT.left}" y="20">${esc(c.title)}</text>
${axes(c)}
${body}
</svg>`;
}

const trim = (v: number) => String(Number(v.toFixed(6)));

/** Mean score over datasets ("all" rows) against sparsity: one line per sparse method, full as a reference line. */
function scoreChart(aggs: Aggregate[]): string {
  const all = aggs.filter((a) => a.dataset === ALL_DATASETS);
  const full = all.find((a) => a.sparsity === null && a.method === 'full');
  const sparse = all.filter((a) => a.sparsity !== null);
  const sparsities = sparse.map((a) => a.sparsity!);
  const lo = sparsities.length ? minOf(sparsities) : 0;
  const hi = sparsities.length ? maxOf(sparsities) : 1;
  const series = groupBy(sparse, (a) => a.method).map((rows): Series => ({
    label: rows[0].method,
    color: methodColor(rows[0].method),
    dash: '',
    points: rows.map((a) => [a.sparsity!, a.score] as [number, number]).sort((p, q) => p[0] - q[0]),
  }));
  return chartSvg({
    id: 'score-vs-sparsity',
    title: 'Score vs sparsity (mean over datasets)',
    x: niceAxis('sparsity', lo, hi, 5, trim),
    y: fixedAxis('score', 100, 20, trim),
    series,
    reference: full && { label: `full (${full.score.toFixed(1)})`, color: methodColor('full'), y: full.score },
  });
}

/** Results of each method and sparsity, in legend order. */
function byMethod(results: MethodResult[]): MethodResult[][] {
  return groupBy(results, (res) => methodLabel(res.method, res.sparsity)).sort((a, b) => compareMethods(a[0], b[0]));
}

interface RecallKind { id: string; title: string; of: (res: MethodResult) => number[] | undefined }
const RECALL_ALL: RecallKind = { id: 'recall-per-layer', title: 'Recall@K of the oracle\'s keys per layer (mean over records)', of: (res) => res.recall };
const RECALL_CHOSEN: RecallKind = {
  id: 'chosen-recall-per-layer', title: 'The same over the keys chosen by score (sinks and window, which every method holds, left out)', of: (res) => res.chosenRecall,
};

/** A recall per layer, averaged over records: one line per method and sparsity. */
function recallChart(records: RecordResult[], kind: RecallKind): string {
  const groups = byMethod(records.flatMap((rec) => rec.results).filter((res) => (kind.of(res)?.length ?? 0) > 0));
  const series = groups.map((group, i): Series => {
    const { method, sparsity } = group[0];
    return {
      label: methodLabel(method, sparsity),
      color: methodColor(method),
      // the method's earlier sparsities took the earlier dashes
      dash: DASHES[groups.slice(0, i).filter((g) => g[0].method === method).length % DASHES.length],
      points: layerPoints(group.map((res) => kind.of(res)!)),
    };
  });
  const last = maxOf(series.map((s) => s.points.length - 1), 1);
  return chartSvg({
    id: kind.id,
    title: kind.title,
    x: niceAxis('layer', 0, last, Math.min(last, 8), trim),
    y: fixedAxis('recall', 1, 0.2, trim),
    series,
  });
}

/**
 * CSAttention's premise beside what follows from it: per layer, the probe step's cosine to the
 * nearest centroid of each method's tables (solid: query centroids for csa, key centroids for
 * keypq), and the same methods' chosen-part recall (dashed, one dash per sparsity).
 */
function centroidChart(records: RecordResult[]): string {
  const results = records.flatMap((rec) => rec.results);
  const measured = results.filter((res) => (res.centroidCosine?.length ?? 0) > 0);
  const methods = new Set(measured.map((res) => res.method));
  const cosines = groupBy(measured, (res) => res.method).sort((a, b) => compareMethods(a[0], b[0])).map((group): Series => ({
    label: `${group[0].method} cosine`,
    color: methodColor(group[0].method),
    dash: '',
    points: layerPoints(group.map((res) => res.centroidCosine!)),
  }));
  const recalls = byMethod(results.filter((res) => methods.has(res.method) && (res.chosenRecall?.length ?? 0) > 0)).map((group, i, all): Series => ({
    label: `${methodLabel(group[0].method, group[0].sparsity)} recall`,
    color: methodColor(group[0].method),
    dash: DASHES[1 + (all.slice(0, i).filter((g) => g[0].method === group[0].method).length % (DASHES.length - 1))],
    points: layerPoints(group.map((res) => res.chosenRecall!)),
  }));
  const series = [...cosines, ...recalls];
  const last = maxOf(series.map((s) => s.points.length - 1), 1);
  return chartSvg({
    id: 'centroid-cosine-per-layer',
    title: 'Cosine to the nearest centroid (solid), chosen recall (dashed)',
    x: niceAxis('layer', 0, last, Math.min(last, 8), trim),
    y: fixedAxis('cosine / recall', 1, 0.2, trim),
    series,
  });
}

/** A chart's points of per-layer values, averaged over records. */
function layerPoints(values: number[][]): [number, number][] {
  return layerMeans(values).map((v, layer) => [layer, v]);
}

/** Per-layer means over the records that reach that layer. */
function layerMeans(recalls: number[][]): number[] {
  const layers = maxOf(recalls.map((r) => r.length), 0);
  return Array.from({ length: layers }, (_, l) => {
    const values = recalls.flatMap((r) => (l < r.length ? [r[l]] : []));
    return values.reduce((a, b) => a + b, 0) / values.length;
  });
}

// ---- tables ----

function aggregateTable(aggs: Aggregate[]): string {
  const head = TABLE_COLUMNS.map((c) => `<th>${esc(c.title)}</th>`).join('');
  const rows = aggs.map((a) =>
    `<tr>${TABLE_COLUMNS.map((c) => `<td${c.numeric ? ' class="num"' : ''}>${esc(c.cell(a))}</td>`).join('')}</tr>`);
  return `<h2>Aggregates</h2>
<table id="aggregates"><thead><tr>${head}</tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`;
}

const PREDICTION_CHARS = 80;

/** Green for 100, red for 0: a quick eye on where methods lose answers. */
const scoreTint = (score: number) => `hsl(${(1.2 * Math.max(0, Math.min(100, score))).toFixed(0)}, 60%, 92%)`;

function recordTable(records: RecordResult[]): string {
  const columns = byMethod(records.flatMap((rec) => rec.results)).map(([res]) => methodLabel(res.method, res.sparsity));
  const head = ['record', 'dataset', 'context tokens', 'answers', ...columns].map((t) => `<th>${esc(t)}</th>`).join('');
  const rows = records.map((rec) => {
    const byLabel = new Map(rec.results.map((res) => [methodLabel(res.method, res.sparsity), res]));
    const cells = columns.map((label) => {
      const res = byLabel.get(label);
      if (!res) return '<td></td>';
      return `<td style="background:${scoreTint(res.score)}"><b>${res.score.toFixed(0)}</b> <span class="pred">${esc(truncate(res.prediction, PREDICTION_CHARS))}</span></td>`;
    });
    return `<tr><td>${esc(rec.key)}</td><td>${esc(rec.dataset)}</td><td class="num">${rec.contextTokens}</td>`
      + `<td>${esc(truncate(rec.answers.join(' | '), PREDICTION_CHARS))}</td>${cells.join('')}</tr>`;
  });
  return `<h2>Records</h2>
<div class="scroll"><table id="records"><thead><tr>${head}</tr></thead><tbody>
${rows.join('\n')}
</tbody></table></div>`;
}

function skippedTable(skipped: Skipped[]): string {
  if (skipped.length === 0) return '';
  const rows = skipped.map((s) => `<tr><td>${esc(s.file)}:${s.line}</td><td>${esc(s.reason)}</td></tr>`);
  return `<h2>Skipped lines</h2>
<table id="skipped"><thead><tr><th>line</th><th>reason</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`;
}
