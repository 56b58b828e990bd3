/**
 * Weight matrices and their formats: f16 as the checkpoint gives them, or quantized on the GPU at
 * load in blocks of 32 values along a row: Q8 (llama.cpp's Q8_0: int8 values and an f16 scale a
 * block; wgsl/include/q8.wgsl) or Q4 (llama.cpp's Q4_1 scheme: 4-bit codes, an f16 scale and an f16
 * offset a block; wgsl/include/q4.wgsl). They halve and quarter the bytes a decode step reads from the weights;
 * the products read them directly at decode and expand them to f16 for the tensor cores at prefill.
 */
import { check } from '../errors.js';
import { align, allocate } from '../gpu/device.js';
import { ceilDiv, dispatchOf, kernelParams, record, submit, type Binding, type Dispatch, type Kernels } from '../gpu/kernels.js';
import { flatGrid, partOf, rowParts, type RowPart } from '../gpu/parts.js';

export const WEIGHT_FORMATS = ['f16', 'q8', 'q4'] as const;
export type WeightFormat = (typeof WEIGHT_FORMATS)[number];
export type QuantFormat = Exclude<WeightFormat, 'f16'>;

/** A weight matrix [rows, cols] on the GPU, row-major. */
export type Matrix = { format: 'f16'; data: GPUBuffer } | { format: QuantFormat; data: GPUBuffer; scales: GPUBuffer };

export function f16Matrix(data: GPUBuffer): Matrix {
  return { format: 'f16', data };
}

/** Values per scale. */
const QUANT_BLOCK = 32;

/** Bits of a weight's value in each format, and bytes of a block's scale (and offset). */
const BITS: Record<WeightFormat, number> = { f16: 16, q8: 8, q4: 4 };
const SCALE_BYTES: Record<WeightFormat, number> = { f16: 0, q8: 2, q4: 4 };

/** Bytes a weight takes, scales included. */
export const BYTES_PER_WEIGHT: Record<WeightFormat, number> = {
  f16: 2, q8: 1 + SCALE_BYTES.q8 / QUANT_BLOCK, q4: 0.5 + SCALE_BYTES.q4 / QUANT_BLOCK,
};

/**
 * The format lm_head is held in: q4 models keep it at q8, as llama.cpp's Q4_K_M keeps output.weight
 * at 6 bits (tinylm's perplexity: +4.3% over f16 instead of +5.4%; docs/perf-notes.md). At 8B it
 * reads 0.23 GB more a step, 5% of the q4 weights.
 */
export function lmHeadFormat(format: WeightFormat): WeightFormat {
  return format === 'q4' ? 'q8' : format;
}

/** Bytes of one row of `cols` values in the matrix's data buffer, and in its scales. */
export function rowBytes(format: WeightFormat, cols: number): { data: number; scales: number } {
  return { data: (cols * BITS[format]) / 8, scales: (cols / QUANT_BLOCK) * SCALE_BYTES[format] };
}

/** Quantized rows must be whole blocks; every model shape csattn knows has them. */
function checkQuantShape(format: QuantFormat, cols: number, what: string): void {
  check(cols % QUANT_BLOCK === 0, `${what}: rows of ${cols} values cannot be quantized to ${format} (needs a multiple of ${QUANT_BLOCK}); use --weights f16`, 'shape');
}

/** Row ranges of `m` that each fit one binding (data and scales both aligned), at most maxRows long. */
export function matrixParts(k: Kernels, m: Matrix, rows: number, cols: number, what: string, maxRows = Infinity): RowPart[] {
  const b = rowBytes(m.format, cols);
  return rowParts(k.gpu, rows, b.data, what, { also: b.scales ? [b.scales] : [], maxRows });
}

/** The bindings of one row range of `m`: its data, and its scales when quantized. */
export function partBindings(m: Matrix, part: RowPart, cols: number): { data: Binding; scales?: Binding } {
  const b = rowBytes(m.format, cols);
  // A binding's size is whole words: a range's last scale may share its word with nothing.
  const at = (buffer: GPUBuffer, bytes: number): Binding => ({ buffer, offset: part.row0 * bytes, size: align(part.rows * bytes, 4) });
  return { data: at(m.data, b.data), scales: m.format === 'f16' ? undefined : at(m.scales, b.scales) };
}

/**
 * The `format` matrix of an f16 one [rows, cols] (which is kept: the caller releases it, or not
 * when it is still the embedding of a tied model).
 */
export async function quantize(k: Kernels, format: QuantFormat, src: GPUBuffer, rows: number, cols: number, what: string): Promise<Matrix> {
  checkQuantShape(format, cols, what);
  const gpu = k.gpu;
  const b = rowBytes(format, cols);
  const m: Matrix = {
    format,
    data: await allocate(gpu, b.data * rows, `${what} (${format})`),
    scales: await allocate(gpu, align(b.scales * rows, 4), `${what} (${format} scales)`),
  };
  const kernel = k.get(`quantize_${format}`);
  const ds = rowParts(gpu, rows, 2 * cols, what, { also: [b.data, b.scales] }).map((part) => {
    const q = partBindings(m, part, cols);
    const blocks = (part.rows * cols) / QUANT_BLOCK;
    // quantize_q8 takes two blocks a thread (a u32 of scales), quantize_q4 one.
    const threads = format === 'q8' ? ceilDiv(blocks, 2) : blocks;
    return dispatchOf(kernel, [partOf(src, part), q.data, q.scales!, kernelParams(gpu, [blocks, 0])], flatGrid(gpu, ceilDiv(threads, 256)));
  });
  submit(gpu, (pass) => record(pass, ds));
  return m;
}

export interface DequantizeArgs {
  format: QuantFormat;
  data: Binding; // the values' codes
  scales: Binding; // f16 [values / 32] (q8), f16 (scale, offset) [values / 32] (q4)
  out: Binding; // f16 [values]
  values: number;
}

/** out = the f16 values of quantized data (a row range of a matrix, for the tiled products). */
export function dequantize(k: Kernels, a: DequantizeArgs): Dispatch {
  const words = (a.values * BITS[a.format]) / 32;
  return dispatchOf(k.get(`dequantize_${a.format}`), [a.data, a.scales, a.out, kernelParams(k.gpu, [words])], flatGrid(k.gpu, ceilDiv(words, 256)));
}
