/**
 * The mutation fuzzer shared by scripts/fuzz.mjs (over dist/) and test/fuzz.test.ts (over src/):
 * valid seeds (a safetensors file, a .csa bundle, LongBench JSONL) are mutated, byte-wise and
 * structurally, and parsed. A case must end in a one-line CsattnError or a correct result; anything
 * else is a crash. The parsers are passed in (`lib`) so both callers share one CsattnError class.
 */
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Per-case time limit: a parser that takes longer is hung. */
export const CASE_TIMEOUT_MS = 2000;

// ---------------------------------------------------------------------------------------------
// Randomness: every case has its own generator, so case i of seed s replays alone.

export function rng(seed) {
  let s = seed >>> 0 || 0x9e3779b9;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)], chance: (p) => next() < p };
}

const caseRng = (seed, i) => rng(Math.imul(seed ^ 0x5bd1e995, 0x01000193) ^ Math.imul(i + 1, 0x9e3779b1));

// ---------------------------------------------------------------------------------------------
// Seeds

const LONGBENCH_LINES = [
  { input: 'Who wrote it?', context: 'A long document. It was written by Ada.', answers: ['Ada'], length: 9, dataset: 'qasper', language: 'en', all_classes: null, _id: 'a1' },
  { input: 'Summarize.', context: 'Näive café, 東京, emoji 🚀.', answers: ['x', 'y'], dataset: 'multi_news' },
  { input: '', context: 'ctx', answers: [], length: 1.5, dataset: 'trec', all_classes: ['a', 'b'] },
];

/** Valid inputs to mutate: safetensors bytes, bundle bytes, JSONL bytes. */
export async function makeSeeds(lib, dir) {
  const st = join(dir, 'seed.safetensors');
  const entries = [
    { name: 'w.f32', dtype: 'F32', shape: [2, 3] },
    { name: 'w.f16', dtype: 'F16', shape: [4] },
    { name: 'empty', dtype: 'U8', shape: [3, 0] },
    { name: 'ids', dtype: 'I64', shape: [1] },
    { name: 'w.bf16', dtype: 'BF16', shape: [2, 2] },
  ];
  await lib.writeSafetensors(st, entries, { note: 'seed', n: '1' }, (e) => fill(lib.entryBytes(e), e.name.length));

  const bundle = join(dir, 'seed.csa');
  const meta = {
    formatVersion: 1, csattnVersion: 'fuzz',
    model: { fingerprint: 'f', parts: { config: 'a', tokenizer: 'b', tensors: 'c', weights: 'd' }, architecture: 'LlamaForCausalLM', name: 'm' },
    contextIds: [0, 5, 7], template: { kind: 'plain', separator: '\n\n', suffix: '' },
    csa: { subspaces: 2, centroids: 2, listFraction: 0.5, kmeansIters: 2, granularity: 'kv-head' }, kv: 'q8',
    shape: { layers: 2, heads: 2, kvHeads: 1, headDim: 4, groups: 1, L: 2 },
    stats: { prefillMs: 1 },
  };
  const sized = Object.fromEntries(lib.bundleEntries(meta).map((e) => [e.name, lib.entryBytes(e)]));
  const names = { k: 'k', v: 'v', kScale: 'k_scale', vScale: 'v_scale', centroids: 'centroids', listIdx: 'list_idx', listScore: 'list_score', listLen: 'list_len' };
  await lib.writeBundle(bundle, meta, (l) => Object.fromEntries(Object.entries(names).map(([key, n], i) =>
    [key, async () => fill(sized[`L${l}.${n}`], 10 * l + i)])));

  const jsonl = `${LONGBENCH_LINES.map((r) => JSON.stringify(r)).join('\n')}\n\n`;
  return { safetensors: await readAll(st), bundle: await readAll(bundle), jsonl: new TextEncoder().encode(jsonl) };
}

function fill(n, seed) {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + 3) & 255);
}

async function readAll(path) {
  const fh = await open(path, 'r');
  try {
    return new Uint8Array(await fh.readFile());
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Mutations. Byte-level ones apply to everything; structural ones rewrite a safetensors header.

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};

/** Header length, header JSON (or null when it no longer parses) and data section of a safetensors file. */
function split(bytes) {
  if (bytes.length < 8) return null;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > bytes.length - 8) return null;
  try {
    return { header: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
  } catch {
    return null;
  }
}

function join8(headerText, data) {
  const h = typeof headerText === 'string' ? new TextEncoder().encode(headerText) : headerText;
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(h.length), true);
  return concat(prefix, h, data);
}

const HUGE = [2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e308, 2 ** 31, 2 ** 32 + 1, 4294967296 * 65536];
const BAD_NUMBERS = ['NaN', 'Infinity', '-Infinity', '1e999', '-1', '1.5', '-0', '1e-999', '"7"', 'null', 'true', '[]', '{}'];
const DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'f32', '', 7, null];
const INVALID_UTF8 = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80]];

const byteMutations = {
  bitflip(b, r) {
    const out = b.slice();
    for (let k = 1 + r.int(8); k > 0 && out.length; k--) out[r.int(out.length)] ^= 1 << r.int(8);
    return out;
  },
  insert(b, r) {
    const at = r.int(b.length + 1);
    const ins = r.chance(0.5) ? Uint8Array.from(r.pick(INVALID_UTF8)) : Uint8Array.from({ length: 1 + r.int(16) }, () => r.int(256));
    return concat(b.subarray(0, at), ins, b.subarray(at));
  },
  delete(b, r) {
    const at = r.int(b.length + 1);
    return concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(16))));
  },
  truncate(b, r) {
    const parts = split(b);
    const bounds = [0, 1, 7, 8, 9];
    if (parts) {
      const start = b.length - parts.data.length;
      bounds.push(start - 1, start, start + 1);
      for (const [name, e] of Object.entries(parts.header)) {
        if (name !== '__metadata__' && Array.isArray(e?.data_offsets)) bounds.push(...e.data_offsets.map((o) => start + o));
      }
    }
    const at = r.chance(0.5) ? r.pick(bounds) : r.int(b.length + 1);
    return b.slice(0, Math.max(0, Math.min(b.length, at)));
  },
  duplicate(b, r) {
    const from = r.int(b.length + 1);
    const chunk = b.subarray(from, from + 1 + r.int(64));
    const at = r.int(b.length + 1);
    return concat(b.subarray(0, at), chunk, b.subarray(at));
  },
};

/** Replaces one JSON number (or literal) in the header text with something a strict parser must refuse or handle. */
function textualNumber(b, r) {
  if (b.length < 8) return b;
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (n > b.length - 8) return b;
  const text = new TextDecoder().decode(b.subarray(8, 8 + n));
  const spots = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
  if (!spots.length) return b;
  const m = r.pick(spots);
  const edited = text.slice(0, m.index) + r.pick([...BAD_NUMBERS, String(r.pick(HUGE))]) + text.slice(m.index + m[0].length);
  return r.chance(0.8) ? join8(edited, b.subarray(8 + n)) : concat(b.subarray(0, 8), new TextEncoder().encode(edited), b.subarray(8 + n));
}

function hugeHeaderLength(b, r) {
  if (b.length < 8) return b;
  const out = b.slice();
  const lens = [2n ** 64n - 1n, 2n ** 63n, BigInt(b.length) - 7n, BigInt(b.length), BigInt(b.length) + 1n, 100_000_001n, 2n ** 53n + 1n, 0n, 1n];
  const n = r.chance(0.8) ? r.pick(lens) : BigInt(r.int(2 ** 31)) * BigInt(1 + r.int(2 ** 20));
  new DataView(out.buffer).setBigUint64(0, n < 0n ? 0n : n, true);
  return out;
}

/** Rewrites one tensor entry (or the metadata) of a parseable header, keeping the data section. */
function structural(b, r) {
  const parts = split(b);
  if (!parts || typeof parts.header !== 'object' || parts.header === null) return byteMutations.bitflip(b, r);
  const header = parts.header;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = names.length ? r.pick(names) : '__none__';
  const isEntry = (x) => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isEntry(header[name])) header[name] = {};
  const e = header[name];
  const picked = header[r.pick(names)];
  const other = isEntry(picked) ? picked : e;
  const len = parts.data.length;
  const edits = [
    () => { e.data_offsets = [len + r.int(10), len + r.int(10) + 8]; },
    () => { e.data_offsets = Array.isArray(other.data_offsets) ? [...other.data_offsets] : [0, 0]; },
    () => { e.data_offsets = [(e.data_offsets?.[1] ?? 1), (e.data_offsets?.[0] ?? 0)]; },
    () => { e.data_offsets = [r.pick(HUGE), r.pick(HUGE)]; },
    () => { e.data_offsets = r.pick([[0], [0, 1, 2], 'x', null, [0.5, 1], [-8, 0]]); },
    () => { e.shape = r.pick([[2 ** 31, 2 ** 31, 2 ** 31], [2 ** 53], [2 ** 26, 2 ** 26, 0, 2 ** 26], [-1], [1.5], ['2'], null, [], {}, [2 ** 64]]); },
    () => { e.shape = Array.isArray(e.shape) ? e.shape.map((d) => d * (1 + r.int(3))) : [1]; },
    () => { e.dtype = r.pick(DTYPES); },
    () => { delete e[r.pick(['dtype', 'shape', 'data_offsets'])]; },
    () => { e.extra = 1; },
    () => { header[name] = r.pick([null, 1, 'x', [], [1, 2]]); },
    () => { header[`${name}\nsecond line`] = e; delete header[name]; },
    () => { header.__metadata__ = r.pick([null, [], 1, { a: 1 }, { a: null }, { a: ['x'] }, 'meta']); },
    () => { header['__proto__'] = e; delete header[name]; },
  ];
  r.pick(edits)();
  let text = JSON.stringify(header);
  if (r.chance(0.3)) text = text.replace(/"__proto__":/, '"__proto__":');
  return join8(text, parts.data);
}

/** Writes NaN / Inf / denormal bit patterns into the data section: a parser must pass them through. */
function specialValues(b, r) {
  const parts = split(b);
  if (!parts || parts.data.length < 2) return b;
  const out = b.slice();
  const start = b.length - parts.data.length;
  const patterns = [[0x00, 0x7e], [0x00, 0x7c], [0x00, 0xfc], [0x01, 0x00], [0x00, 0x00, 0xc0, 0x7f], [0x00, 0x00, 0x80, 0x7f], [0x00, 0x00, 0x80, 0xff]];
  for (let k = 1 + r.int(4); k > 0; k--) {
    const p = r.pick(patterns);
    const at = start + 2 * r.int(Math.floor((parts.data.length - p.length) / 2) + 1);
    out.set(p.slice(0, out.length - at), at);
  }
  return out;
}

/** Rewrites one bundle metadata value (JSON strings in __metadata__) with a hostile one. */
function bundleMeta(b, r) {
  const parts = split(b);
  const md = parts?.header?.__metadata__;
  if (!md || typeof md !== 'object') return structural(b, r);
  const json = (k) => {
    try {
      const v = JSON.parse(md[k]);
      return typeof v === 'object' && v !== null ? v : {};
    } catch {
      return {};
    }
  };
  const edits = [
    () => { md.format_version = r.pick(['2', '0', '-1', 'NaN', '1e999', '1.5', '', ' 1', '0x1', '999999999999999999999']); },
    () => { md.format = r.pick(['csattn.bundle2', '', 'safetensors']); },
    () => { const s = json('shape'); s[r.pick(['layers', 'heads', 'kvHeads', 'headDim', 'groups', 'L'])] = r.pick([...HUGE, 0, -1, 1.5, null, 3, 1e15]); md.shape = JSON.stringify(s); },
    () => { md.context_ids = r.pick(['[]', '[-1]', '[1.5]', '[NaN]', '[1e999]', '"x"', '[0,5]', '[0,5,7,9]', `[${'0,'.repeat(100)}0]`, 'null']); },
    () => { const c = json('csa'); c[r.pick(['subspaces', 'centroids'])] = r.pick([0, 3, 1e15, -2, null, 4]); md.csa = JSON.stringify(c); },
    () => { const m = json('model'); r.pick([() => { m.parts = null; }, () => { m.fingerprint = 3; }, () => { m.parts = 'x'; }, () => { delete m.parts; }])(); md.model = JSON.stringify(m); },
    () => { md.template = r.pick(['{}', '{"suffix":1,"separator":""}', 'null', '[']); },
    () => { delete md[r.pick(Object.keys(md))]; },
    () => { md[r.pick(Object.keys(md))] = r.pick(['NaN', 'Infinity', '{', '\u0000', '"\\ud800"']); },
  ];
  r.pick(edits)();
  return join8(JSON.stringify(parts.header), parts.data);
}

/** JSONL mutations: hostile values and line structure on top of the byte-level ones. */
function jsonlLines(b, r) {
  const lines = new TextDecoder().decode(b).split('\n');
  const i = r.int(lines.length);
  const edits = [
    () => { lines[i] = lines[i].replace(/"[a-z_]+":/, (k) => k + r.pick(['NaN,', 'Infinity,', '1e999,', '-0,', '"\\ud800",', '[[[[1]]]],', 'null,'])); },
    () => { lines[i] = r.pick(['[', '{', 'null', '1', '"x"', '[]', '{}', '\u2028', '\r', '\ufeff{}', `${'['.repeat(50_000)}${']'.repeat(50_000)}`]); },
    () => { lines[i] = `{"input":"q","context":"${'x'.repeat(r.int(100_000))}","answers":["a"],"dataset":"d"}`; },
    () => { lines[i] = lines[i].replace(/"answers":\[[^\]]*\]/, r.pick(['"answers":"a"', '"answers":[1]', '"answers":null', '"answers":{}'])); },
    () => { lines[i] = `{"__proto__":{"input":"q"},${lines[i].slice(1)}`; },
    () => { lines.splice(i, 0, lines[i].slice(0, r.int(lines[i].length + 1))); },
    () => { lines[i] = `${lines[i]}\r`; },
  ];
  r.pick(edits)();
  return new TextEncoder().encode(lines.join('\n'));
}

const TARGET_MUTATIONS = {
  safetensors: { ...byteMutations, textualNumber, hugeHeaderLength, structural, specialValues },
  bundle: { ...byteMutations, textualNumber, hugeHeaderLength, structural, specialValues, bundleMeta },
  jsonl: { ...byteMutations, jsonlLines },
};

// ---------------------------------------------------------------------------------------------
// Parsing, with an allocation guard.

/**
 * Every read allocates its buffer first (readExact), so the size of a buffer handed to
 * FileHandle.read is the size of the allocation: it must never exceed the file.
 */
let guard = { limit: Infinity, worst: 0 };
let guardInstalled = false;

async function installReadGuard(anyFile) {
  if (guardInstalled) return;
  const fh = await open(anyFile, 'r');
  const proto = Object.getPrototypeOf(fh);
  await fh.close();
  const read = proto.read;
  proto.read = function guardedRead(buffer, ...rest) {
    const size = buffer?.byteLength ?? 0;
    if (size > guard.limit) guard.worst = Math.max(guard.worst, size);
    return read.call(this, buffer, ...rest);
  };
  guardInstalled = true;
}

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Opens a safetensors-format file and reads every tensor, checking each against the file's bytes. */
async function readTensors(file, bytes, lib) {
  for (const info of file.tensors.values()) {
    const got = await file.read(info.name);
    if (!sameBytes(got, bytes.subarray(info.offset, info.offset + info.byteLength))) {
      throw new Error(`tensor ${info.name}: read bytes differ from the file at ${info.offset}`);
    }
    if (['F32', 'F16', 'BF16'].includes(info.dtype)) {
      const n = lib.toF32(info, got).length;
      if (n * lib.DTYPE_SIZE[info.dtype] !== info.byteLength) throw new Error(`tensor ${info.name}: toF32 gave ${n} values`);
    }
  }
}

const parsers = {
  async safetensors(lib, path, bytes) {
    const f = await lib.SafetensorsFile.open(path);
    try {
      await readTensors(f, bytes, lib);
    } finally {
      await f.close();
    }
  },
  async bundle(lib, path, bytes) {
    const b = await lib.Bundle.open(path);
    try {
      await readTensors(b.file, bytes, lib);
      if (b.file.tensors.size !== 6 * b.meta.shape.layers) throw new Error('opened a bundle whose tensors do not match its layers');
    } finally {
      await b.close();
    }
  },
  async jsonl(lib, path, bytes) {
    const text = new TextDecoder().decode(bytes);
    const { records, bad } = lib.parseJsonl(text, path, 'hint');
    const lines = text.replace(/^\uFEFF/, '').split('\n');
    const nonBlank = lines.filter((l) => l.replace(/\r$/, '').trim() !== '').length;
    if (records.length + bad.length !== nonBlank) throw new Error(`${records.length} records + ${bad.length} bad lines != ${nonBlank} lines`);
    for (const b of bad) {
      if (!Number.isInteger(b.line) || b.line < 1 || b.line > lines.length || lines[b.line - 1].trim() === '') throw new Error(`bad line number ${b.line}`);
      if (/[\n\r\u2028\u2029]/.test(b.reason)) throw new Error(`reason for line ${b.line} spans lines`);
    }
    for (const rec of records) {
      if (typeof rec.input !== 'string' || typeof rec.context !== 'string' || !Array.isArray(rec.answers) || typeof rec.dataset !== 'string') {
        throw new Error('a record without its required fields');
      }
    }
  },
};

/** One-line key for an error: kind and the first words of the message, paths and numbers elided. */
function errorKey(e, path) {
  const words = e.message.split(path).join('<file>').replace(/\b(tensors?) \S+/g, '$1 <name>').replace(/\d+/g, 'N').split(/\s+/).filter((w) => w !== '<file>:' && w !== '<file>').slice(0, 3);
  return `${e.kind}: ${words.join(' ')}`;
}

/** Runs one case: 'ok', an error key, or a crash description. */
export async function runCase(lib, target, bytes, path) {
  await writeFile(path, bytes);
  guard = { limit: bytes.length, worst: 0 };
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), CASE_TIMEOUT_MS); });
  let outcome;
  try {
    const r = await Promise.race([parsers[target](lib, path, bytes).then(() => 'ok'), timeout]);
    outcome = r === 'timeout' ? { crash: `hung for more than ${CASE_TIMEOUT_MS} ms` } : { ok: true };
  } catch (e) {
    if (!(e instanceof lib.CsattnError)) outcome = { crash: `${e?.constructor?.name ?? typeof e}: ${String(e?.message ?? e).slice(0, 300)}` };
    else if (/[\n\r]/.test(e.message)) outcome = { crash: `multi-line message: ${JSON.stringify(e.message.slice(0, 300))}` };
    else outcome = { error: errorKey(e, path) };
  } finally {
    clearTimeout(timer);
  }
  if (guard.worst > 0) outcome = { crash: `read buffer of ${guard.worst} bytes for a ${bytes.length}-byte file` };
  return outcome;
}

/** The input of case i: a target, its seed and 1-3 mutations. */
export function makeCase(seeds, seed, i) {
  const r = caseRng(seed, i);
  const target = r.pick(Object.keys(TARGET_MUTATIONS));
  const table = TARGET_MUTATIONS[target];
  let bytes = seeds[target];
  const applied = [];
  for (let k = 1 + r.int(3); k > 0; k--) {
    const name = r.pick(Object.keys(table));
    bytes = table[name](bytes, r);
    applied.push(name);
  }
  return { target, bytes, mutations: applied };
}

/**
 * Runs cases [0, cases) of `seed` in `dir` and summarizes: {cases, ok, errorsByKind, crashes}
 * (crashes: count; crashList: the first few, each with its case number for replay).
 * @param {object} lib the parsers under test and CsattnError
 * @param {{ seed: number, cases: number, dir: string, onProgress?: (done: number) => void }} options
 */
export async function fuzz(lib, { seed, cases, dir, onProgress }) {
  const seeds = await makeSeeds(lib, dir);
  await installReadGuard(join(dir, 'seed.csa'));
  const summary = { seed, cases, ok: 0, errorsByKind: {}, crashes: 0, crashList: [] };
  const paths = { safetensors: join(dir, 'case.safetensors'), bundle: join(dir, 'case.csa'), jsonl: join(dir, 'case.jsonl') };
  for (let i = 0; i < cases; i++) {
    const c = makeCase(seeds, seed, i);
    const out = await runCase(lib, c.target, c.bytes, paths[c.target]);
    if (out.ok) summary.ok++;
    else if (out.error) summary.errorsByKind[out.error] = (summary.errorsByKind[out.error] ?? 0) + 1;
    else {
      summary.crashes++;
      if (summary.crashList.length < 20) summary.crashList.push({ case: i, target: c.target, mutations: c.mutations, crash: out.crash });
    }
    onProgress?.(i + 1);
  }
  return summary;
}

/** Truncates `bytes` at every length and parses each: the systematic part of "truncation at every boundary". */
export async function truncations(lib, target, bytes, path) {
  await installReadGuard(path.replace(/[^/]+$/, 'seed.csa'));
  const bad = [];
  for (let n = 0; n < bytes.length; n++) {
    const out = await runCase(lib, target, bytes.subarray(0, n), path);
    if (out.crash || out.ok) bad.push({ length: n, ...out });
  }
  return bad;
}
