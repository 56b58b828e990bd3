/** The kernel source preprocessor: #include pastes shared helpers, #if picks a variant. */
import { describe, expect, it } from 'vitest';
import { expandIncludes, preprocess, readRanges } from '../src/gpu/kernels.js';
import { gpuContext, uploadU32 } from './helpers/gpu.js';

describe('kernel preprocessor', () => {
  it('pastes wgsl/include/NAME.wgsl for each #include line, and only for whole lines', () => {
    const read = (file: string) => `<${file}>`;
    expect(expandIncludes('a\n#include thread\nb // #include not\n', read)).toBe('a\n<include/thread.wgsl>\nb // #include not\n');
  });
  it('keeps the #if branch of the defined names and drops the other', () => {
    const src = 'x\n#if F16\nhalf\n#else\nfull\n#endif\n#if !F16\nno16\n#endif\ny';
    expect(preprocess(src, new Set(['F16']))).toBe('x\nhalf\ny');
    expect(preprocess(src, new Set())).toBe('x\nfull\nno16\ny');
  });
  it('refuses nested #if', () => {
    expect(() => preprocess('#if A\n#if B\n#endif\n#endif', new Set())).toThrow(/nested #if/);
  });
});

describe('readRanges', () => {
  it('reads byte ranges of a buffer one after another, sizes not multiples of 4 included', async () => {
    const { gpu } = await gpuContext(true);
    const words = Array.from({ length: 64 }, (_, i) => (i * 0x01010101 + 0x00030201) >>> 0);
    const src = uploadU32(gpu, words);
    const bytes = new Uint8Array(Uint32Array.from(words).buffer);
    const ranges = [{ offset: 8, size: 6 }, { offset: 0, size: 4 }, { offset: 100, size: 13 }, { offset: 40, size: 0 }];
    const got = new Uint8Array(await readRanges(gpu, src, ranges));
    const want = ranges.flatMap((r) => [...bytes.subarray(r.offset, r.offset + r.size)]);
    expect([...got]).toEqual(want);
  });
});
