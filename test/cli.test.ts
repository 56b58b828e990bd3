/**
 * The command line on bad input: one line on stderr naming the problem, a non-zero exit, and no
 * partial output file. Runs the built CLI (dist/) as a user would.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../src/weights/safetensors.js';
import { FORMAT_VERSION } from '../src/bundle.js';
import { runCsattn } from './helpers/cli.js';

const MODEL = resolve('fixtures/models/tinylm');
const tmp = mkdtempSync(join(tmpdir(), 'csattn-cli-'));

const csattn = (...args: string[]) => runCsattn(args);

function expectOneLineError(r: ReturnType<typeof csattn>, pattern: RegExp): void {
  expect(r.status).not.toBe(0);
  expect(r.errLines).toHaveLength(1);
  expect(r.errLines[0]).toMatch(/^csattn: /);
  expect(r.errLines[0]).toMatch(pattern);
}

/** A copy of the bundled model folder with config.json edited (weights linked, not copied). */
function modelVariant(name: string, edit: (cfg: any) => void, files: Record<string, (src: string, dst: string) => void> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const f of readdirSync(MODEL)) {
    if (files[f]) files[f](join(MODEL, f), join(dir, f));
    else if (f.endsWith('.safetensors')) symlinkSync(join(MODEL, f), join(dir, f));
    else copyFileSync(join(MODEL, f), join(dir, f));
  }
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  edit(cfg);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  return dir;
}

describe('engine input errors', () => {
  it('no GPU adapter: one line saying how to get one', () => {
    const r = spawnSync('node', ['bin/csattn.js', 'generate', '--prompt', 'hi'], {
      encoding: 'utf8', env: { ...process.env, VK_DRIVER_FILES: '/nonexistent.json', VK_ICD_FILENAMES: '/nonexistent.json' },
    });
    expect(r.status).toBe(1);
    // Vulkan's loader prints its own warnings first; csattn's verdict is the last line.
    const last = r.stderr.trim().split('\n').pop();
    expect(last).toMatch(/^csattn: no WebGPU adapter found: install a GPU driver with Vulkan support, or Mesa's software Vulkan/);
  });
  it('missing model folder', () => {
    expectOneLineError(csattn('generate', '--model', join(tmp, 'nope'), '--prompt', 'hi'), /model folder not found/);
  });
  it('unknown architecture lists the supported ones', () => {
    const dir = modelVariant('gpt2', (c) => { c.architectures = ['GPT2LMHeadModel']; });
    expectOneLineError(csattn('generate', '--model', dir, '--prompt', 'hi'), /unsupported architecture GPT2LMHeadModel.*LlamaForCausalLM.*Qwen3ForCausalLM/);
  });
  it('truncated safetensors shard', () => {
    const dir = modelVariant('trunc', () => {}, {
      'model-00002-of-00002.safetensors': (src, dst) => { copyFileSync(src, dst); truncateSync(dst, statSync(dst).size - 1000); },
    });
    expectOneLineError(csattn('generate', '--model', dir, '--prompt', 'hi'), /model-00002-of-00002\.safetensors/);
  });
  it('a shape that disagrees with config.json', () => {
    const dir = modelVariant('shape', (c) => { c.intermediate_size = 1000; });
    expectOneLineError(csattn('generate', '--model', dir, '--prompt', 'hi'), /gate_proj\.weight has shape \[1024,384\] but config\.json implies \[1000,384\]/);
  });
  it('a token id outside the vocabulary in --ids', () => {
    const out = join(tmp, 'bad.npy');
    expectOneLineError(csattn('logits', '--ids', '5,8192', '--out', out), /8192/);
    expect(existsSync(out)).toBe(false);
  });
  it('logits writes [tokens, vocab] float32', () => {
    const out = join(tmp, 'ok.npy');
    const r = csattn('logits', '--ids', '0,585,5361', '--out', out);
    expect(r.status).toBe(0);
    const buf = readFileSync(out);
    expect(buf.toString('latin1', 1, 6)).toBe('NUMPY');
    expect(buf.toString('latin1')).toContain("'shape': (3, 8192)");
    expect(buf.length % 64 === (3 * 8192 * 4) % 64).toBe(true);
  });
});

describe('prefill and decode input errors', () => {
  const doc = join(tmp, 'doc.txt');
  const bundle = join(tmp, 'doc.csa');
  beforeAll(() => {
    writeFileSync(doc, "In the beginning God created the heaven and the earth.\nKalomi's passcode is 4821.\nAnd the earth was without form, and void.\n");
    const r = csattn('prefill', doc, '-o', bundle, '--centroids', '4', '--log-level', 'warn');
    expect(r.status).toBe(0);
  }, 300_000);

  it('info reports the bundle', () => {
    const r = csattn('info', bundle, '--json');
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.tokens).toBeGreaterThan(20);
    expect(info.model.name).toBe('tinylm');
    expect(info.precision).toEqual({ weights: 'f16', kv: 'f16' });
    expect(info.kvBytes).toBe(2 * 6 * 2 * info.tokens * 64 * 2);
  });
  it('--kv q8: the bundle holds int8 K/V with f16 scales (info says so), and decode runs it; other formats are refused', () => {
    const q8 = join(tmp, 'doc-kv8.csa');
    expect(csattn('prefill', doc, '-o', q8, '--kv', 'q8', '--centroids', '4', '--log-level', 'warn').status).toBe(0);
    const info = JSON.parse(csattn('info', q8, '--json').stdout);
    expect(info.precision).toEqual({ weights: 'f16', kv: 'q8' });
    expect(info.kvBytes).toBe(2 * 6 * 2 * info.tokens * (64 + 2));
    expect(csattn('info', q8).stdout).toMatch(/f16 weights, q8 K\/V/);
    const r = csattn('decode', q8, '--prompt', "What is Kalomi's passcode?", '--max-tokens', '4', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ weights: 'f16', kv: 'q8' });
    const bad = csattn('prefill', doc, '-o', join(tmp, 'x.csa'), '--kv', 'q4');
    expect(bad.status).toBe(2);
    expect(bad.errLines[0]).toMatch(/--kv <format>' argument 'q4' is invalid\. Allowed choices are f16, q8/);
  });
  it('missing and empty documents', () => {
    expectOneLineError(csattn('prefill', join(tmp, 'none.txt'), '-o', join(tmp, 'x.csa')), /document not found/);
    writeFileSync(join(tmp, 'empty.txt'), '  \n');
    expectOneLineError(csattn('prefill', join(tmp, 'empty.txt'), '-o', join(tmp, 'x.csa')), /empty/);
    expect(existsSync(join(tmp, 'x.csa'))).toBe(false);
  });
  it('a document longer than the model window says by how much, and --truncate opts in', () => {
    const r = csattn('prefill', doc, '-o', join(tmp, 'long.csa'), '--reserve', '16370');
    expectOneLineError(r, /tokens too many.*--truncate/);
    expect(existsSync(join(tmp, 'long.csa'))).toBe(false);
    const ok = csattn('prefill', doc, '-o', join(tmp, 'long.csa'), '--reserve', '16370', '--truncate', 'middle', '--centroids', '4', '--log-level', 'error');
    expect(ok.status).toBe(0);
    expect(JSON.parse(csattn('info', join(tmp, 'long.csa'), '--json').stdout).tokens).toBe(16384 - 16370);
  });
  it('an unwritable output path leaves nothing behind', () => {
    expectOneLineError(csattn('prefill', doc, '-o', join(tmp, 'no', 'such', 'dir.csa'), '--centroids', '4'), /cannot write .*dir\.csa: the folder .* does not exist/);
    expect(existsSync(join(tmp, 'no'))).toBe(false);
  });
  it('missing, corrupt and truncated bundles', () => {
    expectOneLineError(csattn('decode', join(tmp, 'none.csa'), '--prompt', 'q'), /bundle not found/);
    writeFileSync(join(tmp, 'junk.csa'), 'this is not a bundle at all');
    expectOneLineError(csattn('decode', join(tmp, 'junk.csa'), '--prompt', 'q'), /junk\.csa/);
    copyFileSync(bundle, join(tmp, 'cut.csa'));
    truncateSync(join(tmp, 'cut.csa'), statSync(bundle).size - 100);
    expectOneLineError(csattn('decode', join(tmp, 'cut.csa'), '--prompt', 'q'), /cut\.csa/);
  });
  it('--weights q8: prefill records it, info shows it, decode takes it from the bundle and refuses f16', () => {
    const q8 = join(tmp, 'doc-q8.csa');
    expect(csattn('prefill', doc, '-o', q8, '--weights', 'q8', '--centroids', '4', '--log-level', 'warn').status).toBe(0);
    expect(JSON.parse(csattn('info', q8, '--json').stdout).precision.weights).toBe('q8');
    const r = csattn('decode', q8, '--prompt', "What is Kalomi's passcode?", '--max-tokens', '2', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).weights).toBe('q8');
    expectOneLineError(csattn('decode', q8, '--weights', 'f16', '--prompt', 'q'), /doc-q8\.csa was prefilled with q8 weights, not f16: decode it with --weights q8/);
    const bad = csattn('decode', q8, '--weights', 'q5', '--prompt', 'q');
    expect(bad.status).toBe(2); // usage: refused before anything loads
    expect(bad.errLines[0]).toMatch(/--weights <format>' argument 'q5' is invalid\. Allowed choices are f16, q8, q4/);
  });
  it('a bundle made with another model is refused, naming both', () => {
    const other = modelVariant('retrained', (c) => { c.rms_norm_eps = 1e-6; });
    expectOneLineError(csattn('decode', bundle, '--model', other, '--prompt', 'q'), /prefilled with model "tinylm".*not with .*retrained.*config\.json differ/);
  });
  /** A copy of the bundle with other metadata, or with tensor `name`'s bytes changed. */
  async function rewritten(file: string, metadata: Record<string, string>, name = '', change = (b: Uint8Array) => b): Promise<string> {
    const src = await SafetensorsFile.open(bundle);
    const out = join(tmp, file);
    const entries = [...src.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
    await writeSafetensors(out, entries, { ...src.metadata, ...metadata }, async (e) => (e.name === name ? change(await src.read(e.name)) : src.read(e.name)));
    await src.close();
    return out;
  }
  it.each([
    ['newer', FORMAT_VERSION + 1, /format version 3 is newer than this csattn supports/],
    ['older', FORMAT_VERSION - 1, /format version 1 is older than this csattn reads \(2\): re-run prefill/],
  ])('a bundle of an %s format version', async (kind, version, error) => {
    const file = await rewritten(`${kind}.csa`, { format_version: String(version) });
    expectOneLineError(csattn('decode', file, '--prompt', 'q'), error);
  });
  it('a bundle whose list is not in key order is corrupt', async () => {
    const swapped = await rewritten('unordered.csa', {}, 'L0.list_idx', (b) => {
      const idx = new Uint32Array(b.slice().buffer);
      [idx[0], idx[1]] = [idx[1], idx[0]];
      return new Uint8Array(idx.buffer);
    });
    expectOneLineError(csattn('decode', swapped, '--prompt', 'q'), /layer 0 has a list out of key order or past the context: the bundle is corrupt/);
  });
  it('an empty question', () => {
    expectOneLineError(csattn('decode', bundle, '--prompt', '   '), /question is empty/);
  });
  it('decode --json answers from the bundle', () => {
    const r = csattn('decode', bundle, '--prompt', "Question: What is Kalomi's passcode?\nAnswer:", '--attention', 'full', '--max-tokens', '6', '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.text).toContain('4821');
    expect(out.msPerToken).toBeGreaterThan(0);
    expect(out.contextKeysPerStep).toBe(out.contextTokens); // full attention: every context key
  });
  it('decode with CSA streams the answer and sums up the keys it attended on stderr', () => {
    const r = spawnSync('node', ['bin/csattn.js', 'decode', bundle, '--prompt', "Question: What is Kalomi's passcode?\nAnswer:", '--max-tokens', '4'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const N = JSON.parse(csattn('info', bundle, '--json').stdout).tokens;
    const K = Math.round(0.05 * N);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^\\[csa at sparsity 0\\.95: ${K} of ${N} context keys per step \\(\\d+\\.\\d%\\) \\+ \\d+ question tokens; \\d+ tokens, [\\d.]+ ms/token\\]$`));
  });
});
