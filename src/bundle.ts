/**
 * The .csa bundle: one safetensors file holding everything decode needs about a prefilled
 * document: its KV cache, CSAttention's lookup tables, and (in __metadata__, as JSON strings) the
 * format version, the model's fingerprint, the context token ids, the template suffix and every
 * CSA parameter.
 *
 * Tensors, per layer l:
 *   L{l}.k, L{l}.v        F16 [kv_heads, N, head_dim]        post-RoPE keys, values
 *                         (I8 with metadata kv = "q8", each row times its scale:)
 *   L{l}.k_scale, .v_scale F16 [kv_heads, N]                 q8 only: the rows' scales
 *   L{l}.centroids        F32 [groups, m, C, head_dim / m]   unit-norm query centroids
 *   L{l}.list_idx         U32 [groups, m, C, L]              top-L key positions per centroid, ascending
 *   L{l}.list_score       F16 [groups, m, C, L]              their partial scores
 *   L{l}.list_len         U32 [groups, m, C]                 entries in use (L after prefill)
 */
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { CsattnError, check } from './errors.js';
import { checkInputFile, readInputFile } from './fsutil.js';
import { SafetensorsFile, SafetensorsModel, writeSafetensors, type TensorEntry } from './weights/safetensors.js';
import type { ModelConfig } from './model/config.js';
import { CHOICES, type CsaParams } from './attention/csa/tables.js';
import type { WeightFormat } from './ops/quant.js';
import { KV_FORMATS, type KvFormat } from './model/kvcache.js';

export const FORMAT = 'csattn.bundle';
/** 2: lists in ascending key order (1 had them in score order). */
export const FORMAT_VERSION = 2;

export interface ModelIdentity {
  /** sha256 over the parts below. */
  fingerprint: string;
  /**
   * Separate hashes, so a mismatch can say what differs; and the format the weight matrices ran in
   * when not f16 (absent for f16, so f16 fingerprints are those of bundles made before q8).
   */
  parts: { config: string; tokenizer: string; tensors: string; weights: string; weightFormat?: WeightFormat };
  architecture: string;
  name: string;
}

export interface BundleTemplate {
  /** 'plain' ({context}\n\n{prompt}), 'chat' (the model's chat template) or 'custom' (--template). */
  kind: 'plain' | 'chat' | 'custom';
  /** Text that follows the question (e.g. the chat template's assistant header). */
  suffix: string;
  /** Text between the context and the question. */
  separator: string;
}

export interface BundleMeta {
  formatVersion: number;
  csattnVersion: string;
  model: ModelIdentity;
  contextIds: number[];
  template: BundleTemplate;
  csa: CsaParams;
  /** The KV cache's format (metadata `kv`, absent in f16 bundles). */
  kv: KvFormat;
  /** Shapes the tensors must have. */
  shape: { layers: number; heads: number; kvHeads: number; headDim: number; groups: number; L: number };
  /** Facts about the prefill that made it (times in ms, sizes in bytes). */
  stats: Record<string, number | string>;
}

// ---------------------------------------------------------------------------------------------
// Model identity

/**
 * A model's fingerprint: config.json, tokenizer.json, the tensor names/shapes/dtypes, a sample of
 * the weight bytes (so retrained weights of the same shapes are told apart without hashing 16 GB),
 * and the format its matrices run in (a bundle's KV cache depends on it).
 */
export async function modelIdentity(dir: string, cfg: ModelConfig, format: WeightFormat = 'f16'): Promise<ModelIdentity> {
  const sha = () => createHash('sha256');
  const fileHash = async (name: string) => sha().update(readInputFile(join(dir, name), name)).digest('hex');
  const st = await SafetensorsModel.open(dir);
  try {
    const names = [...st.tensors.keys()].sort();
    const tensors = sha();
    for (const n of names) {
      const t = st.tensors.get(n)!;
      tensors.update(`${n}:${t.dtype}:[${t.shape.join(',')}]\n`);
    }
    const weights = sha();
    for (const n of names) {
      const t = st.tensors.get(n)!;
      // 64 bytes from the start, middle and end of every tensor.
      for (const at of [0, Math.floor(t.byteLength / 2), t.byteLength - 64]) {
        const off = Math.max(0, Math.min(at, t.byteLength - 64));
        weights.update(await st.readRange(n, off, Math.min(64, t.byteLength)));
      }
    }
    const hashes = { config: await fileHash('config.json'), tokenizer: await fileHash('tokenizer.json'), tensors: tensors.digest('hex'), weights: weights.digest('hex') };
    return identityOf(hashes, format, cfg.architecture, basename(dir));
  } finally {
    await st.close();
  }
}

/**
 * The identity of a model whose parts are hashed (`hashes`), run with `format` weights: the format
 * joins the parts only when it is not f16, so f16 fingerprints are those of bundles made before q8.
 */
export function identityOf(hashes: Omit<ModelIdentity['parts'], 'weightFormat'>, format: WeightFormat, architecture: string, name: string): ModelIdentity {
  const parts = { ...hashes, ...(format === 'f16' ? {} : { weightFormat: format }) };
  return { fingerprint: createHash('sha256').update(JSON.stringify(parts)).digest('hex'), parts, architecture, name };
}

/** Refuses a bundle made with another model, naming what differs. */
export function checkSameModel(bundle: ModelIdentity, model: ModelIdentity, bundlePath: string, modelDir: string): void {
  if (bundle.fingerprint === model.fingerprint) return;
  const what = { config: 'config.json', tokenizer: 'tokenizer.json', tensors: 'tensor names/shapes', weights: 'weights', weightFormat: 'weight format' } as const;
  const differ = (Object.keys(what) as (keyof typeof what)[]).filter((k) => bundle.parts[k] !== model.parts[k]);
  if (differ.length === 1 && differ[0] === 'weightFormat') {
    const made = weightFormatOf(bundle);
    throw new CsattnError(`${bundlePath} was prefilled with ${made} weights, not ${weightFormatOf(model)}: decode it with --weights ${made}`, 'wrong-model');
  }
  throw new CsattnError(
    `${bundlePath} was prefilled with model "${bundle.name}" (${bundle.architecture}, fingerprint ${bundle.fingerprint.slice(0, 12)}), ` +
      `not with ${modelDir} (${model.architecture}, fingerprint ${model.fingerprint.slice(0, 12)}): ${differ.map((k) => what[k]).join(', ') || 'fingerprint'} differ`,
    'wrong-model',
  );
}

/** The weight format a model identity was made with. */
export function weightFormatOf(id: ModelIdentity): WeightFormat {
  return id.parts.weightFormat ?? 'f16';
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface LayerTensors {
  k: () => Promise<Uint8Array>;
  v: () => Promise<Uint8Array>;
  /** q8 KV only. */
  kScale?: () => Promise<Uint8Array>;
  vScale?: () => Promise<Uint8Array>;
  centroids: () => Promise<Uint8Array>;
  listIdx: () => Promise<Uint8Array>;
  listScore: () => Promise<Uint8Array>;
  listLen: () => Promise<Uint8Array>;
}

export function bundleEntries(meta: BundleMeta): TensorEntry[] {
  const { layers, kvHeads, headDim, groups, L } = meta.shape;
  const N = meta.contextIds.length;
  const m = meta.csa.subspaces;
  const C = meta.csa.centroids;
  const out: TensorEntry[] = [];
  const kv = meta.kv === 'q8' ? 'I8' : 'F16';
  for (let l = 0; l < layers; l++) {
    out.push(
      { name: `L${l}.k`, dtype: kv, shape: [kvHeads, N, headDim] },
      { name: `L${l}.v`, dtype: kv, shape: [kvHeads, N, headDim] },
      ...(meta.kv === 'q8' ? [
        { name: `L${l}.k_scale`, dtype: 'F16', shape: [kvHeads, N] },
        { name: `L${l}.v_scale`, dtype: 'F16', shape: [kvHeads, N] },
      ] satisfies TensorEntry[] : []),
      { name: `L${l}.centroids`, dtype: 'F32', shape: [groups, m, C, headDim / m] },
      { name: `L${l}.list_idx`, dtype: 'U32', shape: [groups, m, C, L] },
      { name: `L${l}.list_score`, dtype: 'F16', shape: [groups, m, C, L] },
      { name: `L${l}.list_len`, dtype: 'U32', shape: [groups, m, C] },
    );
  }
  return out;
}

/** Writes the bundle through a temp file (an existing file is replaced only by a complete bundle); returns its size. */
export async function writeBundle(path: string, meta: BundleMeta, layer: (l: number) => LayerTensors): Promise<number> {
  const metadata: Record<string, string> = {
    format: FORMAT,
    format_version: String(meta.formatVersion),
    csattn_version: meta.csattnVersion,
    model: JSON.stringify(meta.model),
    context_ids: JSON.stringify(meta.contextIds),
    template: JSON.stringify(meta.template),
    csa: JSON.stringify(meta.csa),
    ...(meta.kv === 'f16' ? {} : { kv: meta.kv }),
    shape: JSON.stringify(meta.shape),
    stats: JSON.stringify(meta.stats),
  };
  const kinds = { k: 'k', v: 'v', k_scale: 'kScale', v_scale: 'vScale', centroids: 'centroids', list_idx: 'listIdx', list_score: 'listScore', list_len: 'listLen' } as const;
  return writeSafetensors(path, bundleEntries(meta), metadata, (e) => {
    const [, l, kind] = /^L(\d+)\.(\w+)$/.exec(e.name)!;
    const tensor = layer(Number(l))[kinds[kind as keyof typeof kinds]];
    check(tensor, `writeBundle: no ${e.name} given`);
    return tensor();
  });
}

// ---------------------------------------------------------------------------------------------
// Reading

export class Bundle {
  private constructor(readonly path: string, readonly file: SafetensorsFile, readonly meta: BundleMeta) {}

  static async open(path: string): Promise<Bundle> {
    checkInputFile(path, 'bundle');
    const file = await SafetensorsFile.open(path);
    try {
      const meta = parseMeta(path, file.metadata);
      // Before bundleEntries: a hostile layer count must not drive a loop or an allocation.
      const perLayer = meta.kv === 'q8' ? 8 : 6;
      check(file.tensors.size === perLayer * meta.shape.layers,
        `${path}: ${file.tensors.size} tensors for ${meta.shape.layers} layers (${perLayer} per layer): the bundle is incomplete or corrupt`, 'format');
      const expected = bundleEntries(meta);
      for (const e of expected) {
        const t = file.tensors.get(e.name);
        check(t, `${path}: tensor ${e.name} is missing: the bundle is incomplete or corrupt`, 'format');
        check(t.dtype === e.dtype && t.shape.join() === e.shape.join(),
          `${path}: tensor ${e.name} is ${t.dtype} [${t.shape}], expected ${e.dtype} [${e.shape}]`, 'format');
      }
      return new Bundle(path, file, meta);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  get tokens(): number {
    return this.meta.contextIds.length;
  }

  read(name: string): Promise<Uint8Array> {
    return this.file.read(name);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

function parseMeta(path: string, md: Record<string, string>): BundleMeta {
  const bad = (what: string) => new CsattnError(`${path}: not a valid csattn bundle (${what})`, 'format');
  if (md.format !== FORMAT) throw bad(`format is ${JSON.stringify(md.format ?? null)}, expected "${FORMAT}"`);
  const version = Number(md.format_version);
  if (!Number.isInteger(version) || version < 1) throw bad('format_version');
  if (version > FORMAT_VERSION) {
    throw new CsattnError(`${path}: bundle format version ${version} is newer than this csattn supports (${FORMAT_VERSION}): upgrade csattn or re-run prefill`, 'version');
  }
  if (version < FORMAT_VERSION) {
    throw new CsattnError(`${path}: bundle format version ${version} is older than this csattn reads (${FORMAT_VERSION}): re-run prefill`, 'version');
  }
  const json = (key: string): any => {
    try {
      return JSON.parse(md[key]);
    } catch {
      throw bad(`metadata ${key} is not valid JSON`);
    }
  };
  const meta: BundleMeta = {
    formatVersion: version,
    csattnVersion: String(md.csattn_version ?? ''),
    model: json('model'),
    contextIds: json('context_ids'),
    template: json('template'),
    // Bundles older than the pooled choice chose per head.
    csa: { choice: 'per-head', ...json('csa') },
    kv: (md.kv ?? 'f16') as KvFormat,
    shape: json('shape'),
    stats: json('stats') ?? {},
  };
  const isInt = (x: unknown, min = 0) => Number.isSafeInteger(x) && (x as number) >= min;
  if (!Array.isArray(meta.contextIds) || meta.contextIds.length === 0 || !meta.contextIds.every((x) => isInt(x))) throw bad('context_ids');
  if (typeof meta.model?.fingerprint !== 'string' || typeof meta.model?.parts !== 'object' || meta.model.parts === null) throw bad('model');
  if (!KV_FORMATS.includes(meta.kv)) throw bad(`kv is ${JSON.stringify(md.kv)}, expected one of ${KV_FORMATS.join(', ')}`);
  if (typeof meta.template?.suffix !== 'string' || typeof meta.template?.separator !== 'string') throw bad('template');
  const s = meta.shape;
  if (!s || !['layers', 'heads', 'kvHeads', 'headDim', 'groups', 'L'].every((k) => isInt((s as any)[k], 1))) throw bad('shape');
  const c = meta.csa;
  const csaValid = c && isInt(c.subspaces, 1) && isInt(c.centroids, 1) && s.headDim % c.subspaces === 0
    && typeof c.listFraction === 'number' && c.listFraction > 0 && c.listFraction <= 1 && isInt(c.kmeansIters) && isInt(c.seed)
    && ['kv-head', 'query-head'].includes(c.granularity) && ['post', 'pre'].includes(c.rope) && ['qnorm', 'none'].includes(c.scoreScale)
    && CHOICES.includes(c.choice);
  if (!csaValid) throw bad('csa');
  return meta;
}
