/** Kernels: the source preprocessor (#include pastes shared helpers, #if picks a variant), read-backs, compiles ahead of use. */
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { create } from 'webgpu';
import { createGpu, SUBGROUP_MATRIX, type Gpu } from '../src/gpu/device.js';
import { expandSource, kernelSource, Kernels, preprocess, readBuffer, readRanges, record, submit, upload } from '../src/gpu/kernels.js';
import { GpuStopwatch } from '../src/gpu/profile.js';
import { MMA_BATCH_CUT, MMA_CUT } from '../src/ops/attention.js';
import { convertBf16, mmaCut } from '../src/ops/dense.js';
import { bf16ToF16 } from '../src/weights/f16.js';
import { gpuContext, uploadU32 } from './helpers/gpu.js';

describe('kernel preprocessor', () => {
  const files = (map: Record<string, string>) => (file: string) => map[file] ?? `<${file}>`;

  it('pastes wgsl/include/NAME.wgsl for each #include line, and only for whole lines', () => {
    expect(expandSource('k.wgsl', new Set(), files({ 'k.wgsl': 'a\n#include thread\nb // #include not\n' })))
      .toBe('a\n<include/thread.wgsl>\nb // #include not\n');
  });
  it('keeps the #if branch of the defined names and drops the other', () => {
    const src = 'x\n#if F16\nhalf\n#else\nfull\n#endif\n#if !F16\nno16\n#endif\ny';
    expect(preprocess(src, new Set(['F16']))).toBe('x\nhalf\ny');
    expect(preprocess(src, new Set())).toBe('x\nfull\nno16\ny');
  });
  it.each([
    ['#if A\n#if B\n#endif\n#endif', 'wgsl/k.wgsl:2: nested #if (the #if of line 1 is still open)'],
    ['x\n#if A\ny', 'wgsl/k.wgsl:2: #if without #endif'],
    ['x\n#endif', 'wgsl/k.wgsl:2: #endif without #if'],
    ['#else', 'wgsl/k.wgsl:1: #else without #if'],
    ['#if A\n#else\n#else\n#endif', 'wgsl/k.wgsl:3: second #else'],
    ['#ifdef A\n#endif', 'wgsl/k.wgsl:1: unknown directive #ifdef A'],
  ])('refuses %j with a one-line error naming the file and line', (src, message) => {
    expect(() => preprocess(src, new Set(), 'k.wgsl')).toThrow(message);
  });
  it('applies #if in includes too, naming the include in its errors', () => {
    const read = files({ 'k.wgsl': '#include h\n', 'include/h.wgsl': '#if A\na\n#endif\nb' });
    expect(expandSource('k.wgsl', new Set(), read)).toBe('b\n');
    expect(() => expandSource('k.wgsl', new Set(), files({ 'k.wgsl': '#include h', 'include/h.wgsl': '#if A' }))).toThrow('wgsl/include/h.wgsl:1: #if without #endif');
  });
  it("checks an include's #requires against what the kernel declares, and drops the line", () => {
    const include = '#requires WG Thread\nfn f() {}';
    const read = (kernel: string) => files({ 'k.wgsl': kernel, 'include/r.wgsl': include });
    expect(expandSource('k.wgsl', new Set(), read('override WG: u32 = 64;\nstruct Thread { x: u32 }\n#include r'))).toBe('override WG: u32 = 64;\nstruct Thread { x: u32 }\nfn f() {}');
    expect(() => expandSource('k.wgsl', new Set(), read('const WG = 64u;\n#include r'))).toThrow('wgsl/include/r.wgsl requires Thread, which wgsl/k.wgsl does not declare');
  });
  it('every kernel meets its includes\' requirements', () => {
    for (const file of readdirSync('wgsl').filter((f) => f.endsWith('.wgsl'))) {
      for (const defines of [[], ['F16', 'SUBGROUPS'], ['F16', 'SUBGROUPS', 'MMA', 'NORM', 'QK_NORM'], ['F16W'], ['Q8', 'QUANT', 'DOT4'], ['Q4', 'QUANT']]) {
        kernelSource(file.slice(0, -5), new Set(defines));
      }
    }
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

describe('GpuStopwatch', () => {
  it('times spans of queued work in order, and refuses marks out of order or past its spans', async () => {
    const { gpu } = await gpuContext(true);
    const watch = new GpuStopwatch(gpu, 2);
    expect(() => watch.stop()).toThrow(/out of order/);
    watch.start();
    expect(() => watch.start()).toThrow(/out of order/);
    const buf = uploadU32(gpu, Array.from({ length: 1 << 16 }, (_, i) => i));
    gpu.device.queue.writeBuffer(buf, 0, new Uint32Array(1 << 16));
    watch.stop();
    watch.start();
    watch.stop();
    expect(() => watch.start()).toThrow(/past 2 spans/);
    const spans = await watch.spansMs();
    expect(spans).toHaveLength(2);
    for (const ms of spans) expect(ms >= 0 && ms < 10_000).toBe(true);
    watch.destroy();
  });
});

// Dawn's null backend offers subgroup matrices and runs nothing: its shader modules check the WGSL
// (with this webgpu package's Tint) of the tensor-core kernels, which lavapipe cannot compile.
const nullBackend = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
let nullDevice: Promise<GPUDevice> | undefined;

function openNull(): Promise<GPUDevice> {
  return nullBackend.requestAdapter().then((a) => a!.requestDevice({ requiredFeatures: ['shader-f16', 'subgroups', SUBGROUP_MATRIX as GPUFeatureName] }));
}

/** Compiles kernel `name` for `defines` on Dawn's null backend; its compiler's messages. */
async function nullCompile(name: string, defines: string[]): Promise<string[]> {
  const module = (await (nullDevice ??= openNull())).createShaderModule({ code: kernelSource(name, new Set(defines)) });
  const { messages } = await module.getCompilationInfo();
  return messages.map((m) => `${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`);
}

describe("kernels of the shared reduction on Dawn's null backend", () => {
  const variants: [string, string[]][] = [
    ['rmsnorm', []], ['halves', ['NORM']], ['rope_kv', ['QK_NORM']], ['rope_kv', ['QK_NORM', 'KV_Q8']], ['sample', []], ['attention_reduce', []],
    ['attention_decode', ['VEC4', 'KV_Q8', 'SPARSE']], ['attention_decode', ['VEC4', 'F16X8', 'DENSE']], ['attention_decode', ['SPARSE']], ['attention_decode', ['VEC4', 'KV_Q8', 'OWN']], ['dequantize_kv', []],
    ['matvec', ['F16W', 'NORM']], ['matvec', ['F16W', 'SWIGLU', 'EXTRA']],
    ['matvec', ['Q8', 'QUANT', 'DOT4', 'NORM']], ['matvec', ['Q8', 'QUANT', 'QUANT_SWIGLU', 'SWIGLU', 'EXTRA']],
    ['matvec', ['Q4', 'QUANT', 'QUANT_SWIGLU', 'SWIGLU', 'EXTRA', 'DOT4']], ['matvec', ['Q4', 'QUANT', 'NORM']],
  ];
  it.each(variants)('%s %j compiles without a message, with and without subgroups and f16', async (name, defines) => {
    expect(await nullCompile(name, defines)).toEqual([]);
    expect(await nullCompile(name, ['F16', 'SUBGROUPS', ...defines])).toEqual([]);
  });
});

describe("tensor-core kernels on Dawn's null backend", () => {
  const variants: [string, string[]][] = [
    ['matmul_mma', []], ['matmul_mma', ['SWIGLU', 'EXTRA']], ['matmul_mma', ['BIAS', 'EXTRA', 'ACCUMULATE']],
    ['attention_prefill_mma', []], ['attention_prefill_mma', ['BATCH']], ['attention_prefill_mma', ['BATCH', 'UNION']], ['doctor_mma', []],
    ['matmul_batch_mma', ['X_HALVES']], ['matmul_batch_mma', ['X_HALVES', 'SWIGLU', 'EXTRA']], ['matmul_batch_mma', ['X_HALVES', 'BIAS', 'EXTRA', 'ACCUMULATE']],
  ];
  // No message at all: a deprecated builtin is a warning, which Dawn prints to stdout.
  it.each(variants)('%s %j compiles without a message', async (name, defines) => {
    expect(await nullCompile(name, ['F16', 'SUBGROUPS', 'MMA', ...defines])).toEqual([]);
  });
  // The cuts' override constants as the host passes them: each must be one the kernel declares
  // (the null adapter's 16 KB of workgroup memory may refuse the larger cuts, which is no error here).
  const cuts: [string, string[], Record<string, number>][] = [
    ['attention_prefill_mma', [], { HPW: 4, D: 128, ...MMA_CUT }], ['attention_prefill_mma', ['BATCH'], { D: 128, ...MMA_BATCH_CUT }],
    ['attention_prefill_mma', ['BATCH', 'UNION'], { D: 128, ...MMA_BATCH_CUT }],
    ...[64, 2048].flatMap((T): [string, string[], Record<string, number>][] => [
      ['matmul_mma', [], mmaCut(T, false).constants], ['matmul_mma', ['SWIGLU', 'EXTRA'], mmaCut(T, true).constants]]),
  ];
  it.each(cuts)('%s %j takes the constants %j', async (name, defines, constants) => {
    const device = await (nullDevice ??= openNull());
    const module = device.createShaderModule({ code: kernelSource(name, new Set(['F16', 'SUBGROUPS', 'MMA', ...defines])) });
    device.pushErrorScope('validation');
    device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main', constants } });
    const error = await device.popErrorScope();
    expect(error?.message ?? '').toMatch(/^$|workgroup storage/);
  });
});

describe('Kernels.ready', () => {
  /** A device of its own whose pipeline creations are counted. */
  async function counted() {
    const gpu = await createGpu({ packedF16: true });
    const calls = { sync: 0, async: 0 };
    const device = gpu.device;
    const now = device.createComputePipeline.bind(device);
    const later = device.createComputePipelineAsync.bind(device);
    device.createComputePipeline = (d: GPUComputePipelineDescriptor) => (calls.sync++, now(d));
    device.createComputePipelineAsync = (d: GPUComputePipelineDescriptor) => (calls.async++, later(d));
    return { gpu, k: new Kernels(gpu), calls };
  }
  const bf16 = Uint16Array.from({ length: 2048 }, (_, i) => (i * 37) & 0xffff);

  /** The bf16 -> f16 conversion's dispatches over a buffer of `bf16`, and a run of them that reads the result. */
  function conversion(gpu: Gpu, k: Kernels) {
    const data = upload(gpu, bf16);
    const ds = convertBf16(k, { data, n: bf16.length });
    return async () => {
      submit(gpu, (pass) => record(pass, ds));
      return [...new Uint16Array(await readBuffer(gpu, data, bf16.byteLength))];
    };
  }

  it('compiles the kernels asked for since in the background; their dispatches bind when first encoded', async () => {
    const { gpu, k, calls } = await counted();
    const run = conversion(gpu, k);
    expect(calls).toEqual({ sync: 0, async: 0 }); // nothing compiled or bound while recording
    await k.ready();
    expect(calls).toEqual({ sync: 0, async: 1 });
    expect(await run()).toEqual([...bf16ToF16(bf16)]);
    await k.ready(); // nothing new
    expect(calls).toEqual({ sync: 0, async: 1 });
    gpu.device.destroy();
  });

  it('reports a failed background compile once, at the first encoding, without compiling again', async () => {
    const { gpu, k, calls } = await counted();
    gpu.device.createComputePipelineAsync = () => (calls.async++, Promise.reject(new Error('driver said no\nat line 1')));
    const run = conversion(gpu, k);
    await k.ready();
    await expect(run()).rejects.toThrow(/^kernel convert_bf16 failed to compile: driver said no \| at line 1$/);
    expect(calls).toEqual({ sync: 0, async: 1 });
    gpu.device.destroy();
  });

  it('compiles a kernel at its first encoding when nobody awaited ready()', async () => {
    const { gpu, k, calls } = await counted();
    expect(await conversion(gpu, k)()).toEqual([...bf16ToF16(bf16)]);
    expect(calls).toEqual({ sync: 1, async: 0 });
    gpu.device.destroy();
  });
});
