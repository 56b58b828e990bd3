/**
 * Host-to-GPU copies through a ring of staging buffers that stay allocated. Dawn's writeBuffer and
 * mappedAtCreation take fresh staging memory on every call, which on the H100 machine moves 0.9-1.2 GB/s;
 * two 16 MiB slots reused move 5.2 GB/s (1 GiB, `node scripts/bench/transfer.mjs`). A piece
 * is copied into a mapped slot, the slot is unmapped, copied to its destination on the GPU and mapped
 * again; meanwhile the next piece fills the other slot.
 */
import { align, createBuffer, type Gpu } from './device.js';

const PIECE = 16 << 20;
const SLOTS = 2;

interface Slot { buffer: GPUBuffer; ready: Promise<void> }

export class Uploader {
  private readonly slots: Slot[];
  private turn = 0;
  /** Writes run one after another, whoever calls (two writers must not fill one slot). */
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  /** `pieceBytes`: a multiple of 4 (copies start and end on words). */
  constructor(private readonly gpu: Gpu, readonly pieceBytes = PIECE) {
    if (pieceBytes <= 0 || pieceBytes % 4 !== 0) throw new RangeError(`upload pieces of ${pieceBytes} bytes: not a positive multiple of 4`);
    this.slots = Array.from({ length: SLOTS }, (_, i) => ({
      buffer: createBuffer(gpu, { size: pieceBytes, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true, label: `upload staging ${i}` }),
      ready: Promise.resolve(),
    }));
  }

  /** Copies `data` to `dst` at byte `offset` (a multiple of 4); a tail short of 4 bytes is padded with zeros. */
  write(dst: GPUBuffer, offset: number, data: ArrayBufferView): Promise<void> {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return this.enqueue(dst, offset, bytes.byteLength, (to, at) => to.set(bytes.subarray(at, at + to.byteLength)));
  }

  /** Writes each u16 of `data` as a u32 (f16 bits into the low half of a word the GPU fills in). */
  widen(dst: GPUBuffer, offset: number, data: Uint16Array): Promise<void> {
    return this.enqueue(dst, offset, data.length * 4, (to, at) =>
      new Uint32Array(to.buffer, to.byteOffset, to.byteLength / 4).set(data.subarray(at / 4, (at + to.byteLength) / 4)));
  }

  private enqueue(dst: GPUBuffer, offset: number, size: number, fill: (to: Uint8Array, at: number) => void): Promise<void> {
    if (offset % 4 !== 0 || offset + align(size, 4) > dst.size) {
      return Promise.reject(new RangeError(`upload of ${size} bytes at byte ${offset} of ${dst.label || 'a buffer'} (${dst.size} bytes): off a word or past the end`));
    }
    const run = this.tail.then(() => this.copy(dst, offset, size, fill));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async copy(dst: GPUBuffer, offset: number, size: number, fill: (to: Uint8Array, at: number) => void): Promise<void> {
    for (let at = 0; at < size; at += this.pieceBytes) {
      const n = Math.min(this.pieceBytes, size - at);
      const slot = this.slots[this.turn++ % SLOTS];
      await slot.ready;
      this.check();
      const mapped = new Uint8Array(slot.buffer.getMappedRange(0, align(n, 4)));
      fill(mapped.subarray(0, n), at);
      mapped.fill(0, n);
      slot.buffer.unmap();
      const enc = this.gpu.device.createCommandEncoder();
      enc.copyBufferToBuffer(slot.buffer, 0, dst, offset + at, align(n, 4));
      this.gpu.device.queue.submit([enc.finish()]);
      // Held, not thrown, until the slot's next use: a rejection nobody awaits yet would be unhandled.
      slot.ready = slot.buffer.mapAsync(GPUMapMode.WRITE).catch((e: Error) => { this.failure ??= e; });
    }
  }

  private check(): void {
    const e = this.gpu.failure ?? this.failure;
    if (e) throw e;
  }
}

const shared = new WeakMap<GPUDevice, Uploader>();

/** The device's uploader (made on first use; its 32 MiB of staging live as long as the device). */
export function uploader(gpu: Gpu): Uploader {
  let u = shared.get(gpu.device);
  if (!u) shared.set(gpu.device, (u = new Uploader(gpu)));
  return u;
}
