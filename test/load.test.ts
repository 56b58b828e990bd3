/** loadModel: every weight reaches the GPU as its f16 rounding (f32 converted on the CPU, bf16 on the GPU), tensors of several read slices included. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGpu } from '../src/gpu/device.js';
import { readBuffer } from '../src/gpu/kernels.js';
import { expectedTensors, parseConfig } from '../src/model/config.js';
import { loadModel } from '../src/model/load.js';
import type { Matrix } from '../src/ops/quant.js';
import { presetConfig } from '../src/model/synth.js';
import { bf16ToF16, f32ToBF16, f32ToF16 } from '../src/weights/f16.js';
import { writeSafetensors } from '../src/weights/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'csattn-load-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Element i of the tensor with salt s: a hash spread over [-0.5, 0.5). */
const value = (s: number, i: number) => Math.imul(i + s, 2654435761) / 2 ** 32;

describe('loadModel', () => {
  it.each(['F32', 'BF16'] as const)('uploads every tensor as its f16 rounding, a %s embedding of 17.3M elements (two read slices) included', async (dtype) => {
    // 180,000 x 96 elements: past the 16M-element slice, so the second slice reuses a read buffer.
    const config = { ...presetConfig('tiny-llama-tied', 1), vocab_size: 180_000 };
    const at = join(dir, dtype);
    mkdirSync(at);
    writeFileSync(join(at, 'config.json'), JSON.stringify(config));
    const tensors = [...expectedTensors(parseConfig(config, 'test config'))].map(([name, shape], s) => ({ name, shape, dtype, salt: s * 1_000_003 }));
    const values = (t: (typeof tensors)[number]) => Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, (_, i) => value(t.salt, i));
    // What the file holds, and the f16 bits it should become on the GPU.
    const stored = (t: (typeof tensors)[number]) => (dtype === 'F32' ? values(t) : f32ToBF16(values(t)));
    const f16 = (t: (typeof tensors)[number]) => (dtype === 'F32' ? f32ToF16(values(t)) : bf16ToF16(f32ToBF16(values(t))));
    await writeSafetensors(join(at, 'model.safetensors'), tensors, {}, (e) => {
      const v = stored(tensors.find((t) => t.name === e.name)!);
      return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    });
    const model = await loadModel(await createGpu(), at, { capacity: 16 });
    const embed = tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    const want = f16(embed);
    const got = new Uint16Array(await readBuffer(model.gpu, model.weights.embed, want.byteLength));
    let wrong = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) wrong++;
    expect(want.length).toBeGreaterThan(16 << 20);
    expect(wrong).toBe(0);
    const norm = tensors.find((t) => t.name === 'model.norm.weight')!;
    expect(Array.from(new Uint16Array(await readBuffer(model.gpu, model.weights.norm, norm.shape[0] * 2)))).toEqual(Array.from(f16(norm)));
    model.destroy();
  });

  it('refuses a weight of a dtype it does not convert, naming the tensor', async () => {
    const config = presetConfig('tiny-llama-tied', 1);
    const at = join(dir, 'int');
    mkdirSync(at);
    writeFileSync(join(at, 'config.json'), JSON.stringify(config));
    const tensors = [...expectedTensors(parseConfig(config, 'test config'))].map(([name, shape]) => ({ name, shape, dtype: name.includes('norm') ? 'I64' as const : 'F16' as const }));
    await writeSafetensors(join(at, 'model.safetensors'), tensors, {}, (e) => new Uint8Array(e.shape.reduce((a, b) => a * b, 1) * (e.dtype === 'I64' ? 8 : 2)));
    await expect(loadModel(await createGpu(), at, { capacity: 16 })).rejects.toThrow(/norm\.weight in .* is I64; only F32, F16 and BF16 weights are supported/);
  });

  it('q4 weights: the layers\' matrices in q4, lm_head in q8; the decode step\'s byte count is what the buffers hold', async () => {
    const model = await loadModel(await createGpu(), 'fixtures/models/tinylm', { capacity: 16, weights: 'q4' });
    const { vocab: V, hidden: H, intermediate: I } = model.cfg;
    const w = model.weights;
    const bytes = (m: Matrix) => m.data.size + (m.format === 'f16' ? 0 : m.scales.size);
    const matrices = [...w.layers.flatMap((l) => [l.wqkv, l.wo, l.gate, l.up, l.down]), w.lmHead];
    expect(matrices.map((m) => m.format)).toEqual([...new Array(5 * w.layers.length).fill('q4'), 'q8']);
    expect([w.layers[0].gate.data.size, w.lmHead.data.size]).toEqual([(I * H) / 2, V * H]);
    expect(model.weightBytesPerToken()).toBe(matrices.reduce((a, m) => a + bytes(m), 0));
    model.destroy();
  });
});
