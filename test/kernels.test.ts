/** The kernel source preprocessor: #include pastes shared helpers, #if picks a variant. */
import { describe, expect, it } from 'vitest';
import { expandIncludes, preprocess } from '../src/gpu/kernels.js';

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
