/**
 * `csattn doctor`: creates the device as every command does and runs a small kernel on each path
 * csattn chose there (wgsl/doctor_*.wgsl: f16 native or packed, subgroups, tensor cores, packed
 * int8 products, and timestamp queries around a pass), comparing its output with the expected one. Reports the
 * adapter, the webgpu package and Dawn toggles, and the limits csattn's sizes depend on.
 */
import { createRequire } from 'node:module';
import { createBuffer, createGpu, dawnFlags, destroyGpu, fmtBytes, tensorCoreGap, type Gpu } from './gpu/device.js';
import { Kernels, dispatchOf, encodeOps, readBuffer, run, storage, upload } from './gpu/kernels.js';
import { f32ToF16 } from './weights/f16.js';
import type { Logger } from './log.js';

/** A path csattn takes (or not) on this device, and whether its probe kernel computed right. */
export interface Check {
  chosen: string;
  /** null where the path is off (nothing to check). */
  ok: boolean | null;
  detail: string;
}

const LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
] as const;
const BYTE_LIMITS = new Set<string>(['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize']);

export interface DoctorReport {
  adapter: { name: string; description: string; fallback: boolean; subgroupSizes: [number, number] };
  webgpu: string;
  dawnFlags: string[];
  f16: Check;
  subgroups: Check;
  tensorCores: Check;
  int8Dot: Check;
  timestamps: Check;
  limits: Record<(typeof LIMITS)[number], number>;
  ok: boolean;
}

const CHECKS = ['f16', 'subgroups', 'tensorCores', 'int8Dot', 'timestamps'] as const;

export async function doctor(log?: Logger): Promise<DoctorReport> {
  const gpu = await createGpu({ log });
  try {
    const k = new Kernels(gpu);
    const info = gpu.adapter.info;
    const checks = { f16: await checkF16(k), subgroups: await checkSubgroups(k), tensorCores: await checkTensorCores(k), int8Dot: await checkInt8Dot(k), timestamps: await checkTimestamps(k) };
    return {
      adapter: { name: gpu.adapterName, description: info.description, fallback: info.isFallbackAdapter, subgroupSizes: subgroupSizes(gpu) },
      webgpu: createRequire(import.meta.url)('webgpu/package.json').version,
      dawnFlags: dawnFlags(process.env.CSATTN_DAWN_TOGGLES),
      ...checks,
      limits: Object.fromEntries(LIMITS.map((l) => [l, gpu.device.limits[l]])) as DoctorReport['limits'],
      ok: CHECKS.every((c) => checks[c].ok !== false),
    };
  } finally {
    destroyGpu(gpu);
  }
}

function subgroupSizes(gpu: Gpu): [number, number] {
  const info = gpu.adapter.info;
  return [info.subgroupMinSize ?? 0, info.subgroupMaxSize ?? 0];
}

/** The checks whose probe computed wrong. */
export function failedChecks(r: DoctorReport): string[] {
  return CHECKS.filter((c) => r[c].ok === false);
}

/** One line per item. */
export function formatDoctor(r: DoctorReport): string {
  const check = (c: Check) => `${c.chosen}${c.detail ? ` (${c.detail})` : ''}${c.ok === null ? '' : c.ok ? ': ok' : ': FAILED'}`;
  const rows: [string, string][] = [
    ['adapter', `${r.adapter.name}${r.adapter.fallback ? ' (software)' : ''}`],
    ['webgpu', `${r.webgpu} (Dawn), ${r.dawnFlags.join(' ')}`],
    ['f16', check(r.f16)],
    ['subgroups', check(r.subgroups)],
    ['tensor cores', check(r.tensorCores)],
    ['int8 products', check(r.int8Dot)],
    ['timestamps', check(r.timestamps)],
    ...LIMITS.map((l): [string, string] => [l, BYTE_LIMITS.has(l) ? fmtBytes(r.limits[l]) : String(r.limits[l])]),
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return rows.map(([name, value]) => `${name.padEnd(width)}${value}\n`).join('');
}

/** Runs a probe kernel over `inputs` into an output buffer of `outBytes`; returns that output. */
async function probe(k: Kernels, name: string, inputs: ArrayBufferView[], outBytes: number, grid: number, defines: string[] = []): Promise<ArrayBuffer> {
  const out = storage(k.gpu, outBytes);
  run(k.get(name, { defines }), [...inputs.map((x) => upload(k.gpu, x)), out], grid);
  return readBuffer(k.gpu, out, outBytes);
}

// f16 values whose doubles are exact in f16 (no subnormals: a GPU may flush them).
const F16_VALUES = [1.5, -0.25, 1000, 2 ** -10, 0, -2, 3.140625, 16376];

export async function checkF16(k: Kernels): Promise<Check> {
  const x = f32ToF16(F16_VALUES);
  const y = new Uint16Array(await probe(k, 'doctor_f16', [x], x.byteLength, 1));
  const want = f32ToF16(F16_VALUES.map((v) => 2 * v));
  const ok = want.every((w, i) => y[i] === w);
  if (k.gpu.f16) return { chosen: 'native', ok, detail: 'shader-f16' };
  return { chosen: 'packed in u32', ok, detail: k.gpu.adapter.features.has('shader-f16') ? 'shader-f16 turned off' : 'no shader-f16' };
}

async function checkSubgroups(k: Kernels): Promise<Check> {
  if (!k.gpu.subgroups) return { chosen: 'off', ok: null, detail: k.gpu.adapter.features.has('subgroups') ? 'turned off' : 'no subgroups feature' };
  const y = new Uint32Array(await probe(k, 'doctor_subgroups', [], 64 * 8, 1));
  const size = y[0];
  const [min, max] = subgroupSizes(k.gpu);
  const ok = size >= min && size <= max && y.every((v, i) => v === (i % 2 ? Math.min(size, 64) : size));
  return { chosen: 'on', ok, detail: `size ${size}` };
}

async function checkTensorCores(k: Kernels): Promise<Check> {
  if (!k.gpu.tensorCores) return { chosen: 'off', ok: null, detail: tensorCoreGap(k.gpu.adapter) ?? 'turned off' };
  // Small integers: every product and sum is exact in f16 inputs and f32 sums.
  const a = Array.from({ length: 256 }, (_, i) => ((i * 7 + 3) % 7) - 3);
  const b = Array.from({ length: 256 }, (_, i) => ((i * 5 + 1) % 7) - 3);
  const y = new Float32Array(await probe(k, 'doctor_mma', [f32ToF16(a), f32ToF16(b)], 256 * 4, 1, ['MMA']));
  let wrong = 0;
  for (let m = 0; m < 16; m++) {
    for (let n = 0; n < 16; n++) {
      let s = 0;
      for (let kk = 0; kk < 16; kk++) s += a[m * 16 + kk] * b[n * 16 + kk];
      if (y[m * 16 + n] !== s) wrong++;
    }
  }
  return { chosen: 'on', ok: wrong === 0, detail: `f16 x f16 -> f32 at 16x16x16${wrong ? `, ${wrong} of 256 outputs wrong` : ''}` };
}

/** Packed int8 products, as the q8 and q4 matvecs take them (f32 products where WGSL lacks them). */
export async function checkInt8Dot(k: Kernels): Promise<Check> {
  if (!k.gpu.int8Dot) return { chosen: 'off', ok: null, detail: 'no packed_4x8_integer_dot_product in WGSL: q8/q4 products in f32' };
  const a = Int32Array.from({ length: 32 }, (_, i) => ((i * 37) % 255) - 127); // -127..127, both ends
  const b = Int32Array.from({ length: 32 }, (_, i) => ((i * 91 + 5) % 255) - 127);
  const y = new Int32Array(await probe(k, 'doctor_int8', [a, b], 8 * 3 * 4, 1));
  const ok = Array.from({ length: 8 }, (_, i) => {
    const [va, vb] = [a.subarray(4 * i, 4 * i + 4), b.subarray(4 * i, 4 * i + 4)];
    const packed = va.reduce((w, v, j) => w | ((v & 0xff) << (8 * j)), 0);
    return y[3 * i] === va.reduce((s, v, j) => s + v * vb[j], 0) && y[3 * i + 1] === packed && y[3 * i + 2] === va.reduce((s, v) => s + v, 0);
  }).every(Boolean);
  return { chosen: 'on', ok, detail: 'dot4I8Packed for q8/q4 products' };
}

/** A pass of the f16 probe between two timestamps; Dawn rounds them to 2^16 ns unless told not to. */
async function checkTimestamps(k: Kernels): Promise<Check> {
  const gpu = k.gpu;
  if (!gpu.timestamps) return { chosen: 'off', ok: null, detail: 'no timestamp-query' };
  const x = upload(gpu, f32ToF16(F16_VALUES));
  const querySet = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolved = createBuffer(gpu, { size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const enc = gpu.device.createCommandEncoder();
  encodeOps(enc, [dispatchOf(k.get('doctor_f16'), [x, storage(gpu, 16)], 1)], querySet);
  enc.resolveQuerySet(querySet, 0, 2, resolved, 0);
  gpu.device.queue.submit([enc.finish()]);
  const [t0, t1] = new BigUint64Array(await readBuffer(gpu, resolved, 16));
  const quantized = (t0 & 0xffffn) === 0n && (t1 & 0xffffn) === 0n;
  return { chosen: 'on', ok: t1 >= t0 && t1 > 0n, detail: `${quantized ? 'quantized to 65.5 µs' : 'ns resolution'}, a small pass took ${Number(t1 - t0)} ns` };
}
