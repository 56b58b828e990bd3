/**
 * Strict, streaming safetensors: an 8-byte little-endian header length N, N bytes of JSON header,
 * then the data section. Files are read with positional reads only (models reach 16 GB) and checked
 * as strictly as the reference Rust implementation: every byte of the data section belongs to
 * exactly one tensor.
 */
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CsattnError } from '../errors.js';
import { checkInputFile, openOutput, type Output } from '../fsutil.js';
import { bf16ToF16, bf16ToF32, f16ToF32, f32ToF16 } from './f16.js';

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_SIZE: Record<Dtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
  file: string;
}

export interface TensorEntry { name: string; dtype: Dtype; shape: number[] }

const MAX_HEADER = 100_000_000;
/** Node reads and writes at most 2 GiB per call. */
const MAX_IO = 1 << 30;
const INDEX_NAME = 'model.safetensors.index.json';
const SINGLE_NAME = 'model.safetensors';

/** Tensor names come from the file: control characters in them are escaped to keep the message on one line. */
function formatError(file: string, problem: string): CsattnError {
  const oneLine = problem.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return new CsattnError(`${file}: ${oneLine}`, 'format');
}

function ioError(file: string, e: unknown): CsattnError {
  return new CsattnError(`cannot access ${file}: ${(e as Error).message}`, 'io');
}

function isDtype(x: unknown): x is Dtype {
  return typeof x === 'string' && Object.hasOwn(DTYPE_SIZE, x);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Byte length of dtype × shape; throws (via `fail`) on a bad shape or a size past 2^53. */
function tensorBytes(dtype: Dtype, shape: unknown, fail: (problem: string) => CsattnError): number {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  let bytes = DTYPE_SIZE[dtype];
  for (const d of shape as number[]) {
    if (d !== 0 && bytes > Number.MAX_SAFE_INTEGER / d) throw fail(`shape [${shape.join(', ')}] is too large`);
    bytes *= d;
  }
  return bytes;
}

/** Bytes of a tensor entry (dtype × shape). */
export function entryBytes(e: TensorEntry): number {
  return tensorBytes(e.dtype, e.shape, (problem) => new CsattnError(`tensor ${e.name}: ${problem}`, 'format'));
}

function checkMetadata(meta: unknown, fail: (problem: string) => CsattnError): Record<string, string> {
  if (!isPlainObject(meta) || !Object.values(meta).every((v) => typeof v === 'string')) {
    throw fail('__metadata__ is not an object of string values');
  }
  return meta as Record<string, string>;
}

/**
 * f(0), f(1), ..., f(n - 1) in order, each started while the one before is consumed (disk reads
 * run off the main thread, so they overlap the consumer's work). A failure is held until its turn:
 * a read that fails while the consumer is busy, or after it stopped, is no unhandled rejection.
 */
export async function* readAhead<T>(n: number, f: (i: number) => Promise<T>): AsyncGenerator<T> {
  const start = (i: number) => {
    const p = f(i);
    p.catch(() => undefined);
    return p;
  };
  let next = n > 0 ? start(0) : null;
  for (let i = 0; i < n; i++) {
    const cur = await next!;
    next = i + 1 < n ? start(i + 1) : null;
    yield cur;
  }
}

/**
 * Reads exactly `length` bytes at `position` (into `into`, when given, at its start); a short read
 * means the file shrank under us.
 */
async function readExact(fh: FileHandle, file: string, position: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
  const out = into ? into.subarray(0, length) : new Uint8Array(length);
  if (out.byteLength < length) throw new RangeError(`a read of ${length} bytes into ${into!.byteLength}`);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      ({ bytesRead: n } = await fh.read(out, done, Math.min(length - done, MAX_IO), position + done));
    } catch (e) {
      throw ioError(file, e);
    }
    if (n === 0) throw formatError(file, `unexpected end of file at byte ${position + done}`);
    done += n;
  }
  return out;
}

/** Validates a parsed header against a data section of `dataLength` bytes that starts at `dataStart`. */
function parseEntries(file: string, header: Record<string, unknown>, dataStart: number, dataLength: number): Map<string, TensorInfo> {
  const tensors = new Map<string, TensorInfo>();
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const fail = (problem: string) => formatError(file, `tensor ${name}: ${problem}`);
    if (!isPlainObject(entry)) throw fail('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = entry;
    if (dtype === undefined || shape === undefined || offsets === undefined) throw fail('entry needs dtype, shape and data_offsets');
    if (!isDtype(dtype)) throw fail(`unknown dtype ${JSON.stringify(dtype)}`);
    const byteLength = tensorBytes(dtype, shape, fail);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
      || offsets[0] > offsets[1]) {
      throw fail(`data_offsets ${JSON.stringify(offsets)} are not two integers begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end - begin !== byteLength) {
      throw fail(`data_offsets span ${end - begin} bytes but ${dtype} [${(shape as number[]).join(', ')}] needs ${byteLength}`);
    }
    if (end > dataLength) throw fail(`data_offsets [${begin}, ${end}] run past the data section (${dataLength} bytes)`);
    spans.push({ name, begin, end });
    tensors.set(name, { name, dtype, shape: shape as number[], offset: dataStart + begin, byteLength, file });
  }
  checkCoverage(file, spans, dataLength);
  return tensors;
}

/** Sorted by offset, the tensors must tile the data section exactly: no overlap, hole or tail. */
function checkCoverage(file: string, spans: { name: string; begin: number; end: number }[], dataLength: number): void {
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let previous = '';
  for (const { name, begin, end } of spans) {
    if (begin < at) throw formatError(file, `tensors ${previous} and ${name} overlap`);
    if (begin > at) throw formatError(file, `bytes ${at}..${begin} of the data section belong to no tensor`);
    at = end;
    previous = name;
  }
  if (at !== dataLength) throw formatError(file, `${dataLength - at} trailing bytes after the last tensor`);
}

async function readHeader(fh: FileHandle, file: string): Promise<{ header: Record<string, unknown>; dataStart: number; size: number }> {
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (e) {
    throw ioError(file, e);
  }
  if (size < 8) throw formatError(file, `${size} bytes is too short for a safetensors file`);
  const lengthBytes = await readExact(fh, file, 0, 8);
  const n = new DataView(lengthBytes.buffer).getBigUint64(0, true);
  if (n === 0n) throw formatError(file, 'header length is 0');
  if (n > BigInt(MAX_HEADER)) throw formatError(file, `header length ${n} exceeds ${MAX_HEADER} bytes`);
  if (8n + n > BigInt(size)) throw formatError(file, `header length ${n} runs past the end of the file (${size} bytes)`);
  const raw = await readExact(fh, file, 8, Number(n));
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw formatError(file, 'header is not valid UTF-8 JSON');
  }
  if (!isPlainObject(header)) throw formatError(file, 'header is not a JSON object');
  return { header, dataStart: 8 + Number(n), size };
}

/** Bounds of a part of a tensor, checked before any allocation. */
function checkRange(info: TensorInfo, byteOffset: number, byteLength: number): void {
  if (!Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(byteLength) || byteOffset < 0 || byteLength < 0
    || byteOffset + byteLength > info.byteLength) {
    throw new CsattnError(`${info.file}: range ${byteOffset}+${byteLength} is outside tensor ${info.name} (${info.byteLength} bytes)`);
  }
}

export class SafetensorsFile {
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly metadata: Record<string, string>,
    readonly tensors: Map<string, TensorInfo>,
  ) {}

  /** Opens `path` and validates its header; tensor bytes are read on demand. */
  static async open(path: string): Promise<SafetensorsFile> {
    checkInputFile(path, 'safetensors file'); // a FIFO would block open() until a writer comes
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw ioError(path, e);
    }
    try {
      const { header, dataStart, size } = await readHeader(fh, path);
      const metadata = header.__metadata__ === undefined ? {} : checkMetadata(header.__metadata__, (p) => formatError(path, p));
      const tensors = parseEntries(path, header, dataStart, size - dataStart);
      return new SafetensorsFile(fh, path, metadata, tensors);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new CsattnError(`${this.path}: no tensor named ${name}`);
    return info;
  }

  async read(name: string): Promise<Uint8Array> {
    return this.readRange(name, 0, this.info(name).byteLength);
  }

  /** Bytes [byteOffset, byteOffset + byteLength) of a tensor, in `into` when given (reused memory). */
  async readRange(name: string, byteOffset: number, byteLength: number, into?: Uint8Array): Promise<Uint8Array> {
    const info = this.info(name);
    checkRange(info, byteOffset, byteLength);
    return readExact(this.fh, this.path, info.offset + byteOffset, byteLength, into);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** A shard name from an index must be a plain file name inside the model folder. */
function checkShardName(indexPath: string, tensor: string, file: unknown): string {
  if (typeof file !== 'string' || file === '' || file === '.' || file === '..' || /[/\\\0]/.test(file)) {
    throw formatError(indexPath, `weight_map maps ${tensor} to ${JSON.stringify(file)}, which is not a file name in the model folder`);
  }
  return file;
}

async function readIndex(indexPath: string): Promise<Map<string, string>> {
  let index: unknown;
  checkInputFile(indexPath, 'safetensors index');
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (e) {
    throw e instanceof SyntaxError ? formatError(indexPath, 'not valid JSON') : ioError(indexPath, e);
  }
  if (!isPlainObject(index) || !isPlainObject(index.weight_map)) throw formatError(indexPath, 'no weight_map object');
  const map = new Map<string, string>();
  for (const [tensor, file] of Object.entries(index.weight_map)) map.set(tensor, checkShardName(indexPath, tensor, file));
  if (map.size === 0) throw formatError(indexPath, 'weight_map is empty');
  return map;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Opens every file in `paths`, closing those already open if one fails. */
async function openAll(paths: string[]): Promise<SafetensorsFile[]> {
  const opened = await Promise.allSettled(paths.map((p) => SafetensorsFile.open(p)));
  const files = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = opened.find((r) => r.status === 'rejected');
  if (failure) {
    await Promise.all(files.map((f) => f.close()));
    throw (failure as PromiseRejectedResult).reason;
  }
  return files;
}

/** A model folder: model.safetensors, or shards listed in model.safetensors.index.json (weight_map). */
export class SafetensorsModel {
  private constructor(
    private readonly files: Map<string, SafetensorsFile>,
    readonly tensors: Map<string, TensorInfo>,
  ) {}

  static async open(dir: string): Promise<SafetensorsModel> {
    const dirStat = await stat(dir).catch(() => undefined);
    if (!dirStat?.isDirectory()) throw new CsattnError(`model folder ${dir} does not exist`, 'format');
    // transformers prefers the single file when both are present.
    if (await exists(join(dir, SINGLE_NAME))) {
      const file = await SafetensorsFile.open(join(dir, SINGLE_NAME));
      return new SafetensorsModel(new Map([[file.path, file]]), file.tensors);
    }
    const indexPath = join(dir, INDEX_NAME);
    if (!(await exists(indexPath))) throw new CsattnError(`no ${SINGLE_NAME} or ${INDEX_NAME} in ${dir}`, 'format');
    const weightMap = await readIndex(indexPath);
    const shards = await openAll([...new Set(weightMap.values())].map((f) => join(dir, f)));
    const model = new SafetensorsModel(new Map(shards.map((f) => [f.path, f])), new Map());
    for (const [name, shard] of weightMap) {
      const info = model.files.get(join(dir, shard))!.tensors.get(name);
      if (!info) {
        await model.close();
        throw formatError(indexPath, `tensor ${name} is not in its shard ${shard}`);
      }
      model.tensors.set(name, info);
    }
    return model;
  }

  private fileOf(name: string): SafetensorsFile {
    const info = this.tensors.get(name);
    if (!info) throw new CsattnError(`the model has no tensor named ${name}`);
    return this.files.get(info.file)!;
  }

  async read(name: string): Promise<Uint8Array> {
    return this.fileOf(name).read(name);
  }

  async readRange(name: string, byteOffset: number, byteLength: number, into?: Uint8Array): Promise<Uint8Array> {
    return this.fileOf(name).readRange(name, byteOffset, byteLength, into);
  }

  async close(): Promise<void> {
    await Promise.all([...this.files.values()].map((f) => f.close()));
  }
}

/** A typed view of `bytes` (copied first when misaligned); the host is little-endian like the format. */
function view16(bytes: Uint8Array): Uint16Array {
  const b = bytes.byteOffset % 2 ? bytes.slice() : bytes;
  return new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
}

function view32(bytes: Uint8Array): Float32Array {
  const b = bytes.byteOffset % 4 ? bytes.slice() : bytes;
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

/** A tensor's dtype if csattn takes weights in it (F32, F16, BF16); a clear error otherwise. */
export function weightDtype(info: TensorInfo): 'F32' | 'F16' | 'BF16' {
  const { dtype } = info;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
    throw new CsattnError(`tensor ${info.name} in ${info.file} is ${dtype}; only F32, F16 and BF16 weights are supported`, 'format');
  }
  return dtype;
}

/** Checks that `bytes` (all or part of a tensor) hold whole elements of a float dtype we convert. */
function floatDtype(info: TensorInfo, bytes: Uint8Array): 'F32' | 'F16' | 'BF16' {
  const dtype = weightDtype(info);
  if (bytes.byteLength % DTYPE_SIZE[dtype]) {
    throw new CsattnError(`${bytes.byteLength} bytes are not whole ${dtype} elements of tensor ${info.name}`);
  }
  return dtype;
}

/**
 * Converts a tensor's raw bytes (all of it, or a chunk from readRange) to f16 bits, for upload to
 * the GPU. F16 input is returned as a view sharing memory with `bytes` (no copy for 1 GB tensors).
 */
export function toF16(info: TensorInfo, bytes: Uint8Array): Uint16Array {
  switch (floatDtype(info, bytes)) {
    case 'F16': return view16(bytes);
    case 'BF16': return bf16ToF16(view16(bytes));
    case 'F32': return f32ToF16(view32(bytes));
  }
}

/** Same, to f32 (for CPU-side use). F32 input is returned as a view sharing memory with `bytes`. */
export function toF32(info: TensorInfo, bytes: Uint8Array): Float32Array {
  switch (floatDtype(info, bytes)) {
    case 'F16': return f16ToF32(view16(bytes));
    case 'BF16': return bf16ToF32(view16(bytes));
    case 'F32': return view32(bytes);
  }
}

/** The header bytes, padded with spaces to a multiple of 8 like the reference writer, and each entry's size. */
function buildHeader(path: string, entries: TensorEntry[], metadata: Record<string, string>): { header: Uint8Array; sizes: number[] } {
  const fail = (problem: string) => formatError(path, problem);
  const json: Record<string, unknown> = Object.create(null); // so a tensor named __proto__ is just a name
  if (Object.keys(checkMetadata(metadata, fail)).length) json.__metadata__ = metadata;
  const sizes: number[] = [];
  let offset = 0;
  for (const { name, dtype, shape } of entries) {
    if (name === '__metadata__' || Object.hasOwn(json, name)) throw fail(`tensor name ${JSON.stringify(name)} is reserved or repeated`);
    if (!isDtype(dtype)) throw fail(`tensor ${name}: unknown dtype ${JSON.stringify(dtype)}`);
    const size = tensorBytes(dtype, shape, (p) => fail(`tensor ${name}: ${p}`));
    json[name] = { dtype, shape, data_offsets: [offset, offset + size] };
    sizes.push(size);
    offset += size;
  }
  const text = Buffer.from(JSON.stringify(json), 'utf8');
  const header = Buffer.concat([text, Buffer.alloc((8 - (text.byteLength % 8)) % 8, ' ')]);
  return { header, sizes };
}

/** Normalizes what `produce` returned to a stream of chunks. */
async function* chunksOf(produced: Uint8Array | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (produced instanceof Uint8Array) yield produced;
  else yield* produced;
}

/**
 * Streams a safetensors file: header first, then each tensor's bytes from `produce(entry)` (called
 * once per entry, in order, each call once the previous one has resolved and while its bytes are
 * being written; may return the bytes in several chunks through an async iterable so a 1 GB tensor
 * never needs to be in memory at once). Writes through openOutput: a temp file in the same folder,
 * renamed over `path` only when everything was written and fsynced (on any error the temp file is
 * removed and an existing `path` is left untouched), or straight into a device or pipe. Checks each
 * produced length against dtype × shape. Returns the file's size in bytes.
 */
export async function writeSafetensors(
  path: string,
  entries: TensorEntry[],
  metadata: Record<string, string>,
  produce: (e: TensorEntry) => Uint8Array | Promise<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<number> {
  const { header, sizes } = buildHeader(path, entries, metadata);
  let out: Output | undefined;
  try {
    out = await openOutput(path);
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(header.byteLength), true);
    await out.write(prefix);
    await out.write(header);
    // The next entry is produced while this one is written, so producing (a GPU read-back, say)
    // and the disk overlap.
    let i = 0;
    for await (const current of readAhead(entries.length, async (j) => produce(entries[j]))) {
      const entry = entries[i];
      let produced = 0;
      for await (const chunk of chunksOf(current)) {
        if (!(chunk instanceof Uint8Array)) throw formatError(path, `tensor ${entry.name}: produced a chunk that is not a Uint8Array`);
        produced += chunk.byteLength;
        if (produced > sizes[i]) break; // reported below, before anything lands past the tensor
        await out.write(chunk);
      }
      if (produced !== sizes[i]) {
        const got = produced > sizes[i] ? `more than ${sizes[i]}` : `${produced}`;
        throw formatError(path, `tensor ${entry.name}: produced ${got} bytes, but ${entry.dtype} [${entry.shape.join(', ')}] is ${sizes[i]} bytes`);
      }
      i++;
    }
    const done = out;
    out = undefined; // commit cleans up after itself
    await done.commit();
    return 8 + header.byteLength + sizes.reduce((a, b) => a + b, 0);
  } catch (e) {
    await out?.abort();
    // File-system failures become user errors; anything `produce` threw goes back as it was.
    throw (e as NodeJS.ErrnoException).code !== undefined ? ioError(path, e) : e;
  }
}
