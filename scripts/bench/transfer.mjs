// Host <-> GPU transfer paths, 1 GiB each way in 128 MiB buffers. Uploads: Dawn's writeBuffer,
// buffers mapped at creation (upload()), and the staging ring (Uploader) at three piece sizes.
// Read-backs: readBuffer (a fresh staging buffer per call) and a ring of two reused MAP_READ
// buffers, the same idea as Uploader's. Run after the build:
//   node scripts/bench/transfer.mjs
import { createGpu } from '../../dist/gpu/device.js';
import { readBuffer, upload } from '../../dist/gpu/kernels.js';
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

const src2 = d.createBuffer({ size: PART, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
d.queue.writeBuffer(src2, 0, src);
async function timeRead(label, read) {
  await d.queue.onSubmittedWorkDone();
  const t = performance.now();
  for (let o = 0; o < TOTAL; o += PART) await read();
  const ms = performance.now() - t;
  console.log(`${label.padEnd(36)} ${ms.toFixed(0).padStart(6)} ms  ${(TOTAL / ms / 1e6).toFixed(2)} GB/s`);
}
console.log('1 GiB GPU -> host');
await timeRead('readBuffer, one call per 128 MiB', () => readBuffer(gpu, src2, PART));
for (const piece of [4, 16]) {
  const slots = [0, 1].map(() => d.createBuffer({ size: piece * MB, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  await timeRead(`ring of two ${piece} MiB slots`, async () => {
    const out = new Uint8Array(PART);
    const pending = [null, null];
    const drain = async (j) => {
      await pending[j].mapped;
      out.set(new Uint8Array(slots[j].getMappedRange()), pending[j].at);
      slots[j].unmap();
    };
    for (let at = 0, i = 0; at < PART; at += piece * MB, i++) {
      if (pending[i % 2]) await drain(i % 2);
      const enc = d.createCommandEncoder();
      enc.copyBufferToBuffer(src2, at, slots[i % 2], 0, piece * MB);
      d.queue.submit([enc.finish()]);
      pending[i % 2] = { mapped: slots[i % 2].mapAsync(GPUMapMode.READ), at };
    }
    for (const j of [0, 1]) if (pending[j]) await drain(j);
  });
}
process.exit(0);
