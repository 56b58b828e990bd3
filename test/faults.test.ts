/**
 * Resource faults, simulated where a real one cannot be made: a full disk while writing, a lost
 * GPU device, Ctrl-C during prefill, and a buffer larger than the GPU allows.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsattnError } from '../src/errors.js';
import { writeBundle, type BundleMeta, type LayerTensors } from '../src/bundle.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { allocate, createGpu } from '../src/gpu/device.js';
import { readBuffer } from '../src/gpu/kernels.js';
import { loadModel } from '../src/model/load.js';
import { DEFAULT_CSA } from '../src/attention/csa/tables.js';
import { enospc, simulateDeviceLoss } from './helpers/faults.js';

const MODEL = 'fixtures/models/tinylm';
const dir = mkdtempSync(join(tmpdir(), 'csattn-faults-'));

const meta: BundleMeta = {
  formatVersion: 1, csattnVersion: 'test',
  model: { fingerprint: 'f', parts: { config: 'a', tokenizer: 'b', tensors: 'c', weights: 'd' }, architecture: 'LlamaForCausalLM', name: 'm' },
  contextIds: [0, 5, 7], template: { kind: 'plain', separator: '\n\n', suffix: '' },
  csa: { ...DEFAULT_CSA, subspaces: 2, centroids: 2 }, kv: 'f16', shape: { layers: 2, heads: 2, kvHeads: 1, headDim: 4, groups: 1, L: 2 },
  stats: {},
};
const SIZES = { k: 24, v: 24, centroids: 32, listIdx: 32, listScore: 16, listLen: 16 };

/** Layer tensors filled with `value`; layer `failAt` runs out of disk on its values. */
function layers(value: number, failAt = -1): (l: number) => LayerTensors {
  return (l) => {
    const t = Object.fromEntries(Object.entries(SIZES).map(([k, n]) => [k, async () => new Uint8Array(n).fill(value)])) as unknown as LayerTensors;
    if (l === failAt) t.v = async () => { throw enospc(); };
    return t;
  };
}

const temps = () => readdirSync(dir).filter((f) => f.includes('.tmp-'));

describe('disk full while writing', () => {
  it('writeBundle: the old bundle stays byte-identical, no temp file remains, one-line CsattnError', async () => {
    const path = join(dir, 'old.csa');
    await writeBundle(path, meta, layers(1));
    const before = readFileSync(path);
    const e = await writeBundle(path, meta, layers(2, 1)).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(CsattnError);
    expect((e as Error).message).toMatch(/^cannot access .*old\.csa: ENOSPC: no space left on device$/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(temps()).toEqual([]);
  });

  it('writeSafetensors with a streaming producer that fails midway', async () => {
    const path = join(dir, 'w.safetensors');
    const entries = [{ name: 'a', dtype: 'F32' as const, shape: [4, 4] }];
    await writeSafetensors(path, entries, {}, () => new Uint8Array(64).fill(7));
    const before = readFileSync(path);
    async function* chunks() { yield new Uint8Array(32); throw enospc(); }
    await expect(writeSafetensors(path, entries, {}, () => chunks())).rejects.toThrow(/no space left on device/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(temps()).toEqual([]);
  });
});

describe('GPU faults', () => {
  it('a lost device fails the next read-back and sync with its error', async () => {
    const gpu = await createGpu();
    const model = await loadModel(gpu, MODEL, { capacity: 16 });
    await model.prefill([0, 585, 5361], 0, { logits: 'none' });
    await model.sync();
    const lost = simulateDeviceLoss(gpu);
    await expect(readBuffer(gpu, model.cache.k[0], 64)).rejects.toBe(lost);
    await expect(model.sync()).rejects.toBe(lost);
    await expect(model.prefill([0, 585], 0, { logits: 'none' })).rejects.toThrow(/GPU device lost: test/);
  });

  it('a buffer larger than the GPU allows is an oom CsattnError naming the size', async () => {
    const gpu = await createGpu();
    const e = await allocate(gpu, gpu.maxBufferSize * 2, 'KV cache of layer 3').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(CsattnError);
    expect((e as CsattnError).kind).toBe('oom');
    expect((e as Error).message).toMatch(/^KV cache of layer 3 needs a [\d.]+ [KMGT]iB buffer; this GPU allows at most [\d.]+ [KMGT]iB$/);
    expect(gpu.memory.current).toBe(0);
  });
});

describe('Ctrl-C', () => {
  it('during prefill leaves no partial bundle and no temp file', async () => {
    const doc = join(dir, 'long.txt');
    writeFileSync(doc, readFileSync('fixtures/heldout/heldout-a.txt', 'utf8').slice(0, 12_000));
    const out = join(dir, 'out.csa');
    const child = spawn('node', ['bin/csattn.js', 'prefill', doc, '-o', out, '--centroids', '4', '--log-level', 'error'], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGINT'), 1500);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on('exit', (c, s) => done([c, s])));
    clearTimeout(timer);
    // Still running at 1.5 s (else the test proves nothing), and stopped by the interrupt: csattn
    // exits 130 through its exit handlers, which remove temp files.
    expect({ code, signal }).toEqual({ code: 130, signal: null });
    expect(existsSync(out)).toBe(false);
    expect(temps()).toEqual([]);
  }, 60_000);
});
