/**
 * Work larger than one binding or one grid dimension: row ranges of a tensor that each fit a
 * binding window, and grids past the per-dimension workgroup limit.
 */
import { check } from '../errors.js';
import { fmtBytes, type Gpu } from './device.js';
import { ceilDiv, type Binding, type Grid } from './kernels.js';

/** A range of rows of a row-major tensor, as a binding window of its buffer. */
export interface RowPart {
  row0: number;
  rows: number;
  offset: number;
  size: number;
  /** Rows at the start that belong to the range before (a range widened to a kernel's fewest rows). */
  skip?: number;
}

/**
 * Splits a row-major tensor of `rows` rows of `rowBytes` bytes into row ranges that each fit one
 * binding (gpu.maxBinding) and start at an offset the device accepts as a binding offset; with
 * `also`, the same rows of tensors of those row sizes (a matrix's scales) start aligned too, and
 * no range is longer than `maxRows`.
 */
export function rowParts(gpu: Gpu, rows: number, rowBytes: number, what: string, o: { also?: number[]; maxRows?: number } = {}): RowPart[] {
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const fit = Math.min(gpu.maxBinding / rowBytes, o.maxRows ?? Infinity);
  if (rows <= fit) return [{ row0: 0, rows, offset: 0, size: rows * rowBytes }];
  const unit = [rowBytes, ...(o.also ?? [])].reduce((u, b) => lcm(u, align / gcd(b, align)), 1); // rows between aligned offsets
  const perPart = Math.floor(fit / unit) * unit;
  check(perPart > 0, `${what}: ${unit} rows of ${fmtBytes(rowBytes)} exceed one GPU binding (${fmtBytes(gpu.maxBinding)})`);
  const parts: RowPart[] = [];
  for (let row0 = 0; row0 < rows; row0 += perPart) {
    const n = Math.min(perPart, rows - row0);
    parts.push({ row0, rows: n, offset: row0 * rowBytes, size: n * rowBytes });
  }
  return parts;
}

/**
 * A row range widened back to at least `rows` rows where it is shorter (a last range), starting at a
 * row whose offset the device accepts: `skip` says how many rows before its own it now binds (the
 * range before it has them).
 */
export function widened(gpu: Gpu, part: RowPart, rows: number, rowBytes: number): RowPart {
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const unit = align / gcd(rowBytes, align);
  const skip = part.rows >= rows ? 0 : Math.ceil((rows - part.rows) / unit) * unit;
  check(skip <= part.row0, `a range of ${part.rows} rows cannot be widened to ${rows}`);
  return { row0: part.row0 - skip, rows: part.rows + skip, offset: part.offset - skip * rowBytes, size: part.size + skip * rowBytes, skip };
}

export function partOf(buffer: GPUBuffer, part: RowPart): Binding {
  return { buffer, offset: part.offset, size: part.size };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

export function maxGroups(gpu: Gpu): number {
  return gpu.device.limits.maxComputeWorkgroupsPerDimension;
}

/** `groups` workgroups as an [x, y] grid within the per-dimension limit; kernels use x + y · nx. */
export function flatGrid(gpu: Gpu, groups: number): Grid {
  const x = Math.min(groups, maxGroups(gpu));
  return [x, ceilDiv(groups, x)];
}
