/**
 * Weight matrices and their formats: f16 as the checkpoint gives them, or Q8 (llama.cpp's Q8_0:
 * int8 values in blocks of 32 along a row, each block with an f16 scale; wgsl/include/q8.wgsl),
 * quantized on the GPU at load. Q8 halves the bytes a decode step reads from the weights; the
 * products read it directly at decode and expand it to f16 for the tensor cores at prefill.
 */
import { check } from '../errors.js';
import { align, allocate } from '../gpu/device.js';
import { ceilDiv, dispatchOf, record, submit, uniform, type Binding, type Dispatch, type Kernels } from '../gpu/kernels.js';
import { flatGrid, partOf, rowParts, type RowPart } from '../gpu/parts.js';

export const WEIGHT_FORMATS = ['f16', 'q8'] as const;
export type WeightFormat = (typeof WEIGHT_FORMATS)[number];

/** A weight matrix [rows, cols] on the GPU, row-major. */
export type Matrix = { format: 'f16'; data: GPUBuffer } | { format: 'q8'; data: GPUBuffer; scales: GPUBuffer };

export function f16Matrix(data: GPUBuffer): Matrix {
  return { format: 'f16', data };
}

/** Values per Q8 scale. */
export const Q8_BLOCK = 32;

/** Bytes a weight takes, scales included. */
export const BYTES_PER_WEIGHT: Record<WeightFormat, number> = { f16: 2, q8: 1 + 2 / Q8_BLOCK };

/** Bytes of one row of `cols` values in the matrix's data buffer, and in its scales. */
export function rowBytes(format: WeightFormat, cols: number): { data: number; scales: number } {
  return format === 'q8' ? { data: cols, scales: (cols / Q8_BLOCK) * 2 } : { data: 2 * cols, scales: 0 };
}

/** Q8 needs rows of whole blocks; every model shape csattn knows has them. */
export function checkQ8Shape(cols: number, what: string): void {
  check(cols % Q8_BLOCK === 0, `${what}: rows of ${cols} values cannot be quantized to q8 (needs a multiple of ${Q8_BLOCK}); use --weights f16`, 'shape');
}

/** Row ranges of `m` that each fit one binding (data and scales both aligned), at most maxRows long. */
export function matrixParts(k: Kernels, m: Matrix, rows: number, cols: number, what: string, maxRows = Infinity): RowPart[] {
  const b = rowBytes(m.format, cols);
  return rowParts(k.gpu, rows, b.data, what, { also: b.scales ? [b.scales] : [], maxRows });
}

/** The bindings of one row range of `m`: its data, and its scales for Q8. */
export function partBindings(m: Matrix, part: RowPart, cols: number): { data: Binding; scales?: Binding } {
  const b = rowBytes(m.format, cols);
  // A binding's size is whole words: a range's last scale may share its word with nothing.
  const at = (buffer: GPUBuffer, bytes: number): Binding => ({ buffer, offset: part.row0 * bytes, size: align(part.rows * bytes, 4) });
  return { data: at(m.data, b.data), scales: m.format === 'q8' ? at(m.scales, b.scales) : undefined };
}

/**
 * The Q8 matrix of an f16 one [rows, cols] (which is kept: the caller releases it, or not when it
 * is still the embedding of a tied model).
 */
export async function quantizeQ8(k: Kernels, src: GPUBuffer, rows: number, cols: number, what: string): Promise<Matrix> {
  checkQ8Shape(cols, what);
  const gpu = k.gpu;
  const m: Matrix = {
    format: 'q8',
    data: await allocate(gpu, rows * cols, `${what} (q8)`),
    scales: await allocate(gpu, align(rowBytes('q8', cols).scales * rows, 4), `${what} (q8 scales)`),
  };
  const kernel = k.get('quantize_q8');
  const b = rowBytes('q8', cols);
  const ds = rowParts(gpu, rows, 2 * cols, what, { also: [b.data, b.scales] }).map((part) => {
    const q = partBindings(m, part, cols);
    const blocks = (part.rows * cols) / Q8_BLOCK;
    return dispatchOf(kernel, [partOf(src, part), q.data, q.scales!, uniform(gpu, [blocks, 0])], flatGrid(gpu, ceilDiv(blocks / 2, 256)));
  });
  submit(gpu, (pass) => record(pass, ds));
  return m;
}

export interface DequantizeArgs {
  data: Binding; // int8 [values]
  scales: Binding; // f16 [values / 32]
  out: Binding; // f16 [values]
  values: number;
}

/** out = the f16 values of Q8 data (a row range of a matrix, for the tiled products). */
export function dequantizeQ8(k: Kernels, a: DequantizeArgs): Dispatch {
  const words = a.values / 4;
  return dispatchOf(k.get('dequantize_q8'), [a.data, a.scales, a.out, uniform(k.gpu, [words])], flatGrid(k.gpu, ceilDiv(words, 256)));
}
