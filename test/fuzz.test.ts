/**
 * Hostile inputs: a seeded slice of scripts/fuzz.mjs (the same mutation engine, over src/), every
 * truncation of a valid safetensors file and bundle, and fast-check properties of the parsers.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzz, makeSeeds, truncations } from '../scripts/fuzz-core.mjs';
import { CsattnError } from '../src/errors.js';
import { DTYPE_SIZE, SafetensorsFile, entryBytes, toF32, writeSafetensors } from '../src/weights/safetensors.js';
import { Bundle, bundleEntries, writeBundle } from '../src/bundle.js';
import { parseJsonl } from '../src/eval/longbench.js';

const lib = { CsattnError, DTYPE_SIZE, SafetensorsFile, entryBytes, toF32, writeSafetensors, Bundle, bundleEntries, writeBundle, parseJsonl };
const dir = mkdtempSync(join(tmpdir(), 'csattn-fuzz-test-'));

describe('mutation fuzzing', () => {
  it('2000 mutated safetensors files, bundles and JSONL texts end in a one-line CsattnError or a correct result', async () => {
    const s = await fuzz(lib, { seed: 20240607, cases: 2000, dir });
    expect(s.crashList).toEqual([]);
    // The mutations reach past the first check: both outcomes and many distinct errors occur.
    expect(s.ok).toBeGreaterThan(100);
    expect(Object.keys(s.errorsByKind).length).toBeGreaterThan(10);
  }, 60_000);

  it('every truncation of a valid safetensors file and bundle is refused with a CsattnError', async () => {
    const seeds = await makeSeeds(lib, dir);
    expect(await truncations(lib, 'safetensors', seeds.safetensors, join(dir, 'cut.safetensors'))).toEqual([]);
    expect(await truncations(lib, 'bundle', seeds.bundle, join(dir, 'cut.csa'))).toEqual([]);
  }, 60_000);
});

/** A safetensors-shaped file: a u64 length (right or not), a JSON header, and data bytes. */
const headerEntry = fc.record({
  dtype: fc.constantFrom('F32', 'F16', 'BF16', 'U8', 'I64', 'F8', 7),
  shape: fc.array(fc.oneof(fc.nat(6), fc.integer(), fc.double()), { maxLength: 3 }),
  data_offsets: fc.array(fc.oneof(fc.nat(64), fc.integer()), { minLength: 0, maxLength: 3 }),
}, { requiredKeys: [] });
const safetensorsLike = fc.tuple(
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(headerEntry, fc.jsonValue())),
  fc.uint8Array({ maxLength: 96 }),
  fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
).map(([header, data, skew]) => {
  const text = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(skew === 0n ? BigInt(text.length) : skew);
  return new Uint8Array(Buffer.concat([prefix, text, data]));
});

describe('properties', () => {
  it('arbitrary bytes: SafetensorsFile.open gives a CsattnError or a file whose tensors tile the data', async () => {
    const path = join(dir, 'prop.safetensors');
    await fc.assert(fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 256 }), safetensorsLike), async (bytes) => {
      writeFileSync(path, bytes);
      let f: SafetensorsFile;
      try {
        f = await SafetensorsFile.open(path);
      } catch (e) {
        expect(e).toBeInstanceOf(CsattnError);
        expect((e as Error).message).not.toMatch(/\n/);
        return;
      }
      const infos = [...f.tensors.values()];
      const dataStart = 8 + Number(Buffer.from(bytes).readBigUInt64LE(0));
      expect(infos.reduce((n, t) => n + t.byteLength, 0)).toBe(bytes.length - dataStart);
      for (const t of infos) {
        expect(t.byteLength).toBe(t.shape.reduce((n, d) => n * d, DTYPE_SIZE[t.dtype]));
        expect(await f.read(t.name)).toEqual(bytes.subarray(t.offset, t.offset + t.byteLength));
      }
      await f.close();
    }), { numRuns: 500, seed: 42 });
  });

  /** Lines tagged valid when they are LongBench records by construction. */
  const record = fc.record({ input: fc.string(), context: fc.string(), answers: fc.array(fc.string()), dataset: fc.string() })
    .map((r) => ({ text: JSON.stringify(r), valid: true }));
  const other = fc.oneof(fc.json(), fc.string(), fc.constantFrom('{', '[1', '{"input":NaN}', '{"answers":[1]}', '\r', '   '))
    .map((text) => ({ text: text.replace(/\n/g, ' '), valid: undefined as boolean | undefined }));

  it('arbitrary JSON lines: parseJsonl never throws, keeps every record and reports each bad line by number', () => {
    fc.assert(fc.property(fc.array(fc.oneof(record, other), { maxLength: 20 }), (lines) => {
      const text = lines.map((l) => l.text).join('\n');
      const { records, bad } = parseJsonl(text, 'f.jsonl');
      const nonBlank = lines.flatMap((l, i) => (l.text.replace(/\r$/, '').trim() ? [i + 1] : []));
      expect(records.length + bad.length).toBe(nonBlank.length);
      for (const b of bad) {
        expect(nonBlank).toContain(b.line);
        expect(lines[b.line - 1].valid).toBeUndefined();
        expect(b.file).toBe('f.jsonl');
        expect(b.reason).not.toMatch(/[\r\n\u2028\u2029]/);
      }
      expect(records.length).toBeGreaterThanOrEqual(lines.filter((l) => l.valid).length);
    }), { numRuns: 1000, seed: 42 });
  });
});
