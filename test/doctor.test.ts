/**
 * csattn doctor: its report names the paths createGpu chose on this adapter (and the probe kernels
 * of those paths compute right), the adapter's limits, and the webgpu package installed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { DAWN_FLAGS, SUBGROUP_MATRIX, TENSOR_CORE_WORKGROUP_BYTES, createGpu, dawnFlags, tensorCoreGap, type Gpu } from '../src/gpu/device.js';
import { checkF16, checkInt8Dot, doctor, formatDoctor, type DoctorReport } from '../src/doctor.js';
import { f16Modes, gpuContext } from './helpers/gpu.js';
import { Kernels } from '../src/gpu/kernels.js';
import { csattnPiped } from './helpers/cli.js';

let gpu: Gpu;
let report: DoctorReport;

beforeAll(async () => {
  gpu = await createGpu();
  report = await doctor();
});


describe('csattn doctor', () => {
  it('reports the f16 path createGpu chose, checked by a kernel', () => {
    expect(report.f16.chosen).toBe(gpu.f16 ? 'native' : 'packed in u32');
    expect(report.f16.ok).toBe(true);
  });
  it('the f16 probe computes right on both f16 paths', async () => {
    for (const packed of await f16Modes()) {
      const c = await checkF16((await gpuContext(packed)).kernels);
      expect([c.chosen, c.ok]).toEqual([packed ? 'packed in u32' : 'native', true]);
    }
  });
  it('reports subgroups as createGpu chose them, with the size the kernel saw', () => {
    expect(report.subgroups.chosen).toBe(gpu.subgroups ? 'on' : 'off');
    if (gpu.subgroups) {
      expect(report.subgroups.ok).toBe(true);
      const size = Number(/size (\d+)/.exec(report.subgroups.detail)?.[1]);
      expect(size).toBeGreaterThanOrEqual(gpu.adapter.info.subgroupMinSize!);
      expect(size).toBeLessThanOrEqual(gpu.adapter.info.subgroupMaxSize!);
    }
  });
  it('reports tensor cores as createGpu chose them, or why they are off', () => {
    expect(report.tensorCores.chosen).toBe(gpu.tensorCores ? 'on' : 'off');
    if (gpu.tensorCores) expect(report.tensorCores.ok).toBe(true);
    else expect(report.tensorCores.detail).toBe(tensorCoreGap(gpu.adapter));
  });
  it('tensor cores want 16x16x16 f16 matrices, subgroups of 32 and the workgroup memory their kernels take', () => {
    const adapter = (memory: number, features = [SUBGROUP_MATRIX, 'shader-f16'], size = 32) =>
      ({ features: new Set(features), limits: { maxComputeWorkgroupStorageSize: memory }, info: { subgroupMinSize: size, subgroupMaxSize: size } }) as unknown as GPUAdapter;
    expect(tensorCoreGap(adapter(TENSOR_CORE_WORKGROUP_BYTES))).toBeNull();
    expect(tensorCoreGap(adapter(32768))).toBe(`32768 bytes of workgroup memory, not ${TENSOR_CORE_WORKGROUP_BYTES}`);
    expect(tensorCoreGap(adapter(65536, ['shader-f16']))).toBe(`no ${SUBGROUP_MATRIX}`);
    expect(tensorCoreGap(adapter(65536, undefined, 16))).toBe('subgroups of 16-16, not 32');
  });
  it('reports packed int8 products as createGpu chose them, checked by a kernel', async () => {
    expect(report.int8Dot.chosen).toBe(gpu.int8Dot ? 'on' : 'off');
    if (gpu.int8Dot) expect(report.int8Dot.ok).toBe(true);
    const off = await checkInt8Dot(new Kernels({ ...gpu, int8Dot: false }));
    expect(off).toEqual({ chosen: 'off', ok: null, detail: expect.stringMatching(/f32/) });
  });
  it('reports timestamps as createGpu chose them, not quantized', () => {
    expect(report.timestamps.chosen).toBe(gpu.timestamps ? 'on' : 'off');
    if (gpu.timestamps) {
      expect(report.timestamps.ok).toBe(true);
      expect(report.timestamps.detail).toMatch(/^ns resolution/);
    }
  });
  it('reports the device limits and the installed webgpu package', () => {
    for (const [name, value] of Object.entries(report.limits)) expect(value).toBe(gpu.device.limits[name as keyof GPUSupportedLimits]);
    expect(report.limits.maxStorageBufferBindingSize).toBe(gpu.maxBinding);
    expect(report.webgpu).toBe(JSON.parse(readFileSync('node_modules/webgpu/package.json', 'utf8')).version);
    expect(report.adapter.name).toBe(gpu.adapterName);
    expect(report.ok).toBe(true);
  });
  it('prints one line per item', () => {
    const lines = formatDoctor(report).trimEnd().split('\n');
    expect(lines.map((l) => l.split(/\s{2,}/)[0])).toEqual(['adapter', 'webgpu', 'f16', 'subgroups', 'tensor cores', 'int8 products', 'timestamps', ...Object.keys(report.limits)]);
  });
  it('CLI: exits 0 with the report as JSON, nothing on stderr', () => {
    const r = csattnPiped(['doctor', '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const json = JSON.parse(r.stdout) as DoctorReport;
    expect(json.f16.chosen).toBe(report.f16.chosen);
    expect(json.tensorCores.chosen).toBe(report.tensorCores.chosen);
    expect(json.limits).toEqual(report.limits);
  });
  it('CLI: no adapter is one line and exit status 1', () => {
    const r = csattnPiped(['doctor'], { ...process.env, VK_DRIVER_FILES: '/nonexistent.json', VK_ICD_FILENAMES: '/nonexistent.json' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^csattn: no WebGPU adapter found: /)]);
  });
});

describe('Dawn toggles', () => {
  it('CSATTN_DAWN_TOGGLES adds toggles, and a leading - drops one of csattn\'s', () => {
    expect(dawnFlags('')).toEqual(DAWN_FLAGS);
    expect(DAWN_FLAGS[0]).toContain('disable_robustness');
    expect(dawnFlags('skip_validation, dump_shaders')[0]).toBe(`${DAWN_FLAGS[0]},skip_validation,dump_shaders`);
    expect(dawnFlags('-disable_robustness')[0]).toBe('enable-dawn-features=vulkan_enable_f16_on_nvidia,allow_unsafe_apis,use_vulkan_memory_model');
    expect(dawnFlags('-disable_robustness')[1]).toBe(DAWN_FLAGS[1]);
  });
});
