// Host-to-GPU upload paths, 1 GiB each into 128 MiB buffers: Dawn's writeBuffer, buffers mapped at
// creation (upload()), and the staging ring (Uploader) at three piece sizes. Run after the build:
//   node scripts/bench/upload.mjs
import { createGpu } from '../../dist/gpu/device.js';
import { upload } from '../../dist/gpu/kernels.js';
import { Uploader } from '../../dist/gpu/uploader.js';

const gpu = await createGpu();
const d = gpu.device;
const MB = 1 << 20, PART = 128 * MB, TOTAL = 1024 * MB;
const src = new Uint8Array(PART).map((_, i) => i);
const target = () => d.createBuffer({ size: PART, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });

async function time(label, fill) {
  await d.queue.onSubmittedWorkDone();
  const t = performance.now();
  const made = [];
  for (let o = 0; o < TOTAL; o += PART) made.push(await fill());
  await d.queue.onSubmittedWorkDone();
  const ms = performance.now() - t;
  console.log(`${label.padEnd(36)} ${ms.toFixed(0).padStart(6)} ms  ${(TOTAL / ms / 1e6).toFixed(2)} GB/s`);
  for (const b of made) b.destroy();
}

console.log(`${gpu.adapterName}: 1 GiB host -> GPU`);
await time('writeBuffer, one call per 128 MiB', () => { const b = target(); d.queue.writeBuffer(b, 0, src); return b; });
await time('writeBuffer, 8 MiB calls', () => {
  const b = target();
  for (let c = 0; c < PART; c += 8 * MB) d.queue.writeBuffer(b, c, src.buffer, c, 8 * MB);
  return b;
});
await time('mapped at creation (upload())', () => upload(gpu, src));
for (const piece of [4, 16, 64]) {
  const up = new Uploader(gpu, piece * MB);
  await time(`Uploader, two ${piece} MiB slots`, async () => { const b = target(); await up.write(b, 0, src); return b; });
}
process.exit(0);
