/**
 * Synthetic random-weight models: Hugging Face folders (config, safetensors, tokenizer) with the
 * exact tensor names and shapes of real architectures, for tests and for benchmarks at 8B scale
 * without downloading weights. Weights are generated chunk by chunk while they are written, so
 * a 16 GB model never sits in memory. syntheticModel makes the same weights' distribution straight
 * on the GPU, with no folder, for benchmarks.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CsattnError, check } from '../errors.js';
import { f32ToBF16, f32ToF16 } from '../weights/f16.js';
import { DTYPE_SIZE, entryBytes, writeSafetensors, type TensorEntry } from '../weights/safetensors.js';
import { mulberry32 } from '../random.js';
import { allocate, type Gpu } from '../gpu/device.js';
import { Kernels, record, submit } from '../gpu/kernels.js';
import * as ops from '../ops/dense.js';
import { parseConfig } from './config.js';
import { assembleWeights } from './load.js';
import { Model, checkContext, type ModelOptions } from './model.js';

export interface SynthPreset { name: string; config: Record<string, unknown> /* a real HF config.json */ }

export type SynthDtype = 'F16' | 'BF16' | 'F32';

const TORCH_DTYPE: Record<SynthDtype, string> = { F16: 'float16', BF16: 'bfloat16', F32: 'float32' };

// The real configs, as on the Hub.
const LLAMA_31_8B = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.0.dev0',
  use_cache: true,
  vocab_size: 128256,
};

const QWEN3_8B = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 12288,
  max_position_embeddings: 40960,
  max_window_layers: 36,
  model_type: 'qwen3',
  num_attention_heads: 32,
  num_hidden_layers: 36,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.51.0',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const MISTRAL_7B_V03 = {
  architectures: ['MistralForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000.0,
  sliding_window: null,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.42.0.dev0',
  use_cache: true,
  vocab_size: 32768,
};

// Tiny shapes of the same families: GQA, 2 layers, vocabularies that are not multiples of tile sizes.
const TINY_LLAMA = {
  ...LLAMA_31_8B,
  bos_token_id: 510,
  eos_token_id: 511,
  head_dim: 16,
  hidden_size: 64,
  intermediate_size: 128,
  max_position_embeddings: 2048,
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 2,
  // A short original context so the llama3 scaling really moves the low frequencies.
  rope_scaling: { ...LLAMA_31_8B.rope_scaling, original_max_position_embeddings: 256 },
  vocab_size: 512,
};

const TINY_QWEN2 = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 294,
  eos_token_id: 296,
  hidden_act: 'silu',
  hidden_size: 64,
  initializer_range: 0.02,
  intermediate_size: 160,
  max_position_embeddings: 4096,
  max_window_layers: 2,
  model_type: 'qwen2',
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000.0,
  sliding_window: 4096,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.1',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 300,
};

const PRESET_LIST: SynthPreset[] = [
  { name: 'llama-3.1-8b', config: LLAMA_31_8B },
  { name: 'qwen3-8b', config: QWEN3_8B },
  { name: 'mistral-7b', config: MISTRAL_7B_V03 },
  { name: 'tiny-llama', config: TINY_LLAMA },
  {
    name: 'tiny-llama-tied', // Llama 3.2 style: no lm_head tensor
    config: {
      ...TINY_LLAMA, bos_token_id: 398, eos_token_id: 399, hidden_size: 96, intermediate_size: 160,
      num_attention_heads: 6, tie_word_embeddings: true, vocab_size: 400,
    },
  },
  { name: 'tiny-qwen2', config: TINY_QWEN2 },
  {
    name: 'tiny-qwen3', // head_dim 32 != hidden / heads
    config: {
      ...QWEN3_8B, bos_token_id: 506, eos_token_id: 508, head_dim: 32, hidden_size: 64, intermediate_size: 128,
      max_position_embeddings: 2048, max_window_layers: 2, num_attention_heads: 4, num_hidden_layers: 2,
      num_key_value_heads: 2, vocab_size: 512,
    },
  },
  {
    name: 'tiny-mistral',
    config: {
      ...MISTRAL_7B_V03, hidden_size: 64, intermediate_size: 128, max_position_embeddings: 2048,
      num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 2, vocab_size: 512,
    },
  },
];

export const PRESETS: Record<string, SynthPreset> = Object.fromEntries(PRESET_LIST.map((p) => [p.name, p]));

/** A tensor to generate: uniform on [center - halfWidth, center + halfWidth]. */
export interface SynthTensor extends TensorEntry { center: number; halfWidth: number }

function int(config: Record<string, unknown>, key: string): number {
  const v = config[key];
  check(Number.isSafeInteger(v) && (v as number) > 0, `synthetic model config: ${key} must be a positive integer`);
  return v as number;
}

/** A uniform distribution with standard deviation `std` has half-width std·√3. */
const uniformStd = (std: number) => std * Math.sqrt(3);

/**
 * Every tensor of the model, named, shaped and ordered as transformers saves it. Scales keep a
 * random forward pass well conditioned: linear weights std 1/√in, embeddings std 1, norm weights
 * 1 ± 0.1, biases std 0.1.
 */
export function synthTensors(config: Record<string, unknown>, dtype: SynthDtype = 'BF16'): SynthTensor[] {
  const family = config.model_type;
  check(family === 'llama' || family === 'mistral' || family === 'qwen2' || family === 'qwen3',
    `synthetic models support llama, mistral, qwen2 and qwen3, not ${String(family)}`);
  const hidden = int(config, 'hidden_size');
  const heads = int(config, 'num_attention_heads');
  const kvHeads = int(config, 'num_key_value_heads');
  const headDim = config.head_dim === undefined ? hidden / heads : int(config, 'head_dim');
  check(Number.isInteger(headDim), 'synthetic model config: hidden_size is not a multiple of num_attention_heads');
  const inter = int(config, 'intermediate_size');
  const vocab = int(config, 'vocab_size');

  const tensors: SynthTensor[] = [];
  const linear = (name: string, out: number, inp: number) =>
    tensors.push({ name: `${name}.weight`, dtype, shape: [out, inp], center: 0, halfWidth: uniformStd(1 / Math.sqrt(inp)) });
  const bias = (name: string, out: number) =>
    tensors.push({ name: `${name}.bias`, dtype, shape: [out], center: 0, halfWidth: uniformStd(0.1) });
  const norm = (name: string, size: number) =>
    tensors.push({ name: `${name}.weight`, dtype, shape: [size], center: 1, halfWidth: 0.1 });

  tensors.push({ name: 'model.embed_tokens.weight', dtype, shape: [vocab, hidden], center: 0, halfWidth: uniformStd(1) });
  for (let i = 0; i < int(config, 'num_hidden_layers'); i++) {
    const attn = `model.layers.${i}.self_attn`;
    for (const [proj, out] of [['q', heads * headDim], ['k', kvHeads * headDim], ['v', kvHeads * headDim]] as const) {
      linear(`${attn}.${proj}_proj`, out, hidden);
      if (family === 'qwen2') bias(`${attn}.${proj}_proj`, out);
    }
    linear(`${attn}.o_proj`, hidden, heads * headDim);
    if (family === 'qwen3') {
      norm(`${attn}.q_norm`, headDim);
      norm(`${attn}.k_norm`, headDim);
    }
    const mlp = `model.layers.${i}.mlp`;
    linear(`${mlp}.gate_proj`, inter, hidden);
    linear(`${mlp}.up_proj`, inter, hidden);
    linear(`${mlp}.down_proj`, hidden, inter);
    norm(`model.layers.${i}.input_layernorm`, hidden);
    norm(`model.layers.${i}.post_attention_layernorm`, hidden);
  }
  norm('model.norm', hidden);
  if (config.tie_word_embeddings !== true) linear('lm_head', vocab, hidden);
  return tensors;
}

/** transformers' default max_shard_size ("5GB", decimal). */
const MAX_SHARD_BYTES = 5e9;

/** Splits tensors in order into shards as huggingface_hub does: a new shard when the next tensor would overflow. */
export function planShards<T extends TensorEntry>(tensors: T[], maxBytes = MAX_SHARD_BYTES): T[][] {
  const shards: T[][] = [];
  let size = Infinity;
  for (const t of tensors) {
    const bytes = entryBytes(t);
    if (size + bytes > maxBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(t);
    size += bytes;
  }
  return shards;
}

/** FNV-1a of the name, mixed with the seed: every tensor gets its own deterministic stream. */
function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h;
}

/** Elements per generated chunk: 16 MB of f32 scratch, whatever the tensor's size. */
const CHUNK_ELEMENTS = 1 << 22;

function encode(values: Float32Array, dtype: SynthDtype): Uint8Array {
  const out = dtype === 'F32' ? values : dtype === 'F16' ? f32ToF16(values) : f32ToBF16(values);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

async function* generate(t: SynthTensor, seed: number, onBytes: (n: number) => void): AsyncIterable<Uint8Array> {
  const random = mulberry32(streamSeed(seed, t.name));
  const count = entryBytes(t) / DTYPE_SIZE[t.dtype];
  for (let done = 0; done < count; done += CHUNK_ELEMENTS) {
    const values = new Float32Array(Math.min(CHUNK_ELEMENTS, count - done));
    for (let i = 0; i < values.length; i++) values[i] = t.center + t.halfWidth * (2 * random() - 1);
    const bytes = encode(values, t.dtype as SynthDtype);
    yield bytes;
    onBytes(bytes.byteLength);
  }
}

// ---- Tokenizer: byte-level BPE with exactly vocab_size ids ----

/** GPT-2's byte -> printable character map used by ByteLevel pre-tokenizers and decoders. */
function byteChars(): string[] {
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    return String.fromCharCode(printable ? b : 256 + extra++);
  });
}

/**
 * Merges in rank order: a space or letter, then each token extended by one letter, level by level
 * (letters by English frequency), so short letter runs become single tokens. Lazy: a 150K
 * vocabulary takes a few milliseconds.
 */
function* merges(): Generator<[string, string]> {
  const letters = [...'etaoinshrdlcumwfgypbvkjxqz'];
  let prefixes = ['Ġ', ...letters];
  for (;;) {
    const next: string[] = [];
    for (const p of prefixes) {
      for (const c of letters) {
        next.push(p + c);
        yield [p, c];
      }
    }
    prefixes = next;
  }
}

/** Special tokens per family: where the block sits and the named ones that open it (the rest are reserved). */
const SPECIALS: Record<string, { names: string[]; atStart: boolean; addBos: boolean }> = {
  llama: { names: ['<|begin_of_text|>', '<|end_of_text|>'], atStart: false, addBos: true },
  mistral: { names: ['<unk>', '<s>', '</s>'], atStart: true, addBos: true },
  qwen2: { names: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'], atStart: false, addBos: false },
  qwen3: { names: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'], atStart: false, addBos: false },
};

/** tokenizer.json and tokenizer_config.json for `config`: ids [0, vocab_size), BOS/EOS at the config's ids. */
export function synthTokenizer(config: Record<string, unknown>): { tokenizer: object; tokenizerConfig: object } {
  const vocabSize = int(config, 'vocab_size');
  const bosId = config.bos_token_id as number;
  const eosId = config.eos_token_id as number;
  const { names, atStart, addBos } = SPECIALS[config.model_type as string];
  // At the end (Llama 3, Qwen), the block starts at BOS and runs to the end of the vocabulary.
  const first = atStart ? 0 : bosId;
  const specialCount = atStart ? names.length : vocabSize - bosId;
  const special = Array.from({ length: specialCount }, (_, k) => names[k] ?? `<|reserved_special_token_${k - names.length}|>`);
  const bos = special[bosId - first];
  const eos = special[eosId - first];
  check(bos !== undefined && eos !== undefined, 'synthetic tokenizer: bos/eos ids fall outside the special tokens');
  const mergeCount = vocabSize - specialCount - 256;
  check(mergeCount >= 0, `synthetic tokenizer: vocab_size ${vocabSize} leaves no room for the 256 byte tokens`);

  const regular = byteChars().sort();
  const mergeList: [string, string][] = [];
  for (const m of merges()) {
    if (mergeList.length === mergeCount) break;
    mergeList.push(m);
    regular.push(m[0] + m[1]);
  }
  const regularStart = atStart ? specialCount : 0;
  const vocab: Record<string, number> = {};
  const byId = (id: number) => (id >= first && id < first + specialCount ? special[id - first] : regular[id - regularStart]);
  for (let id = 0; id < vocabSize; id++) vocab[byId(id)] = id;

  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((content, k) => ({
      id: first + k, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: addBos
      ? {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          { SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
      }
      : { ...byteLevel, trim_offsets: false, use_regex: false },
    decoder: { ...byteLevel, add_prefix_space: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: mergeList,
    },
  };
  const tokenizerConfig = {
    bos_token: bos,
    eos_token: eos,
    clean_up_tokenization_spaces: false,
    model_max_length: config.max_position_embeddings,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  return { tokenizer, tokenizerConfig };
}

const json = (x: unknown) => JSON.stringify(x, null, 2) + '\n';

/** Removes weights of an earlier model in `dir`, which could otherwise be read instead of (or with) ours. */
async function removeOldWeights(dir: string): Promise<void> {
  for (const f of await readdir(dir)) {
    if (/^model(-\d+-of-\d+)?\.safetensors(\.index\.json)?$/.test(f)) await rm(join(dir, f));
  }
}

/** A preset's config.json, optionally with fewer layers (the same shapes otherwise). */
export function presetConfig(preset: string, layers?: number): Record<string, unknown> {
  const p = PRESETS[preset];
  if (!p) throw new CsattnError(`unknown synthetic preset ${preset}; choose one of ${Object.keys(PRESETS).join(', ')}`);
  const config: Record<string, unknown> = { ...p.config };
  if (layers !== undefined) {
    check(Number.isInteger(layers) && layers >= 1, `layers must be a positive integer, got ${layers}`);
    config.num_hidden_layers = layers;
    if ('max_window_layers' in config) config.max_window_layers = layers;
  }
  return config;
}

export interface SynthOptions {
  seed?: number;
  /** Default BF16, like the Hub checkpoints. */
  dtype?: SynthDtype;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Shard size limit (default 5 GB); small values let tests exercise sharded folders. */
  maxShardBytes?: number;
  /** Fewer layers than the preset (same shapes otherwise): quick runs of a large model's kernels. */
  layers?: number;
}

/**
 * Writes a random-weight model folder for `preset`: config.json, generation_config.json,
 * tokenizer.json, tokenizer_config.json, and model.safetensors (or ≤ 5 GB shards plus
 * model.safetensors.index.json for large models). Same seed, same bytes.
 */
export async function writeSynthModel(dir: string, preset: string,
  opts: SynthOptions = {}): Promise<void> {
  const { seed = 0, dtype = 'BF16', onProgress, maxShardBytes, layers } = opts;
  check(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, `seed ${seed} is not an integer in [0, 2^32)`);
  check(dtype in TORCH_DTYPE, `unsupported synthetic dtype ${dtype}`);
  const config: Record<string, unknown> = { ...presetConfig(preset, layers), torch_dtype: TORCH_DTYPE[dtype] };
  const tensors = synthTensors(config, dtype);
  const totalBytes = tensors.reduce((a, t) => a + entryBytes(t), 0);

  await mkdir(dir, { recursive: true });
  await removeOldWeights(dir);
  const { tokenizer, tokenizerConfig } = synthTokenizer(config);
  await writeFile(join(dir, 'config.json'), json(config));
  await writeFile(join(dir, 'generation_config.json'), json({
    _from_model_config: true, bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id,
    transformers_version: config.transformers_version,
  }));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await writeFile(join(dir, 'tokenizer_config.json'), json(tokenizerConfig));

  let doneBytes = 0;
  const onBytes = (n: number) => { doneBytes += n; onProgress?.(doneBytes, totalBytes); };
  const shards = planShards(tensors, maxShardBytes);
  const names = shards.length === 1 ? ['model.safetensors']
    : shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  for (const [i, shard] of shards.entries()) {
    await writeSafetensors(join(dir, names[i]), shard, { format: 'pt' }, (e) => generate(e as SynthTensor, seed, onBytes));
  }
  if (shards.length > 1) {
    const weightMap = Object.fromEntries(shards.flatMap((s, i) => s.map((t) => [t.name, names[i]]))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))); // sorted like transformers' index files
    await writeFile(join(dir, 'model.safetensors.index.json'), json({ metadata: { total_size: totalBytes }, weight_map: weightMap }));
  }
}

/**
 * A model of `config` (a config.json object) with uniform random weights made on the GPU, scaled
 * as synthTensors's: for benchmarks, whose speed does not depend on weight values.
 */
export async function syntheticModel(gpu: Gpu, config: Record<string, unknown>, opts: ModelOptions & { seed?: number }): Promise<Model> {
  const cfg = parseConfig(config, 'synthetic config');
  checkContext(cfg, opts.capacity);
  const specs = new Map(synthTensors(config, 'F16').map((t) => [t.name, t]));
  const kernels = new Kernels(gpu);
  let seed = opts.seed ?? 0;
  const weights = await assembleWeights(kernels, cfg, opts.weights ?? 'f16', async (name) => {
    const t = specs.get(name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    const buf = await allocate(gpu, n * 2, `weight ${name}`);
    submit(gpu, (pass) => record(pass, ops.fillUniform(kernels, { out: buf, n, center: t.center, half: t.halfWidth, seed: seed++ })));
    return buf;
  });
  return Model.create(gpu, cfg, weights, opts, kernels);
}
