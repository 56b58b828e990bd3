/**
 * Kernels: WGSL files in wgsl/ (one kernel each), compiled on first use, or together ahead of it
 * (Kernels.ready), and cached.
 *
 * A kernel source may use a tiny preprocessor (lines starting with `#if NAME`, `#else`, `#endif`,
 * no nesting; `#include NAME` pastes wgsl/include/NAME.wgsl, whose `#requires` line lists what the
 * kernel must declare) and always gets a prelude that gives it f16 storage helpers:
 *   unpack_h2(u32) -> vec2<f32>   two f16 values packed in one u32
 *   pack_h2(vec2<f32>) -> u32
 * With shader-f16 the prelude enables f16 (define F16) and kernels may use f16 math in `#if F16`
 * sections; without it, f16 stays packed in u32 and is converted with unpack2x16float.
 * SUBGROUPS is defined when the device has subgroups. Numbers that shape a kernel (workgroup
 * size, tile sizes) are WGSL `override` constants, set per pipeline.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { CsattnError } from '../errors.js';
import { align, checkGpu, createBuffer, oneLine, recordFailure, release, type Gpu } from './device.js';

const WGSL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'wgsl');

export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };
export type Grid = number | [number, number?, number?];

export interface KernelOptions {
  /** Extra preprocessor names to define. */
  defines?: string[];
  /** Values of the kernel's `override` constants. */
  constants?: Record<string, number>;
}

/**
 * A compute pipeline, compiled when first needed: synchronously where a bind group or a dispatch
 * asks for it, or in the background by Kernels.ready(), which compiles every kernel requested since
 * in parallel (Dawn compiles async pipelines on worker threads) before the caller encodes them.
 */
export class Kernel {
  private compiled?: GPUComputePipeline;
  private compiling?: Promise<void>;
  private failed?: CsattnError;
  constructor(readonly gpu: Gpu, readonly name: string, private readonly descriptor: GPUComputePipelineDescriptor) {}

  /** The pipeline; throws the background compile's failure instead of compiling it again. */
  get pipeline(): GPUComputePipeline {
    if (this.failed) throw this.failed;
    return (this.compiled ??= compileNow(this.gpu, this.name, this.descriptor));
  }

  /** Compiles the pipeline in the background, once; a failure is recorded (the next read-back throws). */
  compile(): Promise<void> {
    this.compiling ??= this.compiled ? Promise.resolve() : this.gpu.device.createComputePipelineAsync(this.descriptor).then(
      (pipeline) => { this.compiled ??= pipeline; },
      (err: Error) => {
        this.failed = compileFailure(this.name, err.message);
        recordFailure(this.gpu, this.failed);
      },
    );
    return this.compiling;
  }

  /** A bind group over `bindings`, in @binding order 0, 1, 2, … of @group(0). */
  bind(bindings: Binding[]): GPUBindGroup {
    return this.bindAt(bindings.map((b, i) => [i, b]));
  }

  /** A bind group of (binding number, resource) pairs: for variants that use some bindings only. */
  bindAt(entries: [number, Binding][]): GPUBindGroup {
    return this.gpu.device.createBindGroup({
      label: this.name,
      layout: this.pipeline.getBindGroupLayout(0),
      entries: entries.map(([binding, b]) => ({ binding, resource: b instanceof GPUBuffer ? { buffer: b } : b })),
    });
  }

  /** Records one dispatch into `pass`. */
  dispatch(pass: GPUComputePassEncoder, group: GPUBindGroup, grid: Grid): void {
    const [x, y = 1, z = 1] = typeof grid === 'number' ? [grid] : grid;
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(x, y, z);
  }
}

function compileFailure(name: string, message: string): CsattnError {
  return new CsattnError(`kernel ${name} failed to compile: ${oneLine(message)}`, 'gpu');
}

/** Compiles a pipeline now. */
function compileNow(gpu: Gpu, name: string, descriptor: GPUComputePipelineDescriptor): GPUComputePipeline {
  return inErrorScopes(gpu, name, () => gpu.device.createComputePipeline(descriptor));
}

/** Runs `create`, whose errors surface asynchronously: they are recorded, so that the next read-back throws. */
function inErrorScopes<T>(gpu: Gpu, name: string, create: () => T): T {
  const device = gpu.device;
  device.pushErrorScope('internal'); // a driver that rejects the shader is an internal error
  device.pushErrorScope('validation');
  const made = create();
  const report = (err: GPUError | null) => {
    if (err) recordFailure(gpu, compileFailure(name, err.message));
  };
  device.popErrorScope().then(report);
  device.popErrorScope().then(report);
  return made;
}

export class Kernels {
  private cache = new Map<string, Kernel>();
  /** Kernels made since the last ready(). */
  private fresh: Kernel[] = [];
  constructor(readonly gpu: Gpu) {}

  get(name: string, opts: KernelOptions = {}): Kernel {
    const key = `${name}|${(opts.defines ?? []).join(',')}|${JSON.stringify(opts.constants ?? {})}`;
    let k = this.cache.get(key);
    if (!k) {
      k = new Kernel(this.gpu, name, this.descriptor(name, opts));
      this.cache.set(key, k);
      this.fresh.push(k);
    }
    return k;
  }

  /**
   * Compiles every kernel requested since the last call, in parallel: awaited before the first
   * encoding of a new recording, it spreads a cold process's compiles over Dawn's threads (the 32K
   * prefill's first layer on an H100: 3.1 / 2.2 s one after another, 1.6 s together, session 31).
   */
  async ready(): Promise<void> {
    const fresh = this.fresh;
    this.fresh = [];
    await Promise.all(fresh.map((k) => k.compile()));
  }

  private descriptor(name: string, opts: KernelOptions): GPUComputePipelineDescriptor {
    const defines = new Set(opts.defines ?? []);
    if (this.gpu.f16) defines.add('F16');
    if (this.gpu.subgroups) defines.add('SUBGROUPS');
    const module = inErrorScopes(this.gpu, name, () => this.gpu.device.createShaderModule({ code: kernelSource(name, defines), label: name }));
    return { layout: 'auto', compute: { module, entryPoint: 'main', constants: opts.constants }, label: name };
  }
}

/** The WGSL of kernel `name` as Dawn gets it: prelude, includes and #if applied for `defines`. */
export function kernelSource(name: string, defines: Set<string>): string {
  return prelude(defines) + expandSource(`${name}.wgsl`, defines, readWgsl);
}

function readWgsl(file: string): string {
  try {
    return readFileSync(join(WGSL_DIR, file), 'utf8');
  } catch {
    throw new CsattnError(`missing kernel source wgsl/${file}`);
  }
}

interface Include { file: string; text: string; requires: string[] }

/**
 * Kernel `file` with its #if sections applied, and each `#include NAME` line replaced by
 * wgsl/include/NAME.wgsl (preprocessed the same way; includes do not include). An include's
 * `#requires A B` line names what the kernel or its other includes must declare (the include
 * uses them): a missing one is an error naming both files, not a WGSL error deep in pasted code.
 */
export function expandSource(file: string, defines: Set<string>, read: (file: string) => string): string {
  const includes: Include[] = [];
  const text = preprocess(read(file), defines, file).replace(/^#include (\w+)[ \t]*$/gm, (_, name: string) => {
    const inc = requirements(`include/${name}.wgsl`, preprocess(read(`include/${name}.wgsl`), defines, `include/${name}.wgsl`));
    includes.push(inc);
    return inc.text;
  });
  for (const inc of includes) {
    const others = text.replace(inc.text, '');
    const missing = inc.requires.filter((n) => !declares(others, n));
    if (missing.length) throw new CsattnError(`wgsl/${inc.file} requires ${missing.join(', ')}, which wgsl/${file} does not declare`);
  }
  return text;
}

/** An include's text without its `#requires` lines, and the names they list. */
function requirements(file: string, src: string): Include {
  const requires: string[] = [];
  const text = src.replace(/^#requires\s+(.*)$\n?/gm, (_, names: string) => {
    requires.push(...names.trim().split(/\s+/));
    return '';
  });
  return { file, text, requires };
}

function declares(code: string, name: string): boolean {
  return new RegExp(`\\b(const|override|struct|fn|alias|var(<[^>]*>)?)\\s+${name}\\b`).test(code);
}

function prelude(defines: Set<string>): string {
  const lines: string[] = [];
  if (defines.has('F16')) lines.push('enable f16;');
  if (defines.has('SUBGROUPS')) lines.push('enable subgroups;');
  if (defines.has('MMA')) {
    // The uniformity analysis asks matrix operands to be workgroup-uniform; tensor cores need them
    // uniform per subgroup only, which lets the subgroups of a workgroup work on different tiles.
    lines.push('enable chromium_experimental_subgroup_matrix;', 'diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);');
  }
  if (defines.has('F16')) {
    lines.push(
      'fn unpack_h2(x: u32) -> vec2<f32> { return vec2<f32>(bitcast<vec2<f16>>(x)); }',
      'fn pack_h2(v: vec2<f32>) -> u32 { return bitcast<u32>(vec2<f16>(v)); }',
    );
  } else {
    lines.push(
      'fn unpack_h2(x: u32) -> vec2<f32> { return unpack2x16float(x); }',
      'fn pack_h2(v: vec2<f32>) -> u32 { return pack2x16float(v); }',
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * `#if NAME` / `#if !NAME` / `#else` / `#endif`, one level deep. A misplaced or missing directive
 * is a one-line error naming `file` and the line.
 */
export function preprocess(src: string, defines: Set<string>, file = 'kernel'): string {
  const out: string[] = [];
  let open: { line: number; taken: boolean; inElse: boolean } | null = null;
  const fail = (line: number, what: string) => new CsattnError(`wgsl/${file}:${line}: ${what}`);
  for (const [i, text] of src.split('\n').entries()) {
    const t = text.trim();
    const m = /^#if\s+(!?)(\w+)$/.exec(t);
    if (m) {
      if (open) throw fail(i + 1, `nested #if (the #if of line ${open.line} is still open)`);
      open = { line: i + 1, taken: defines.has(m[2]) !== (m[1] === '!'), inElse: false };
    } else if (t === '#else') {
      if (!open || open.inElse) throw fail(i + 1, open ? 'second #else' : '#else without #if');
      open.inElse = true;
    } else if (t === '#endif') {
      if (!open) throw fail(i + 1, '#endif without #if');
      open = null;
    } else if (t.startsWith('#if') || t.startsWith('#el') || t.startsWith('#end')) {
      throw fail(i + 1, `unknown directive ${t}`);
    } else if (!open || open.taken !== open.inElse) {
      out.push(text);
    }
  }
  if (open) throw fail(open.line, '#if without #endif');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Buffers and small helpers shared by every module that talks to the GPU.

export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** A storage buffer holding `data` (padded to 16 bytes). */
export function upload(gpu: Gpu, data: ArrayBufferView, label?: string, usage = STORAGE): GPUBuffer {
  const size = align(Math.max(data.byteLength, 16), 16);
  const buffer = createBuffer(gpu, { size, usage, label, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

export function storage(gpu: Gpu, size: number, label?: string): GPUBuffer {
  return createBuffer(gpu, { size: align(Math.max(size, 16), 16), usage: STORAGE, label });
}

/**
 * A uniform buffer of its own from a list of fields, each 4 bytes: numbers are written as u32 unless
 * wrapped as {f32: x} or {i32: x}. Field order must match the kernel's params struct. For what is
 * written again later (a step's position); a kernel's fixed parameters go to kernelParams().
 */
export type Field = number | { f32: number } | { i32: number };
export function uniform(gpu: Gpu, fields: Field[], label?: string): GPUBuffer {
  const data = packFields(fields);
  return upload(gpu, data, label, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
}

/**
 * A kernel's fixed parameters (fields as uniform()'s) as a binding into a shared chunk of uniform
 * memory, never written again: recording a step binds hundreds of them, and a buffer each took
 * ~50 µs to create, with a staged copy at the next submit (session 30, H100: the batched eval of
 * fixtures/facts.jsonl took 30 s with a buffer each, 12 s with chunks). A chunk belongs to the
 * collecting() scope it was made in (released with that scope's buffers) or, outside any, to the
 * device; a scope's first chunk is small.
 */
export function kernelParams(gpu: Gpu, fields: Field[]): { buffer: GPUBuffer; offset: number; size: number } {
  const data = packFields(fields);
  const chunk = paramChunk(gpu, data.byteLength);
  const offset = chunk.used;
  gpu.device.queue.writeBuffer(chunk.buffer, offset, data.buffer, data.byteOffset, data.byteLength);
  chunk.used = offset + data.byteLength;
  return { buffer: chunk.buffer, offset, size: data.byteLength };
}

interface ParamChunk { buffer: GPUBuffer; used: number }
const FIRST_PARAM_CHUNK_BYTES = 4096;
const PARAM_CHUNK_BYTES = 65536; // the most one uniform binding may span, at least
const paramChunks = new WeakMap<object, ParamChunk>();

/** The current scope's chunk, `used` moved to the next aligned offset, with room for `bytes`: a new one when full or released. */
function paramChunk(gpu: Gpu, bytes: number): ParamChunk {
  const owner = gpu.memory.collect ?? gpu.memory;
  const chunk = paramChunks.get(owner);
  const live = chunk !== undefined && gpu.memory.holds(chunk.buffer); // a scope's list may be released and filled again
  if (live) {
    const at = align(chunk.used, gpu.device.limits.minUniformBufferOffsetAlignment);
    if (at + bytes <= chunk.buffer.size) {
      chunk.used = at;
      return chunk;
    }
  }
  const size = live ? PARAM_CHUNK_BYTES : FIRST_PARAM_CHUNK_BYTES;
  const fresh = { buffer: createBuffer(gpu, { size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'kernel params' }), used: 0 };
  paramChunks.set(owner, fresh);
  return fresh;
}

/**
 * Decode positions, u32 [n]: a step's position (the first) bound as a uniform `Step`, or every
 * sequence's of a batch bound as a storage array (CSA's selection of several sequences at once).
 */
export function positions(gpu: Gpu, values: number[], label?: string): GPUBuffer {
  return upload(gpu, packFields(values), label, POSITIONS);
}

export const POSITIONS = GPUBufferUsage.UNIFORM | GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;

export function packFields(fields: Field[]): Uint32Array {
  const n = align(Math.max(fields.length, 4), 4);
  const view = new DataView(new ArrayBuffer(n * 4));
  fields.forEach((f, i) => {
    if (typeof f === 'number') view.setUint32(i * 4, f, true);
    else if ('f32' in f) view.setFloat32(i * 4, f.f32, true);
    else view.setInt32(i * 4, f.i32, true);
  });
  return new Uint32Array(view.buffer);
}

/** Copies `size` bytes of `src` back to the CPU. Throws any recorded GPU failure. */
export async function readBuffer(gpu: Gpu, src: GPUBuffer, size = src.size, offset = 0): Promise<ArrayBuffer> {
  return readRanges(gpu, src, [{ offset, size }]);
}

/**
 * The byte ranges of `src` one after another, through one staging buffer and one map: a map costs
 * milliseconds of latency whatever its size (reading a KV cache head by head ran at 0.5 GB/s on
 * the H100 machine). Offsets must be multiples of 4.
 */
export async function readRanges(gpu: Gpu, src: GPUBuffer, ranges: { offset: number; size: number }[]): Promise<ArrayBuffer> {
  const at: number[] = [];
  let total = 0;
  for (const r of ranges) {
    at.push(total);
    total += align(r.size, 4);
  }
  const staging = createBuffer(gpu, { size: Math.max(total, 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'read-back staging' });
  try {
    const enc = gpu.device.createCommandEncoder();
    ranges.forEach((r, i) => enc.copyBufferToBuffer(src, r.offset, staging, at[i], align(r.size, 4)));
    gpu.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    checkGpu(gpu);
    const mapped = new Uint8Array(staging.getMappedRange());
    const out = new Uint8Array(ranges.reduce((n, r) => n + r.size, 0));
    let o = 0;
    ranges.forEach((r, i) => {
      out.set(mapped.subarray(at[i], at[i] + r.size), o);
      o += r.size;
    });
    return out.buffer;
  } finally {
    release(gpu, staging);
  }
}

/** Records `record` into one compute pass and submits it. */
export function submit(gpu: Gpu, record: (pass: GPUComputePassEncoder) => void): void {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  record(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}

/** Runs one kernel once: the common case in tests and one-off passes. */
export function run(kernel: Kernel, bindings: Binding[], grid: Grid): void {
  const group = kernel.bind(bindings);
  submit(kernel.gpu, (pass) => kernel.dispatch(pass, group, grid));
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/**
 * One recorded kernel launch: built once, replayed every step. Its bind group is made at its first
 * encoding, so that the kernels of a recording can compile together first (Kernels.ready).
 */
export class Dispatch {
  private group?: GPUBindGroup;
  constructor(readonly kernel: Kernel, private readonly entries: [number, Binding][], readonly grid: Grid) {}

  encode(pass: GPUComputePassEncoder): void {
    this.kernel.dispatch(pass, (this.group ??= this.kernel.bindAt(this.entries)), this.grid);
  }
}

/** A copy between buffers, recorded between compute passes. */
export interface Copy { src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }
/** What a recorded step is made of. */
export type Op = Dispatch | { copy: Copy };

/** `bindings` at binding numbers 0, 1, ...; `at`: more at numbers of their own (a variant's extra bindings). */
export function dispatchOf(kernel: Kernel, bindings: Binding[], grid: Grid, at: [number, Binding][] = []): Dispatch {
  return new Dispatch(kernel, [...bindings.map((b, i): [number, Binding] => [i, b]), ...at], grid);
}

export function record(pass: GPUComputePassEncoder, dispatches: Dispatch[]): void {
  for (const d of dispatches) d.encode(pass);
}

/**
 * Encodes ops as they run in use: each run of dispatches in one compute pass, copies between the
 * passes. With `stamps`, timestamp 0 is written where the list starts and 1 where it ends (the
 * list is then framed by passes, empty ones where it starts or ends with a copy).
 */
export function encodeOps(enc: GPUCommandEncoder, ops: Op[], stamps?: GPUQuerySet): void {
  const runs: Dispatch[][] = [[]];
  const between: Copy[] = [];
  for (const op of ops) {
    if ('copy' in op) {
      between.push(op.copy);
      runs.push([]);
    } else {
      runs[runs.length - 1].push(op);
    }
  }
  runs.forEach((run, i) => {
    const first = i === 0, last = i === runs.length - 1;
    if (run.length || (stamps && (first || last))) {
      const writes = stamps && (first || last)
        ? { timestampWrites: { querySet: stamps, ...(first ? { beginningOfPassWriteIndex: 0 } : {}), ...(last ? { endOfPassWriteIndex: 1 } : {}) } }
        : {};
      const pass = enc.beginComputePass(writes);
      record(pass, run);
      pass.end();
    }
    const c = between[i];
    if (c) enc.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
  });
}
