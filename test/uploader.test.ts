/** Host-to-GPU copies through the staging ring, against the bytes written. */
import { describe, expect, it } from 'vitest';
import { readBuffer, storage } from '../src/gpu/kernels.js';
import { Uploader } from '../src/gpu/uploader.js';
import { gpuContext, prng } from './helpers/gpu.js';

const PIECE = 64; // bytes: every write below spans several pieces and both slots, many times over

function randomBytes(n: number, seed: number): Uint8Array {
  const next = prng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
}

describe('Uploader', () => {
  it('writes data of any length at an offset in pieces, padding a short tail with zeros', async () => {
    const { gpu } = await gpuContext(true);
    const up = new Uploader(gpu, PIECE);
    const dst = storage(gpu, 1024);
    const before = randomBytes(1024, 1);
    await up.write(dst, 0, before);
    const data = randomBytes(333, 2); // 5 pieces and a tail of 13 bytes
    await up.write(dst, 100, data);
    const got = new Uint8Array(await readBuffer(gpu, dst, 1024));
    const want = before.slice();
    want.set(data, 100);
    want.fill(0, 433, 436);
    expect([...got]).toEqual([...want]);
  });

  it('widens u16 values to u32 words', async () => {
    const { gpu } = await gpuContext(true);
    const up = new Uploader(gpu, PIECE);
    const values = Uint16Array.from({ length: 301 }, (_, i) => (i * 977 + 5) & 0xffff);
    const dst = storage(gpu, 8 + values.length * 4);
    await up.widen(dst, 8, values);
    expect([...new Uint32Array(await readBuffer(gpu, dst, values.length * 4, 8))]).toEqual([...values]);
  });

  it('writes started together land in order without waiting for each other', async () => {
    const { gpu } = await gpuContext(true);
    const up = new Uploader(gpu, PIECE);
    const dst = storage(gpu, 512);
    const parts = [0, 1, 2, 3].map((i) => randomBytes(128, 10 + i));
    const overlap = randomBytes(64, 20); // written last, over the middle of parts 1 and 2
    await Promise.all([...parts.map((p, i) => up.write(dst, i * 128, p)), up.write(dst, 224, overlap)]);
    const want = new Uint8Array(512);
    parts.forEach((p, i) => want.set(p, i * 128));
    want.set(overlap, 224);
    expect([...new Uint8Array(await readBuffer(gpu, dst, 512))]).toEqual([...want]);
  });

  it('refuses a write that does not fit its buffer or starts off a word', async () => {
    const { gpu } = await gpuContext(true);
    const up = new Uploader(gpu, PIECE);
    const dst = storage(gpu, 64);
    await expect(up.write(dst, 2, new Uint8Array(4))).rejects.toThrow(/off a word or past the end/);
    await expect(up.write(dst, 60, new Uint8Array(5))).rejects.toThrow(/off a word or past the end/);
    await up.write(dst, 60, new Uint8Array(4).fill(7)); // the ring goes on after a refusal
    expect([...new Uint8Array(await readBuffer(gpu, dst, 4, 60))]).toEqual([7, 7, 7, 7]);
    expect(() => new Uploader(gpu, 62)).toThrow(/not a positive multiple of 4/);
  });
});
