/**
 * A bundle opened with what it was not made with: another config, tokenizer or weights, or a
 * newer bundle format. Session.open must refuse each with a CsattnError that names the difference.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FORMAT_VERSION } from '../src/bundle.js';
import { prefillDocument } from '../src/prefill.js';
import { Session } from '../src/decode.js';
import { CsattnError } from '../src/errors.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';
import { createLogger } from '../src/log.js';
import { SafetensorsFile, writeSafetensors } from '../src/weights/safetensors.js';

const MODEL = resolve('fixtures/models/tinylm');
const dir = mkdtempSync(join(tmpdir(), 'csattn-pairing-'));
const bundle = join(dir, 'doc.csa');

/** A copy of the model folder (shards linked unless `copy` names them), then `edit(dir)`. */
function variant(name: string, edit: (dir: string) => void | Promise<void>, copy: string[] = []) {
  const out = join(dir, name);
  mkdirSync(out);
  for (const f of readdirSync(MODEL)) {
    if (f.endsWith('.safetensors') && !copy.includes(f)) symlinkSync(join(MODEL, f), join(out, f));
    else copyFileSync(join(MODEL, f), join(out, f));
  }
  return Promise.resolve(edit(out)).then(() => out);
}

function editJson(path: string, edit: (json: any) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}

async function refusal(bundlePath: string, modelDir: string): Promise<CsattnError> {
  const e = await Session.open(bundlePath, modelDir, 16).then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(CsattnError);
  expect((e as Error).message).not.toMatch(/\n/);
  return e as CsattnError;
}

beforeAll(async () => {
  const doc = join(dir, 'doc.txt');
  writeFileSync(doc, readFileSync('fixtures/heldout/heldout-a.txt', 'utf8').slice(0, 450));
  await prefillDocument({
    document: doc, out: bundle, modelDir: MODEL, weights: 'f16', template: 'plain', reserve: 64, chunkSize: 64,
    csa: { ...DEFAULT_CSA, centroids: 4, kmeansIters: 2 }, log: createLogger('silent'),
  });
}, 120_000);

describe('bundle ↔ model pairing', () => {
  it('the model it was made with opens it', async () => {
    const s = await Session.open(bundle, MODEL, 16);
    expect(s.contextTokens).toBeGreaterThan(60);
    await s.bundle.close();
  });

  it('another config.json', async () => {
    const other = await variant('config', (d) => editJson(join(d, 'config.json'), (c) => { c.rms_norm_eps = 1e-6; }));
    const e = await refusal(bundle, other);
    expect(e.kind).toBe('wrong-model');
    expect(e.message).toMatch(/config\.json differ/);
    expect(e.message).not.toMatch(/tokenizer|weights/);
  });

  it('another tokenizer.json (two vocab ids swapped)', async () => {
    const other = await variant('tokenizer', (d) => editJson(join(d, 'tokenizer.json'), (t) => {
      const v = t.model.vocab;
      [v.lookup, v.icensed] = [v.icensed, v.lookup];
    }));
    const e = await refusal(bundle, other);
    expect(e.message).toMatch(/: tokenizer\.json differ/);
  });

  it('weights changed in the middle of one tensor, same shapes', async () => {
    const shard = 'model-00002-of-00002.safetensors';
    const other = await variant('weights', async (d) => {
      const st = await SafetensorsFile.open(join(d, shard));
      const t = [...st.tensors.values()].find((x) => x.byteLength > 4096)!;
      await st.close();
      const fh = await open(join(d, shard), 'r+');
      await fh.write(new Uint8Array(8).fill(0x3c), 0, 8, t.offset + Math.floor(t.byteLength / 2) + 4);
      await fh.close();
    }, [shard]);
    const e = await refusal(bundle, other);
    expect(e.message).toMatch(/: weights differ/);
  });

  it('weights run in another format: q8 bundles decode in q8 by default; the other format is refused, naming both', async () => {
    const q8 = join(dir, 'doc-q8.csa');
    await prefillDocument({
      document: join(dir, 'doc.txt'), out: q8, modelDir: MODEL, weights: 'q8', template: 'plain', reserve: 64, chunkSize: 64,
      csa: { ...DEFAULT_CSA, centroids: 4, kmeansIters: 2 }, log: createLogger('silent'),
    });
    const s = await Session.open(q8, MODEL, 16);
    expect(s.model.weights.format).toBe('q8');
    await s.close();
    const asF16 = await Session.open(q8, MODEL, 16, { weights: 'f16' }).then(() => null, (err: unknown) => err);
    expect(asF16).toBeInstanceOf(CsattnError);
    expect((asF16 as CsattnError).message).toMatch(/doc-q8\.csa was prefilled with q8 weights, not f16: decode it with --weights q8$/);
    const asQ8 = await Session.open(bundle, MODEL, 16, { weights: 'q8' }).then(() => null, (err: unknown) => err);
    expect((asQ8 as CsattnError).message).toMatch(/doc\.csa was prefilled with f16 weights, not q8: decode it with --weights f16$/);
  });

  it('a newer CSA format version', async () => {
    const src = await SafetensorsFile.open(bundle);
    const newer = join(dir, 'newer.csa');
    const entries = [...src.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
    await writeSafetensors(newer, entries, { ...src.metadata, format_version: String(FORMAT_VERSION + 1) }, (e) => src.read(e.name));
    await src.close();
    const e = await refusal(newer, MODEL);
    expect(e.kind).toBe('version');
    expect(e.message).toMatch(new RegExp(`format version ${FORMAT_VERSION + 1} is newer than this csattn supports \\(${FORMAT_VERSION}\\)`));
  });
});
