import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CsattnError } from '../src/errors.js';
import {
  readAhead,
  SafetensorsFile, SafetensorsModel, toF16, toF32, writeSafetensors, type TensorEntry, type TensorInfo,
} from '../src/weights/safetensors.js';

const dir = await mkdtemp(join(tmpdir(), 'csattn-st-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

let fileCounter = 0;
const tmpPath = (name = 'f') => join(dir, `${name}-${fileCounter++}.safetensors`);

/** A safetensors file built by hand: length prefix, header text (unpadded) and data. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const text = typeof header === 'string' ? Buffer.from(header) : Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength ?? BigInt(text.length));
  return Buffer.concat([prefix, text, data]);
}

async function craftFile(bytes: Uint8Array): Promise<string> {
  const path = tmpPath('crafted');
  await writeFile(path, bytes);
  return path;
}

/** Expects opening `bytes` as a safetensors file to fail with a format error naming the file and matching `problem`. */
async function expectFormatError(bytes: Uint8Array, problem: RegExp): Promise<void> {
  const path = await craftFile(bytes);
  const err = await SafetensorsFile.open(path).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CsattnError);
  expect((err as CsattnError).kind).toBe('format');
  expect((err as CsattnError).message).toContain(path);
  expect((err as CsattnError).message).toMatch(problem);
  expect((err as CsattnError).message).not.toContain('\n');
}

const f32Entry = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
const bytesOf = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 255);

/** The test's own header parser: enough to locate a tensor's bytes in a file it reads whole. */
function parseRaw(file: Uint8Array): { header: Record<string, any>; dataStart: number } {
  const n = Number(Buffer.from(file).readBigUInt64LE(0));
  return { header: JSON.parse(Buffer.from(file.subarray(8, 8 + n)).toString('utf8')), dataStart: 8 + n };
}

describe('writeSafetensors -> SafetensorsFile round trip', () => {
  const entries: TensorEntry[] = [
    { name: 'a.f32', dtype: 'F32', shape: [2, 3] },
    { name: 'b.f16', dtype: 'F16', shape: [5] },
    { name: 'c.bf16', dtype: 'BF16', shape: [2, 2, 1] },
    { name: 'd.i64', dtype: 'I64', shape: [3] },
    { name: 'e.empty', dtype: 'F32', shape: [0, 4] },
    { name: 'f.u8', dtype: 'U8', shape: [7] },
    { name: 'g.bool', dtype: 'BOOL', shape: [] },
    { name: 'h.f64', dtype: 'F64', shape: [1, 2] },
  ];
  const sizes = [24, 10, 8, 24, 0, 7, 1, 16];
  const data = entries.map((_, i) => bytesOf(sizes[i], i));
  const metadata = { format: 'pt', note: 'ünïcode ✓' };

  it('reads back names, dtypes, shapes, metadata and bytes', async () => {
    const path = tmpPath('roundtrip');
    // Every form produce may take: bytes, a promise, and chunks through an async iterable.
    await writeSafetensors(path, entries, metadata, (e) => {
      const i = entries.indexOf(e);
      if (i % 3 === 0) return data[i];
      if (i % 3 === 1) return Promise.resolve(data[i]);
      return (async function* () {
        for (let k = 0; k < data[i].length; k += 3) yield data[i].subarray(k, k + 3);
      })();
    });
    const f = await SafetensorsFile.open(path);
    try {
      expect(f.metadata).toEqual(metadata);
      expect([...f.tensors.keys()]).toEqual(entries.map((e) => e.name));
      for (const [i, e] of entries.entries()) {
        const info = f.tensors.get(e.name)!;
        expect([info.dtype, info.shape, info.byteLength, info.file]).toEqual([e.dtype, e.shape, sizes[i], path]);
        expect(await f.read(e.name)).toEqual(data[i]);
      }
      expect(await f.readRange('a.f32', 5, 10)).toEqual(data[0].subarray(5, 15));
      expect(await f.readRange('a.f32', 24, 0)).toEqual(new Uint8Array(0));
      await expect(f.readRange('a.f32', 20, 5)).rejects.toThrow(CsattnError);
      await expect(f.readRange('a.f32', -1, 2)).rejects.toThrow(CsattnError);
      await expect(f.read('nope')).rejects.toThrow(/no tensor named nope/);
    } finally {
      await f.close();
    }

    // The raw file: space-padded header of a multiple of 8 bytes, data packed in entry order.
    const raw = await readFile(path);
    const { header, dataStart } = parseRaw(raw);
    expect((dataStart - 8) % 8).toBe(0);
    const text = raw.subarray(8, dataStart).toString('utf8');
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    expect(header.__metadata__).toEqual(metadata);
    expect(raw.length).toBe(dataStart + sizes.reduce((a, b) => a + b));
    expect(raw.subarray(dataStart + header['d.i64'].data_offsets[0], dataStart + header['d.i64'].data_offsets[1])).toEqual(Buffer.from(data[3]));
  });

  it('omits __metadata__ when there is none, and reads it back as {}', async () => {
    const path = tmpPath('nometa');
    await writeSafetensors(path, [entries[0]], {}, () => data[0]);
    expect(parseRaw(await readFile(path)).header.__metadata__).toBeUndefined();
    const f = await SafetensorsFile.open(path);
    expect(f.metadata).toEqual({});
    await f.close();
  });

  it('rejects repeated names, reserved names, non-string metadata and bad shapes before writing', async () => {
    const path = tmpPath('bad');
    const cases: [TensorEntry[], Record<string, string>, RegExp][] = [
      [[entries[0], entries[0]], {}, /repeated/],
      [[{ ...entries[0], name: '__metadata__' }], {}, /reserved/],
      [[entries[0]], { n: 1 as unknown as string }, /__metadata__/],
      [[{ ...entries[0], shape: [2, -1] }], {}, /shape/],
      [[{ ...entries[0], dtype: 'F8' as 'F32' }], {}, /unknown dtype/],
    ];
    for (const [es, meta, problem] of cases) {
      await expect(writeSafetensors(path, es, meta, () => new Uint8Array(24))).rejects.toThrow(problem);
    }
    expect((await readdir(dir)).filter((f) => f.startsWith('bad'))).toEqual([]);
  });
});

describe('writer failures leave no temp file and keep the old file', () => {
  const entries: TensorEntry[] = [
    { name: 'x', dtype: 'F32', shape: [4] },
    { name: 'y', dtype: 'U8', shape: [6] },
  ];

  async function check(produce: (e: TensorEntry) => Uint8Array | AsyncIterable<Uint8Array>, problem: RegExp | string) {
    const sub = await mkdtemp(join(dir, 'fail-'));
    const path = join(sub, 'model.safetensors');
    await writeSafetensors(path, entries, { v: 'old' }, (e) => bytesOf(e.name === 'x' ? 16 : 6));
    const before = await readFile(path);
    await expect(writeSafetensors(path, entries, { v: 'new' }, produce)).rejects.toThrow(problem);
    expect(await readdir(sub)).toEqual(['model.safetensors']);
    expect(await readFile(path)).toEqual(before);
  }

  it('when produce throws midway', async () => {
    await check((e) => {
      if (e.name === 'y') throw new Error('boom');
      return bytesOf(16);
    }, 'boom');
  });

  it('when an async iterable throws midway', async () => {
    await check((e) => (async function* () {
      yield bytesOf(e.name === 'x' ? 16 : 3);
      if (e.name === 'y') throw new Error('stream broke');
    })(), 'stream broke');
  });

  it('when a tensor is too short or too long', async () => {
    await check((e) => bytesOf(e.name === 'x' ? 12 : 6), /tensor x: produced 12 bytes, but F32 \[4\] is 16 bytes/);
    await check((e) => (async function* () {
      yield bytesOf(e.name === 'x' ? 16 : 4);
      if (e.name === 'y') yield bytesOf(4);
    })(), /tensor y: produced more than 6 bytes/);
  });

  it('when produce returns something that is not bytes', async () => {
    await check(() => (async function* () { yield [1, 2] as unknown as Uint8Array; })(), /not a Uint8Array/);
  });
});

describe('SafetensorsFile validation', () => {
  it('rejects files too short, and bad header lengths', async () => {
    await expectFormatError(new Uint8Array(5), /too short/);
    await expectFormatError(craft({}, undefined, 0n), /header length is 0/);
    await expectFormatError(craft({}, undefined, 2n ** 63n), /exceeds 100000000 bytes/);
    await expectFormatError(craft({}, undefined, 100_000_001n), /exceeds 100000000 bytes/);
    await expectFormatError(craft({}, undefined, 50n), /runs past the end of the file/);
  });

  it('rejects headers that are not UTF-8 JSON objects', async () => {
    // Valid JSON but for one byte that is not UTF-8 (a lenient decoder would read U+FFFD).
    const invalidUtf8 = craft('{"__metadata__":{"a":"X"}}');
    invalidUtf8[8 + 22] = 0xff;
    await expectFormatError(invalidUtf8, /UTF-8 JSON/);
    await expectFormatError(craft('{"a": '), /UTF-8 JSON/);
    await expectFormatError(craft([]), /not a JSON object/);
    await expectFormatError(craft('null'), /not a JSON object/);
  });

  it('rejects __metadata__ that is not string -> string', async () => {
    await expectFormatError(craft({ __metadata__: { a: 1 } }), /__metadata__/);
    await expectFormatError(craft({ __metadata__: ['a'] }), /__metadata__/);
  });

  it('rejects malformed entries', async () => {
    const data = new Uint8Array(8);
    const cases: [unknown, RegExp][] = [
      ['oops', /tensor t: entry is not an object/],
      [{ dtype: 'F32', shape: [2] }, /needs dtype, shape and data_offsets/],
      [{ shape: [2], data_offsets: [0, 8] }, /needs dtype, shape and data_offsets/],
      [{ dtype: 'F8', shape: [2], data_offsets: [0, 8] }, /unknown dtype "F8"/],
      [{ dtype: 'toString', shape: [2], data_offsets: [0, 8] }, /unknown dtype/],
      [{ dtype: 'F32', shape: 2, data_offsets: [0, 8] }, /shape 2 is not a list/],
      [{ dtype: 'F32', shape: [-2], data_offsets: [0, 8] }, /shape \[-2\] is not a list of non-negative integers/],
      [{ dtype: 'F32', shape: [1.5], data_offsets: [0, 8] }, /shape/],
      [{ dtype: 'F32', shape: ['2'], data_offsets: [0, 8] }, /shape/],
      [{ dtype: 'F32', shape: [2 ** 53], data_offsets: [0, 8] }, /shape/],
      [{ dtype: 'U8', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] }, /too large/],
      [{ dtype: 'F64', shape: [2 ** 26, 2 ** 26], data_offsets: [0, 8] }, /too large/],
      [{ dtype: 'F32', shape: [2], data_offsets: [0] }, /data_offsets \[0\] are not two integers/],
      [{ dtype: 'F32', shape: [2], data_offsets: [8, 0] }, /data_offsets/],
      [{ dtype: 'F32', shape: [2], data_offsets: [0, '8'] }, /data_offsets/],
      [{ dtype: 'F32', shape: [2], data_offsets: [-1, 7] }, /data_offsets/],
      [{ dtype: 'F32', shape: [3], data_offsets: [0, 8] }, /span 8 bytes but F32 \[3\] needs 12/],
      [{ dtype: 'F32', shape: [4], data_offsets: [0, 16] }, /run past the data section \(8 bytes\)/],
    ];
    for (const [entry, problem] of cases) await expectFormatError(craft({ t: entry }, data), problem);
  });

  it('requires tensors to tile the data section exactly', async () => {
    const data = new Uint8Array(16);
    await expectFormatError(craft({ a: f32Entry(0, 8), b: f32Entry(4, 12) }, data.subarray(0, 12)), /tensors a and b overlap/);
    await expectFormatError(craft({ a: f32Entry(0, 8), b: f32Entry(8, 8, [0]), c: f32Entry(4, 4, [0]) }, data.subarray(0, 8)), /overlap/);
    await expectFormatError(craft({ a: f32Entry(0, 4), b: f32Entry(8, 16) }, data), /bytes 4\.\.8 of the data section belong to no tensor/);
    await expectFormatError(craft({ a: f32Entry(4, 16) }, data), /bytes 0\.\.4/);
    await expectFormatError(craft({ a: f32Entry(0, 8) }, data), /8 trailing bytes/);
    await expectFormatError(craft({}, data), /16 trailing bytes/);
    // Out of order in the header is fine as long as the tiling is exact.
    const path = await craftFile(craft({ b: f32Entry(8, 16), a: f32Entry(0, 8) }, bytesOf(16)));
    const f = await SafetensorsFile.open(path);
    expect([...f.tensors.keys()]).toEqual(['b', 'a']);
    expect(await f.read('b')).toEqual(bytesOf(16).subarray(8));
    await f.close();
  });

  it('reports truncation at every byte boundary as a CsattnError', async () => {
    const path = tmpPath('whole');
    const entries: TensorEntry[] = [
      { name: 'w', dtype: 'F16', shape: [3, 2] },
      { name: 'e', dtype: 'F32', shape: [0] },
      { name: 'b', dtype: 'U8', shape: [5] },
    ];
    await writeSafetensors(path, entries, { k: 'v' }, (e) => bytesOf(e.name === 'w' ? 12 : e.name === 'b' ? 5 : 0));
    const whole = await readFile(path);
    const cut = join(dir, 'cut.safetensors');
    for (let n = 0; n < whole.length; n++) {
      await writeFile(cut, whole.subarray(0, n));
      const err = await SafetensorsFile.open(cut).then((f) => f.close().then(() => 'opened'), (e: unknown) => e);
      expect(err, `truncated to ${n} bytes`).toBeInstanceOf(CsattnError);
      expect((err as CsattnError).kind).toBe('format');
    }
    await writeFile(cut, whole);
    await (await SafetensorsFile.open(cut)).close();
  });

  it('reports a missing file as a CsattnError', async () => {
    await expect(SafetensorsFile.open(join(dir, 'missing.safetensors'))).rejects.toThrow(/safetensors file not found: .*missing\.safetensors/);
  });
});

describe('toF16 / toF32', () => {
  const info = (dtype: TensorInfo['dtype'], n: number): TensorInfo =>
    ({ name: 't', dtype, shape: [n], offset: 0, byteLength: n * (dtype === 'F32' ? 4 : 2), file: 'mem' });
  const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

  it('converts F32', () => {
    const x = Float32Array.of(1, -2, 0.5, 65504, 1e5, 2 ** -24, 3.14159, 0);
    expect([...toF16(info('F32', 8), u8(x))]).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff, 0x7c00, 0x0001, 0x4248, 0]);
    expect([...toF32(info('F32', 8), u8(x))]).toEqual([...x]);
  });

  it('converts F16', () => {
    const h = Uint16Array.of(0x3c00, 0xc000, 0x7c00, 0x0001, 0x4248, 0x8000);
    expect([...toF16(info('F16', 6), u8(h))]).toEqual([...h]);
    expect([...toF32(info('F16', 6), u8(h))]).toEqual([1, -2, Infinity, 2 ** -24, 3.140625, -0]);
  });

  it('converts BF16', () => {
    const b = Uint16Array.of(0x3f80, 0xc000, 0x4049, 0x7f80, 0x0001, 0x477f, 0x4780);
    expect([...toF32(info('BF16', 7), u8(b))]).toEqual([1, -2, 3.140625, Infinity, 2 ** -133, 65280, 65536]);
    expect([...toF16(info('BF16', 7), u8(b))]).toEqual([0x3c00, 0xc000, 0x4248, 0x7c00, 0, 0x7bf8, 0x7c00]);
  });

  it('handles bytes at odd offsets (chunks of a file read)', () => {
    const buf = new Uint8Array(9);
    buf.set(u8(Float32Array.of(1.5, -0.25)), 1);
    expect([...toF32(info('F32', 2), buf.subarray(1))]).toEqual([1.5, -0.25]);
    expect([...toF16(info('F32', 2), buf.subarray(1))]).toEqual([0x3e00, 0xb400]);
  });

  it('rejects other dtypes and partial elements', () => {
    expect(() => toF16({ ...info('F32', 2), dtype: 'I32' }, new Uint8Array(8))).toThrow(/I32; only F32, F16 and BF16/);
    expect(() => toF32({ ...info('F32', 2), dtype: 'U8' }, new Uint8Array(8))).toThrow(CsattnError);
    expect(() => toF32(info('F32', 2), new Uint8Array(6))).toThrow(/not whole F32 elements/);
  });
});

describe('SafetensorsModel', () => {
  const tinylm = 'fixtures/models/tinylm';

  it('opens the bundled sharded tinylm', async () => {
    const index = JSON.parse(await readFile(join(tinylm, 'model.safetensors.index.json'), 'utf8'));
    const names = Object.keys(index.weight_map);
    expect(names.length).toBe(1 + 6 * 9 + 1); // embeddings, 6 layers of 9, final norm; tied: no lm_head
    const m = await SafetensorsModel.open(tinylm);
    try {
      expect(new Set(m.tensors.keys())).toEqual(new Set(names));
      const embed = m.tensors.get('model.embed_tokens.weight')!;
      expect([embed.dtype, embed.shape, embed.byteLength]).toEqual(['F16', [8192, 384], 8192 * 384 * 2]);
      expect(embed.file).toBe(join(tinylm, 'model-00001-of-00002.safetensors'));
      expect(m.tensors.get('model.layers.0.self_attn.k_proj.weight')!.shape).toEqual([128, 384]);
      expect(m.tensors.get('model.layers.0.mlp.down_proj.weight')!.shape).toEqual([384, 1024]);
      for (const [name, file] of Object.entries(index.weight_map)) expect(m.tensors.get(name)!.file).toBe(join(tinylm, file as string));
      const total = [...m.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
      expect(total).toBe(index.metadata.total_size);

      // Bytes match the test's own parse of each shard, for a tensor in each.
      for (const name of ['model.embed_tokens.weight', 'model.norm.weight']) {
        const info = m.tensors.get(name)!;
        const raw = await readFile(info.file);
        const { header, dataStart } = parseRaw(raw);
        const [b, e] = header[name].data_offsets;
        const got = await m.read(name);
        expect(Buffer.from(got).equals(raw.subarray(dataStart + b, dataStart + e))).toBe(true);
        expect(Buffer.from(await m.readRange(name, 100, 50)).equals(raw.subarray(dataStart + b + 100, dataStart + b + 150))).toBe(true);
      }
      // Trained norm weights: finite and of a sane size.
      const norm = toF32(m.tensors.get('model.norm.weight')!, await m.read('model.norm.weight'));
      expect(norm.length).toBe(384);
      expect(norm.every((v) => Number.isFinite(v) && Math.abs(v) < 100)).toBe(true);
    } finally {
      await m.close();
    }
  });

  /** A folder holding one small shard "a.safetensors" with tensors w and b, and the given index text. */
  async function shardedFolder(index: unknown): Promise<string> {
    const sub = await mkdtemp(join(dir, 'model-'));
    await writeSafetensors(join(sub, 'a.safetensors'), [
      { name: 'w', dtype: 'F32', shape: [2] }, { name: 'b', dtype: 'F32', shape: [1] },
    ], {}, (e) => bytesOf(e.name === 'w' ? 8 : 4));
    await writeFile(join(sub, 'model.safetensors.index.json'), typeof index === 'string' ? index : JSON.stringify(index));
    return sub;
  }

  it('reads a sharded folder through its index', async () => {
    const sub = await shardedFolder({ weight_map: { w: 'a.safetensors' } });
    const m = await SafetensorsModel.open(sub);
    expect([...m.tensors.keys()]).toEqual(['w']);
    expect(await m.read('w')).toEqual(bytesOf(8));
    await expect(m.read('b')).rejects.toThrow(/no tensor named b/);
    await m.close();
  });

  it('reads a single-file folder', async () => {
    const sub = await mkdtemp(join(dir, 'single-'));
    await writeSafetensors(join(sub, 'model.safetensors'), [{ name: 'w', dtype: 'U8', shape: [3] }], {}, () => bytesOf(3));
    const m = await SafetensorsModel.open(sub);
    expect(await m.read('w')).toEqual(bytesOf(3));
    await m.close();
  });

  it('rejects bad indexes, hostile shard names, missing tensors and missing files', async () => {
    const cases: [unknown, RegExp][] = [
      ['{"weight_map": ', /model\.safetensors\.index\.json: not valid JSON/],
      [{ metadata: {} }, /no weight_map object/],
      [{ weight_map: ['a.safetensors'] }, /no weight_map object/],
      [{ weight_map: {} }, /weight_map is empty/],
      [{ weight_map: { w: '../a.safetensors' } }, /maps w to "\.\.\/a\.safetensors", which is not a file name/],
      [{ weight_map: { w: '/etc/passwd' } }, /not a file name/],
      [{ weight_map: { w: 'sub\\a.safetensors' } }, /not a file name/],
      [{ weight_map: { w: '..' } }, /not a file name/],
      [{ weight_map: { w: 3 } }, /not a file name/],
      [{ weight_map: { w: 'a.safetensors', z: 'a.safetensors' } }, /tensor z is not in its shard a\.safetensors/],
      [{ weight_map: { w: 'missing.safetensors' } }, /safetensors file not found: .*missing\.safetensors/],
    ];
    for (const [index, problem] of cases) {
      const sub = await shardedFolder(index);
      await expect(SafetensorsModel.open(sub)).rejects.toThrow(problem);
    }
  });

  it('rejects a missing folder and a folder without weights', async () => {
    await expect(SafetensorsModel.open(join(dir, 'nowhere'))).rejects.toThrow(/model folder .*nowhere does not exist/);
    const empty = await mkdtemp(join(dir, 'empty-'));
    await expect(SafetensorsModel.open(empty)).rejects.toThrow(`no model.safetensors or model.safetensors.index.json in ${empty}`);
  });
});

describe('readAhead', () => {
  it('yields the reads in order, the next one started before the current is consumed', async () => {
    const started: number[] = [];
    const seen: [number, number[]][] = [];
    for await (const v of readAhead(4, async (i) => { started.push(i); return i * 10; })) seen.push([v, [...started]]);
    expect(seen).toEqual([[0, [0, 1]], [10, [0, 1, 2]], [20, [0, 1, 2, 3]], [30, [0, 1, 2, 3]]]);
  });

  it('a consumer that stops early leaves no read behind: the one in flight may fail unobserved', async () => {
    const started: number[] = [];
    const reads = readAhead(5, (i) => { started.push(i); return i === 1 ? Promise.reject(new Error('disk gone')) : Promise.resolve(i); });
    for await (const v of reads) {
      expect(v).toBe(0);
      break;
    }
    expect(started).toEqual([0, 1]);
    await new Promise((r) => setTimeout(r, 10)); // an unhandled rejection would fail the run here
  });

  it('a read that fails while the consumer is busy is thrown to it at its turn, not left unhandled', async () => {
    const got: number[] = [];
    await expect((async () => {
      for await (const v of readAhead(3, (i) => (i === 2 ? Promise.reject(new Error('short read')) : Promise.resolve(i)))) {
        got.push(v);
        await new Promise((r) => setTimeout(r, 10)); // the failed read waits meanwhile
      }
    })()).rejects.toThrow('short read');
    expect(got).toEqual([0, 1]);
  });
});
