/**
 * The WebGPU device: one adapter, every limit the adapter allows, and the optional features that
 * make kernels faster (shader-f16, subgroups, timestamp-query). GPU errors become exceptions.
 */
import { create, globals } from 'webgpu';
import { CsattnError } from '../errors.js';
import { pollGently, pollMode } from './polling.js';
import type { Logger } from '../log.js';
import { captureStderr } from './stderr.js';

Object.assign(globalThis, globals);

export interface GpuOptions {
  /** Use the packed-u32 f16 path even when the adapter has shader-f16 (tests both paths). */
  packedF16?: boolean;
  /** Skip subgroup kernels even when the adapter offers them. */
  noSubgroups?: boolean;
  /** Skip subgroup-matrix (tensor core) kernels even when the adapter offers them. */
  noTensorCores?: boolean;
  /** Skip packed int8 dot products (dot4I8Packed) even when the WGSL compiler has them. */
  noInt8Dot?: boolean;
  /** Receives, at debug level, what Dawn prints while it looks for adapters. */
  log?: Logger;
}

export interface Gpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  adapterName: string;
  /** Kernels may use native f16 (`enable f16`); otherwise f16 is handled packed in u32. */
  f16: boolean;
  subgroups: boolean;
  /** The smallest subgroup the adapter may run (0 without subgroups): kernels whose lanes share a subgroup need that many. */
  subgroupSize: number;
  /** Subgroup matrices f16 x f16 -> f32 at 16x16x16 in subgroups of 32 (kernels with the MMA define). */
  tensorCores: boolean;
  /** WGSL's packed_4x8_integer_dot_product (dot4I8Packed, pack4xI8): Q8 products in int8. */
  int8Dot: boolean;
  timestamps: boolean;
  /** Largest single storage binding, in bytes. */
  maxBinding: number;
  maxBufferSize: number;
  /** Set once the device is lost or an uncaptured error occurs; checked at every read-back. */
  failure: Error | null;
  /** Bytes in the live buffers made through createBuffer() (every buffer csattn makes), and their high-water mark. */
  memory: GpuMemory;
}

const NO_ADAPTER =
  'no WebGPU adapter found: install a GPU driver with Vulkan support, or Mesa\'s software Vulkan ' +
  '(lavapipe; on Debian 12: `bash scripts/install-lavapipe.sh`)';

/**
 * Dawn toggles, passed by the webgpu package to the instance, the adapter and the device alike
 * (names as in Dawn's src/dawn/native/Toggles.cpp; an unknown name is ignored without a word).
 * f16 on NVIDIA is behind vulkan_enable_f16_on_nvidia; subgroup matrices (tensor cores) need
 * allow_unsafe_apis and the Vulkan memory model (Dawn's default where the driver has it); timestamps
 * are rounded to 65.5 µs unless timestamp_quantization is off. Robustness (bounds checks on every
 * shader access, there to keep web pages from reading other memory) is off: csattn runs its own
 * kernels, each tested against a CPU reference, and webgpu 0.6.2's checks cost a quarter of the
 * decode step (H200, 8B shape at 32K: 9.5-9.8 ms a token with them, 7.5-7.9 without, 7.3-7.8 on
 * webgpu 0.4.0; docs/perf-notes.md).
 */
export const DAWN_FLAGS = [
  'enable-dawn-features=vulkan_enable_f16_on_nvidia,allow_unsafe_apis,use_vulkan_memory_model,disable_robustness',
  'disable-dawn-features=timestamp_quantization',
];

/**
 * csattn's flags changed by `edits` (the CSATTN_DAWN_TOGGLES variable): a comma-separated list of
 * toggles to enable as well, where a name with a leading '-' is dropped from csattn's instead
 * (`-disable_robustness` puts Dawn's bounds checks back).
 */
export function dawnFlags(edits = ''): string[] {
  const names = edits.split(',').map((t) => t.trim()).filter(Boolean);
  const drop = new Set(names.filter((n) => n.startsWith('-')).map((n) => n.slice(1)));
  const [key, list] = DAWN_FLAGS[0].split('=');
  const enabled = [...list.split(',').filter((t) => !drop.has(t)), ...names.filter((n) => !n.startsWith('-'))];
  return [`${key}=${enabled.join(',')}`, ...DAWN_FLAGS.slice(1)];
}

let instance: ReturnType<typeof create> | null = null;

export const SUBGROUP_MATRIX = 'chromium-experimental-subgroup-matrix';

interface MatrixConfig { componentType: string; resultComponentType: string; M: number; N: number; K: number }

/**
 * Workgroup memory the tensor-core kernels may take (matmul_batch_mma's two stages 42 KB; the
 * prefill products' 128 x 128 tiles): what Hopper gives a workgroup through Vulkan, where they run.
 */
export const TENSOR_CORE_WORKGROUP_BYTES = 48 * 1024;

/**
 * Why the kernels' one tensor-core shape is missing, or null when the adapter has it: f16 x f16 ->
 * f32 at 16x16x16, in subgroups of exactly 32 (their thread layout assumes it), with
 * TENSOR_CORE_WORKGROUP_BYTES of workgroup memory. Adapters that do not list their configurations
 * are taken at their word for the feature.
 */
export function tensorCoreGap(adapter: GPUAdapter): string | null {
  if (!adapter.features.has(SUBGROUP_MATRIX)) return `no ${SUBGROUP_MATRIX}`;
  if (!adapter.features.has('shader-f16')) return 'no shader-f16';
  const memory = adapter.limits.maxComputeWorkgroupStorageSize;
  if (memory < TENSOR_CORE_WORKGROUP_BYTES) return `${memory} bytes of workgroup memory, not ${TENSOR_CORE_WORKGROUP_BYTES}`;
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: MatrixConfig[] };
  if (info.subgroupMinSize !== 32 || info.subgroupMaxSize !== 32) return `subgroups of ${info.subgroupMinSize}-${info.subgroupMaxSize}, not 32`;
  const configs = info.subgroupMatrixConfigs;
  const fits = !configs || configs.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16);
  return fits ? null : 'no f16 -> f32 16x16x16 configuration';
}

const ADAPTER_OPTIONS: GPURequestAdapterOptions = { powerPreference: 'high-performance' };

/**
 * The adapter. Dawn enumerates adapters on an instance's first request and prints what it finds
 * odd to stderr; that goes to `log` at debug level instead.
 */
async function requestAdapter(log?: Logger): Promise<GPUAdapter | null> {
  if (instance) return instance.requestAdapter(ADAPTER_OPTIONS);
  const { value, text } = captureStderr(() => {
    instance = create(dawnFlags(process.env.CSATTN_DAWN_TOGGLES));
    return instance.requestAdapter(ADAPTER_OPTIONS);
  });
  for (const line of text.split('\n').filter((l) => l.trim())) log?.debug({ source: 'dawn' }, line);
  return value;
}

export async function createGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const adapter = await requestAdapter(opts.log);
  if (!adapter) throw new CsattnError(NO_ADAPTER, 'no-adapter');
  pollGently(pollMode(adapter));
  const wanted = ['shader-f16', 'subgroups', 'timestamp-query', ...(tensorCoreGap(adapter) ? [] : [SUBGROUP_MATRIX])] as GPUFeatureName[];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  const info = adapter.info;
  const gpu: Gpu = {
    device,
    adapter,
    adapterName: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown',
    f16: device.features.has('shader-f16') && !opts.packedF16,
    subgroups: device.features.has('subgroups') && !opts.noSubgroups,
    subgroupSize: device.features.has('subgroups') && !opts.noSubgroups ? (info.subgroupMinSize ?? 0) : 0,
    tensorCores: device.features.has(SUBGROUP_MATRIX) && device.features.has('shader-f16') && !opts.packedF16 && !opts.noSubgroups && !opts.noTensorCores,
    timestamps: device.features.has('timestamp-query'),
    int8Dot: !!instance?.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') && !opts.noInt8Dot,
    maxBinding: device.limits.maxStorageBufferBindingSize,
    maxBufferSize: device.limits.maxBufferSize,
    failure: null,
    memory: new GpuMemory(),
  };
  device.lost.then((lost) => {
    if (lost.reason !== 'destroyed') gpu.failure ??= new CsattnError(`GPU device lost: ${lost.message || lost.reason}`, 'device-lost');
  });
  device.onuncapturederror = (ev) => recordFailure(gpu, new CsattnError(`GPU error: ${oneLine(ev.error.message)}`, 'gpu'));
  return gpu;
}

/**
 * Keeps the first GPU failure, except that a root cause (a kernel that failed to compile) replaces
 * an error that only says an object "is invalid due to a previous error".
 */
export function recordFailure(gpu: Gpu, err: CsattnError): void {
  if (!gpu.failure || (gpu.failure.message.includes('due to a previous error') && !err.message.includes('due to a previous error'))) gpu.failure = err;
}

/** Dawn's messages span lines (the error, then the objects involved): keep them all, on one line. */
export function oneLine(s: string): string {
  return s.split('\n').map((x) => x.trim()).filter(Boolean).join(' | ');
}

export function firstLine(s: string): string {
  return s.split('\n').find((x) => x.trim())?.trim() ?? s;
}

/** Throws the first recorded GPU failure, if any. */
export function checkGpu(gpu: Gpu): void {
  if (gpu.failure) throw gpu.failure;
}

/**
 * What csattn's GPU buffers hold: every buffer comes from createBuffer(), which counts it, and goes
 * through release() (or destroyGpu()), which uncounts it, so that the peak is the whole footprint
 * (weights, KV cache, scratch, logits, uniforms, staging), as PyTorch's max_memory_allocated is.
 */
export class GpuMemory {
  current = 0;
  peak = 0;
  /** The counted buffers not yet released: a second release of one uncounts nothing. */
  private live = new WeakSet<GPUBuffer>();
  /** When set, buffers made meanwhile are also listed here (oneShot). */
  collect: GPUBuffer[] | null = null;

  add(buffer: GPUBuffer): void {
    this.live.add(buffer);
    this.collect?.push(buffer);
    this.current += buffer.size;
    this.peak = Math.max(this.peak, this.current);
  }

  remove(buffer: GPUBuffer): void {
    if (this.live.delete(buffer)) this.current -= buffer.size;
  }

  /** Whether `buffer` is counted and not yet released. */
  holds(buffer: GPUBuffer): boolean {
    return this.live.has(buffer);
  }

  /** The device is gone, and its buffers with it. */
  clear(): void {
    this.live = new WeakSet();
    this.current = 0;
  }
}

/** The one way csattn makes a GPU buffer: counted in gpu.memory until release(). */
export function createBuffer(gpu: Gpu, descriptor: GPUBufferDescriptor): GPUBuffer {
  const buffer = gpu.device.createBuffer(descriptor);
  gpu.memory.add(buffer);
  return buffer;
}

/** Destroys a buffer made by createBuffer() and uncounts it. */
export function release(gpu: Gpu, buffer: GPUBuffer): void {
  gpu.memory.remove(buffer);
  buffer.destroy();
}

/**
 * Builds work that runs once with `build` (synchronous), submits it with `submit`, then releases
 * every buffer createBuffer() made during the build (its dispatches' params): recorded steps that
 * are replayed keep theirs as long as they live, and one-shot work must not leave them counted.
 * The build must make nothing that outlives the work. WebGPU frees a destroyed buffer only after
 * the submitted work that uses it has finished.
 */
export function oneShot<T>(gpu: Gpu, build: () => T, submit: (work: T) => void): void {
  const made: GPUBuffer[] = [];
  const work = collecting(gpu, made, build);
  try {
    submit(work);
  } finally {
    for (const b of made) release(gpu, b);
  }
}

/**
 * Runs `build` (synchronous), adding every buffer createBuffer() makes meanwhile to `made`; with
 * null, to no list, whatever scope encloses it: for buffers an object makes lazily and keeps.
 */
export function collecting<T>(gpu: Gpu, made: GPUBuffer[] | null, build: () => T): T {
  const outer = gpu.memory.collect;
  gpu.memory.collect = made;
  try {
    return build();
  } finally {
    gpu.memory.collect = outer;
  }
}

/** Destroys the device, and with it every buffer. */
export function destroyGpu(gpu: Gpu): void {
  gpu.device.destroy();
  gpu.memory.clear();
}

/**
 * Allocates a storage buffer, turning an out-of-memory into a CsattnError that says how much was
 * asked for. `what` names the buffer for the message ("KV cache of layer 3").
 */
export async function allocate(gpu: Gpu, size: number, what: string, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC): Promise<GPUBuffer> {
  if (size > gpu.maxBufferSize) throw new CsattnError(`${what} needs a ${fmtBytes(size)} buffer; this GPU allows at most ${fmtBytes(gpu.maxBufferSize)}`, 'oom');
  gpu.device.pushErrorScope('out-of-memory');
  gpu.device.pushErrorScope('validation');
  const buffer = createBuffer(gpu, { size: align(size, 16), usage, label: what });
  const invalid = await gpu.device.popErrorScope();
  const oom = await gpu.device.popErrorScope();
  if (oom || invalid) {
    release(gpu, buffer);
    throw new CsattnError(`not enough GPU memory for ${what} (${fmtBytes(size)}, with ${fmtBytes(gpu.memory.current)} already in use): ${firstLine((oom ?? invalid)!.message)}`, 'oom');
  }
  return buffer;
}

/** `bytes`, if one storage binding can hold them; otherwise an error naming `what` and both sizes. */
export function fitBinding(gpu: Gpu, bytes: number, what: string): number {
  if (bytes > gpu.maxBinding) {
    throw new CsattnError(`${what} needs ${fmtBytes(bytes)}, more than one GPU binding allows (${fmtBytes(gpu.maxBinding)})`, 'oom');
  }
  return bytes;
}

export function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
