import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, planShards, synthTensors, synthTokenizer, writeSynthModel } from '../src/model/synth.js';
import { SafetensorsModel, toF32 } from '../src/weights/safetensors.js';

const root = await mkdtemp(join(tmpdir(), 'csattn-synth-'));
afterAll(() => rm(root, { recursive: true, force: true }));

type Config = Record<string, any>;

/** The tensors transformers would save for `c`, written out independently of synth.ts. */
function expectedShapes(c: Config): Map<string, number[]> {
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const q = c.num_attention_heads * headDim;
  const kv = c.num_key_value_heads * headDim;
  const m = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocab_size, c.hidden_size]]]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    m.set(`${p}self_attn.q_proj.weight`, [q, c.hidden_size]);
    m.set(`${p}self_attn.k_proj.weight`, [kv, c.hidden_size]);
    m.set(`${p}self_attn.v_proj.weight`, [kv, c.hidden_size]);
    m.set(`${p}self_attn.o_proj.weight`, [c.hidden_size, q]);
    if (c.model_type === 'qwen2') {
      m.set(`${p}self_attn.q_proj.bias`, [q]);
      m.set(`${p}self_attn.k_proj.bias`, [kv]);
      m.set(`${p}self_attn.v_proj.bias`, [kv]);
    }
    if (c.model_type === 'qwen3') {
      m.set(`${p}self_attn.q_norm.weight`, [headDim]);
      m.set(`${p}self_attn.k_norm.weight`, [headDim]);
    }
    m.set(`${p}mlp.gate_proj.weight`, [c.intermediate_size, c.hidden_size]);
    m.set(`${p}mlp.up_proj.weight`, [c.intermediate_size, c.hidden_size]);
    m.set(`${p}mlp.down_proj.weight`, [c.hidden_size, c.intermediate_size]);
    m.set(`${p}input_layernorm.weight`, [c.hidden_size]);
    m.set(`${p}post_attention_layernorm.weight`, [c.hidden_size]);
  }
  m.set('model.norm.weight', [c.hidden_size]);
  if (!c.tie_word_embeddings) m.set('lm_head.weight', [c.vocab_size, c.hidden_size]);
  return m;
}

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'));

function stats(x: Float32Array): { mean: number; std: number; min: number; max: number } {
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length);
  return { mean, std, min: Math.min(...x), max: Math.max(...x) };
}

const TEXT = 'Hello, world! The quick brown fox — jumps over 13 lazy dogs.\n\tÜnïcödé: 日本語 🙂  spaces ';

const tinyPresets = Object.keys(PRESETS).filter((p) => p.startsWith('tiny-'));

describe.each(tinyPresets)('%s', (preset) => {
  const dir = join(root, preset);
  const config: Config = { ...PRESETS[preset].config };
  const progress: [number, number][] = [];

  it('writes a folder SafetensorsModel opens, with the tensors transformers would save', async () => {
    await writeSynthModel(dir, preset, { seed: 7, onProgress: (d, t) => progress.push([d, t]) });
    expect((await readdir(dir)).sort()).toEqual(
      ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(await readJson(join(dir, 'config.json'))).toEqual({ ...config, torch_dtype: 'bfloat16' });
    const gen = await readJson(join(dir, 'generation_config.json'));
    expect([gen.bos_token_id, gen.eos_token_id]).toEqual([config.bos_token_id, config.eos_token_id]);
    expect((await stat(join(dir, 'model.safetensors'))).size).toBeLessThan(1 << 20);

    expect(config.num_hidden_layers).toBeGreaterThanOrEqual(2);
    expect(config.num_attention_heads).toBeGreaterThan(config.num_key_value_heads);
    const m = await SafetensorsModel.open(dir);
    try {
      const want = expectedShapes(config);
      expect(new Set(m.tensors.keys())).toEqual(new Set(want.keys()));
      for (const [name, info] of m.tensors) {
        expect([name, info.dtype, info.shape]).toEqual([name, 'BF16', want.get(name)]);
      }
      const total = [...m.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
      expect(progress.at(-1)).toEqual([total, total]);
      expect(progress.every(([d], i) => i === 0 || d > progress[i - 1][0])).toBe(true);
    } finally {
      await m.close();
    }
  });

  it('has a tokenizer that loads, covers exactly vocab_size ids and round-trips text', async () => {
    const tokJson = await readJson(join(dir, 'tokenizer.json'));
    const tokConfig = await readJson(join(dir, 'tokenizer_config.json'));
    const tok = new Tokenizer(tokJson, tokConfig);
    const ids = [...tok.get_vocab(true).values()].sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: config.vocab_size }, (_, i) => i));
    expect(tok.token_to_id(tokConfig.bos_token)).toBe(config.bos_token_id);
    expect(tok.token_to_id(tokConfig.eos_token)).toBe(config.eos_token_id);
    expect(tokJson.added_tokens.map((t: { id: number }) => t.id)).toContain(config.eos_token_id);

    const enc = tok.encode(TEXT);
    const addsBos = config.model_type !== 'qwen2' && config.model_type !== 'qwen3';
    expect(enc.ids[0] === config.bos_token_id).toBe(addsBos);
    expect(enc.ids.every((id: number) => id >= 0 && id < config.vocab_size)).toBe(true);
    expect(tok.decode(enc.ids, { skip_special_tokens: true })).toBe(TEXT);
    // Merges do compress: fewer tokens than UTF-8 bytes.
    expect(enc.ids.length).toBeLessThan(Buffer.byteLength(TEXT));
  });
});

describe('weights', () => {
  it('are deterministic per seed and differ across seeds', async () => {
    const again = join(root, 'again'), other = join(root, 'other');
    await writeSynthModel(again, 'tiny-qwen3', { seed: 7 });
    await writeSynthModel(other, 'tiny-qwen3', { seed: 8 });
    const first = await readFile(join(root, 'tiny-qwen3', 'model.safetensors'));
    expect((await readFile(join(again, 'model.safetensors'))).equals(first)).toBe(true);
    expect((await readFile(join(other, 'model.safetensors'))).equals(first)).toBe(false);
    const [a, b] = await Promise.all([SafetensorsModel.open(again), SafetensorsModel.open(other)]);
    for (const name of a.tensors.keys()) expect(Buffer.from(await a.read(name)).equals(await b.read(name)), name).toBe(false);
    await Promise.all([a.close(), b.close()]);
  });

  it('are the same values in every dtype, rounded', async () => {
    const dirs = { F32: join(root, 'f32'), F16: join(root, 'f16'), BF16: join(root, 'bf16') };
    for (const [dtype, d] of Object.entries(dirs)) await writeSynthModel(d, 'tiny-llama', { seed: 3, dtype: dtype as 'F32' });
    expect((await readJson(join(dirs.F16, 'config.json'))).torch_dtype).toBe('float16');
    const [m32, m16, mbf] = await Promise.all([dirs.F32, dirs.F16, dirs.BF16].map((d) => SafetensorsModel.open(d)));
    const name = 'model.layers.1.mlp.down_proj.weight';
    const x = toF32(m32.tensors.get(name)!, await m32.read(name));
    const h = toF32(m16.tensors.get(name)!, await m16.read(name));
    const b = toF32(mbf.tensors.get(name)!, await mbf.read(name));
    expect(m16.tensors.get(name)!.dtype).toBe('F16');
    for (let i = 0; i < x.length; i++) {
      expect(Math.abs(h[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -11 + 2 ** -25);
      expect(Math.abs(b[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -8);
    }
    await Promise.all([m32.close(), m16.close(), mbf.close()]);
  });

  it('have the documented scales', async () => {
    const c: Config = PRESETS['tiny-qwen2'].config;
    const m = await SafetensorsModel.open(join(root, 'tiny-qwen2'));
    const values = async (name: string) => toF32(m.tensors.get(name)!, await m.read(name));
    const embed = stats(await values('model.embed_tokens.weight'));
    expect(embed.std).toBeCloseTo(1, 1);
    expect(Math.abs(embed.mean)).toBeLessThan(0.05);
    const up = stats(await values('model.layers.0.mlp.up_proj.weight'));
    expect(up.std * Math.sqrt(c.hidden_size)).toBeCloseTo(1, 1);
    const down = stats(await values('model.layers.0.mlp.down_proj.weight'));
    expect(down.std * Math.sqrt(c.intermediate_size)).toBeCloseTo(1, 1);
    const normW = stats(await values('model.layers.1.input_layernorm.weight'));
    expect(normW.min).toBeGreaterThanOrEqual(0.89);
    expect(normW.max).toBeLessThanOrEqual(1.11);
    expect(normW.mean).toBeCloseTo(1, 1);
    const bias = stats(await values('model.layers.1.self_attn.q_proj.bias'));
    expect(bias.std).toBeGreaterThan(0.06);
    expect(bias.std).toBeLessThan(0.14);
    await m.close();
  });

  it('go into ≤ maxShardBytes shards with an index, like large models', async () => {
    const dir = join(root, 'sharded');
    // An earlier single-file model there must go: it would be read instead of the new shards.
    await writeSynthModel(dir, 'tiny-mistral', { seed: 1 });
    await writeSynthModel(dir, 'tiny-mistral', { seed: 7, maxShardBytes: 100_000 });
    const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
    expect(files.length).toBeGreaterThan(2);
    expect(files[0]).toBe(`model-00001-of-${String(files.length).padStart(5, '0')}.safetensors`);
    const index = await readJson(join(dir, 'model.safetensors.index.json'));
    const m = await SafetensorsModel.open(dir);
    const single = await SafetensorsModel.open(join(root, 'tiny-mistral'));
    try {
      expect(new Set(m.tensors.keys())).toEqual(new Set(single.tensors.keys()));
      expect(index.metadata.total_size).toBe([...m.tensors.values()].reduce((a, t) => a + t.byteLength, 0));
      for (const [name, info] of m.tensors) {
        expect(info.file).toBe(join(dir, index.weight_map[name]));
        expect(Buffer.from(await m.read(name)).equals(await single.read(name))).toBe(true);
      }
      for (const f of files) expect((await stat(join(dir, f))).size).toBeLessThan(100_000 + 8192);
    } finally {
      await Promise.all([m.close(), single.close()]);
    }
    await writeSynthModel(dir, 'tiny-mistral', { seed: 7 });
    expect((await readdir(dir)).filter((f) => f.startsWith('model'))).toEqual(['model.safetensors']);
  });

  it('rejects unknown presets and bad seeds', async () => {
    await expect(writeSynthModel(join(root, 'x'), 'llama-9000')).rejects.toThrow(/unknown synthetic preset llama-9000/);
    await expect(writeSynthModel(join(root, 'x'), 'tiny-llama', { seed: -1 })).rejects.toThrow(/seed -1/);
  });
});

describe('8B presets (computed, not written)', () => {
  const params = (preset: string) => synthTensors(PRESETS[preset].config)
    .reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);

  it('llama-3.1-8b', () => {
    const c: Config = PRESETS['llama-3.1-8b'].config;
    expect(c).toMatchObject({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 4096, num_hidden_layers: 32,
      num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 128256,
      rope_theta: 500000, max_position_embeddings: 131072, rms_norm_eps: 1e-5, tie_word_embeddings: false,
      bos_token_id: 128000, eos_token_id: 128001, torch_dtype: 'bfloat16',
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    expect(params('llama-3.1-8b')).toBe(8_030_261_248);
    expect(new Set(synthTensors(c).map((t) => t.name))).toEqual(new Set(expectedShapes(c).keys()));
  });

  it('qwen3-8b', () => {
    const c: Config = PRESETS['qwen3-8b'].config;
    expect(c).toMatchObject({
      architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 4096, num_hidden_layers: 36,
      num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, intermediate_size: 12288, vocab_size: 151936,
      rope_theta: 1000000, rope_scaling: null, rms_norm_eps: 1e-6, attention_bias: false, tie_word_embeddings: false,
      max_position_embeddings: 40960, torch_dtype: 'bfloat16',
    });
    // 36 · (2·4096² + 2·1024·4096 + 3·12288·4096 + 2·4096 + 2·128) + 2·151936·4096 + 4096
    expect(params('qwen3-8b')).toBe(8_190_735_360);
  });

  it('mistral-7b (v0.3)', () => {
    const c: Config = PRESETS['mistral-7b'].config;
    expect(c).toMatchObject({
      architectures: ['MistralForCausalLM'], model_type: 'mistral', hidden_size: 4096, num_hidden_layers: 32,
      num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 32768,
      rope_theta: 1000000, max_position_embeddings: 32768, sliding_window: null, rms_norm_eps: 1e-5,
    });
    expect(params('mistral-7b')).toBe(7_248_023_552);
  });

  it('shard into files of at most 5 GB, in order', () => {
    for (const preset of ['llama-3.1-8b', 'qwen3-8b', 'mistral-7b']) {
      const tensors = synthTensors(PRESETS[preset].config);
      const shards = planShards(tensors);
      expect(shards.flat()).toEqual(tensors);
      for (const s of shards) expect(s.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 2), 0)).toBeLessThanOrEqual(5e9);
      if (preset === 'llama-3.1-8b') expect(shards.length).toBe(4); // as on the Hub
    }
  });

  it('have a 150K-token tokenizer with just the merges its vocabulary needs, which loads', () => {
    const c: Config = PRESETS['qwen3-8b'].config;
    const { tokenizer, tokenizerConfig } = synthTokenizer(c);
    // Merges are made lazily, one per token past the specials and the 256 bytes: none beyond.
    const t = tokenizer as { added_tokens: unknown[]; model: { merges: unknown[] } };
    expect(t.model.merges).toHaveLength(c.vocab_size - t.added_tokens.length - 256);
    const tok = new Tokenizer(tokenizer, tokenizerConfig);
    expect(tok.get_vocab(true).size).toBe(c.vocab_size);
    expect(tok.id_to_token(c.vocab_size - 1)).toBeDefined();
    expect(tok.token_to_id('<|im_end|>')).toBe(c.eos_token_id);
    expect(tok.decode(tok.encode(TEXT).ids, { skip_special_tokens: true })).toBe(TEXT);
    const llama = new Tokenizer(...Object.values(synthTokenizer(PRESETS['llama-3.1-8b'].config)) as [object, object]);
    expect(llama.token_to_id('<|begin_of_text|>')).toBe(128000);
    expect(llama.token_to_id('<|end_of_text|>')).toBe(128001);
    expect(llama.get_vocab(true).size).toBe(128256);
  });
});
