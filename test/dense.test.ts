import { it } from 'vitest';
import { createGpu } from '../src/gpu/device.js';
it('probe', async () => {
  const g = await createGpu();
  const l = g.device.limits;
  console.log(g.adapterName, g.f16, g.subgroups, g.maxBinding, l.minStorageBufferOffsetAlignment, l.maxComputeWorkgroupStorageSize, l.maxComputeInvocationsPerWorkgroup, l.maxStorageBuffersPerShaderStage, (g.device as any).adapterInfo?.subgroupMinSize);
});
