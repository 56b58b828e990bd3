// The HTML report in a real browser: headless Chromium renders it; its DOM must hold both charts
// with every series, and its screenshot must show the series' colours (not a blank page).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { methodColor } from '../src/eval/html.js';
import { buildReport, type MethodResult, type RecordResult } from '../src/eval/report.js';
import { renderHtml } from '../src/eval/html.js';

const CHROMIUM = '/usr/bin/chromium';
const WIDTH = 1200, HEIGHT = 1600;
const SPARSE = ['csa', 'oracle', 'streaming', 'quest', 'keypq'];
const SPARSITIES = [0.8, 0.9, 0.95];
const LAYERS = 6;
/** The methods that select through centroids. */
const CENTROIDS = ['csa', 'keypq'];

const tmp = mkdtempSync(join(tmpdir(), 'csattn-html-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Eight records over two datasets; every sparse method at three sparsities, with per-layer recall. */
function records(): RecordResult[] {
  return Array.from({ length: 8 }, (_, r) => {
    const sparse = SPARSE.flatMap((method, m) => SPARSITIES.map((sparsity): MethodResult => ({
      method, sparsity, prediction: `${method} answer ${r}`, score: Math.max(0, 95 - 60 * m * (sparsity - 0.7) - r), msPerToken: 2 + m, tokens: 6,
      agreement: { exactMatch: (r + m) % 2 === 0, firstDivergence: 3, top1: 0.9, meanKl: 0.1 },
      recall: Array.from({ length: LAYERS }, (_, l) => Math.min(1, 0.3 + 0.1 * m + 0.05 * l + (1 - sparsity))),
      chosenRecall: Array.from({ length: LAYERS }, (_, l) => Math.min(1, 0.1 + 0.1 * m + 0.05 * l)),
      ...(CENTROIDS.includes(method) ? { centroidCosine: Array.from({ length: LAYERS }, (_, l) => 0.9 - 0.3 * m / 4 - 0.02 * l) } : {}),
    })));
    const full: MethodResult = { method: 'full', sparsity: null, prediction: `answer ${r}`, score: 90, msPerToken: 9, tokens: 6 };
    return {
      key: `data.jsonl:${r + 1}`, file: 'data.jsonl', line: r + 1, dataset: r % 2 ? 'facts' : 'qa',
      contextTokens: 2000 + r, answers: [`answer ${r}`], results: [full, ...sparse],
    };
  });
}

const run = promisify(execFile);

/** Runs headless Chromium on a page; fails (never skips) when it is not installed. */
async function chromium(url: string, ...args: string[]): Promise<string> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Chromium (Debian: apt-get install -y chromium); CI (.ci/run) must install it`);
  }
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const { stdout } = await run(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, `--window-size=${WIDTH},${HEIGHT}`, ...args, url,
  ], { timeout: 90_000, maxBuffer: 64 << 20 });
  return stdout;
}

// ---- a PNG decoder (8-bit RGB/RGBA, not interlaced: what Chromium writes) ----

interface Image { width: number; height: number; channels: number; pixels: Uint8Array }

function decodePng(png: Buffer): Image {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  const idat: Buffer[] = [];
  let header: Buffer | undefined;
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') header = data;
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  expect(header).toBeDefined();
  const width = header!.readUInt32BE(0), height = header!.readUInt32BE(4);
  const [bitDepth, colorType, , , interlace] = header!.subarray(8, 13);
  expect({ bitDepth, interlace }).toEqual({ bitDepth: 8, interlace: 0 });
  expect([2, 6]).toContain(colorType);
  const channels = colorType === 6 ? 4 : 3;
  return { width, height, channels, pixels: unfilter(inflateSync(Buffer.concat(idat)), width, height, channels) };
}

/** Undoes PNG's per-row filters (none, sub, up, average, Paeth). */
function unfilter(raw: Buffer, width: number, height: number, bpp: number): Uint8Array {
  const stride = width * bpp;
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    expect(filter, `row ${y}'s filter`).toBeLessThanOrEqual(4);
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[row - stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[row - stride + x - bpp] : 0;
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter];
      out[row + x] = (src[x] + predictor) & 0xff;
    }
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Pixels within `tolerance` of an #rrggbb colour on every channel. */
function countColor(img: Image, hex: string, tolerance = 12): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < img.pixels.length; i += img.channels) {
    const p = img.pixels;
    if (Math.abs(p[i] - r) <= tolerance && Math.abs(p[i + 1] - g) <= tolerance && Math.abs(p[i + 2] - b) <= tolerance) n++;
  }
  return n;
}

describe('the HTML report in headless Chromium', () => {
  const page = join(tmp, 'report.html');
  writeFileSync(page, renderHtml(buildReport(records(), [], { model: 'tinylm', options: { sparsity: SPARSITIES } })));
  const url = `file://${page}`;

  it('has the four charts in the rendered DOM, with a line per series', async () => {
    const dom = await chromium(url, '--dump-dom');
    const charts = new Map([...dom.matchAll(/<svg\b[^>]*\bclass="chart"[^>]*>[^]*?<\/svg>/g)]
      .map(([svg]) => [/\bid="([^"]+)"/.exec(svg)![1], svg]));
    expect([...charts.keys()]).toEqual(['score-vs-sparsity', 'recall-per-layer', 'chosen-recall-per-layer', 'centroid-cosine-per-layer']);
    const series = (svg: string) => [...svg.matchAll(/<polyline\b[^>]*\bdata-series="([^"]+)"/g)].map((m) => m[1]);
    expect(series(charts.get('score-vs-sparsity')!)).toEqual(SPARSE);
    expect(charts.get('score-vs-sparsity')).toMatch(/<line class="reference" data-series="full \(90\.0\)"/);
    expect(series(charts.get('recall-per-layer')!)).toEqual(SPARSE.flatMap((m) => SPARSITIES.map((s) => `${m}@${s}`)));
    expect(series(charts.get('chosen-recall-per-layer')!)).toEqual(series(charts.get('recall-per-layer')!));
    expect(series(charts.get('centroid-cosine-per-layer')!)).toEqual([
      ...CENTROIDS.map((m) => `${m} cosine`), ...CENTROIDS.flatMap((m) => SPARSITIES.map((s) => `${m}@${s} recall`)),
    ]);
    // each polyline holds a point per sparsity (score chart) or per layer (the others)
    for (const id of ['recall-per-layer', 'chosen-recall-per-layer', 'centroid-cosine-per-layer']) {
      for (const points of charts.get(id)!.matchAll(/<polyline\b[^>]*\bpoints="([^"]+)"/g)) {
        expect(points[1].trim().split(/\s+/)).toHaveLength(LAYERS);
      }
    }
  });

  it('paints the charts: a screenshot of the right size, not blank, showing every method\'s colour', async () => {
    const shot = join(tmp, 'report.png');
    await chromium(url, `--screenshot=${shot}`);
    expect(existsSync(shot), 'Chromium wrote no screenshot').toBe(true);
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    const img = decodePng(readFileSync(shot));
    expect([img.width, img.height]).toEqual([WIDTH, HEIGHT]);
    const pixels = img.width * img.height;
    expect(countColor(img, '#ffffff', 3)).toBeLessThan(0.98 * pixels);
    for (const method of ['full', ...SPARSE]) {
      expect(countColor(img, methodColor(method)), method).toBeGreaterThan(200);
    }
  });
});
