/**
 * config.json → ModelConfig: the few numbers the forward pass needs, for every supported family.
 * Both RoPE config styles are read: `rope_theta` + `rope_scaling` (most Hub models) and
 * transformers 5's `rope_parameters` (the bundled model).
 */
import { join } from 'node:path';
import { CsattnError, check } from '../errors.js';
import { readInputFile } from '../fsutil.js';

export type Family = 'llama' | 'mistral' | 'qwen2' | 'qwen3';

export const ARCHITECTURES: Record<string, Family> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
};

export interface Rope {
  theta: number;
  type: 'default' | 'linear' | 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface ModelConfig {
  architecture: string;
  family: Family;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  eps: number;
  maxPositions: number;
  tiedEmbeddings: boolean;
  /** Qwen2 (and Llama with attention_bias) have q/k/v biases. */
  qkvBias: boolean;
  /** Qwen3 RMS-normalises each query and key head before RoPE. */
  qkNorm: boolean;
  rope: Rope;
  /** Mistral v0.1 style sliding-window attention: contexts past it are refused. */
  slidingWindow: number | null;
}

export function readJson(path: string, what: string): any {
  const text = readInputFile(path, what).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CsattnError(`${what} is not valid JSON: ${path} (${(e as Error).message})`, 'format');
  }
}

export function loadConfig(dir: string): ModelConfig {
  return parseConfig(readJson(join(dir, 'config.json'), 'model config'), dir);
}

export function parseConfig(c: any, where = 'config.json'): ModelConfig {
  check(c && typeof c === 'object', `${where}: config.json is not an object`, 'format');
  const architecture = Array.isArray(c.architectures) ? String(c.architectures[0]) : String(c.model_type ?? 'unknown');
  const family = ARCHITECTURES[architecture];
  if (!family) {
    throw new CsattnError(`unsupported architecture ${architecture} in ${where}; supported: ${Object.keys(ARCHITECTURES).join(', ')}`, 'unsupported');
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    check(Number.isSafeInteger(v) && v > 0, `${where}: config.json field ${key} must be a positive integer (got ${JSON.stringify(c[key])})`, 'format');
    return v;
  };
  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads', heads);
  const headDim = int('head_dim', hidden / heads);
  check(heads % kvHeads === 0, `${where}: num_attention_heads (${heads}) is not a multiple of num_key_value_heads (${kvHeads})`, 'format');
  check(headDim % 8 === 0, `${where}: head_dim ${headDim} must be a multiple of 8`, 'unsupported');
  check(!c.mlp_bias, `${where}: mlp_bias is not supported`, 'unsupported');
  const act = c.hidden_act ?? 'silu';
  check(act === 'silu', `${where}: hidden_act ${act} is not supported (silu only)`, 'unsupported');
  const window = family === 'mistral' || c.use_sliding_window ? (c.sliding_window ?? null) : null;
  check(window === null || (Number.isSafeInteger(window) && window > 0), `${where}: config.json field sliding_window must be a positive integer or null (got ${JSON.stringify(window)})`, 'format');
  return {
    architecture,
    family,
    hidden,
    layers: int('num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    intermediate: int('intermediate_size'),
    vocab: int('vocab_size'),
    eps: number(c, 'rms_norm_eps', 1e-6, { above: 0, below: 1 }, where),
    maxPositions: int('max_position_embeddings', 4096),
    tiedEmbeddings: Boolean(c.tie_word_embeddings ?? false),
    qkvBias: family === 'qwen2' || Boolean(c.attention_bias),
    qkNorm: family === 'qwen3',
    rope: parseRope(c, where),
    slidingWindow: window,
  };
}

function parseRope(c: any, where: string): Rope {
  // transformers 5 keeps theta and scaling together in rope_parameters.
  const p = c.rope_parameters ?? { ...(c.rope_scaling ?? {}), rope_theta: c.rope_theta };
  const type = p.rope_type ?? p.type ?? 'default';
  check(['default', 'linear', 'llama3'].includes(type), `${where}: rope type ${type} is not supported (default, linear, llama3)`, 'unsupported');
  const positive = { above: 0 };
  const rope: Rope = {
    theta: number({ rope_theta: p.rope_theta ?? c.rope_theta }, 'rope_theta', 10000, positive, where),
    type,
    factor: number(p, 'factor', 1, positive, where),
    lowFreqFactor: number(p, 'low_freq_factor', 1, positive, where),
    highFreqFactor: number(p, 'high_freq_factor', 4, positive, where),
    originalMaxPositions: number(p, 'original_max_position_embeddings', 8192, positive, where),
  };
  // llama3 scaling interpolates between the two wavelengths: they must differ, high above low.
  check(type !== 'llama3' || rope.highFreqFactor > rope.lowFreqFactor,
    `${where}: config.json rope high_freq_factor (${rope.highFreqFactor}) must be greater than low_freq_factor (${rope.lowFreqFactor})`, 'format');
  return rope;
}

/**
 * A float field of config.json (or of its rope settings): a finite JSON number inside the range,
 * or `fallback` when absent. A string or a bad value would turn every logit into NaN.
 */
function number(obj: any, key: string, fallback: number, range: { above?: number; below?: number }, where: string): number {
  const v = obj[key] ?? fallback;
  const ok = typeof v === 'number' && Number.isFinite(v) && (range.above === undefined || v > range.above) && (range.below === undefined || v < range.below);
  const bounds = range.below === undefined ? `greater than ${range.above}` : `in (${range.above}, ${range.below})`;
  check(ok, `${where}: config.json field ${key} must be a number ${bounds} (got ${JSON.stringify(obj[key])})`, 'format');
  return v;
}

/** RoPE inverse frequencies, as transformers computes them (f32). */
export function ropeInvFreq(cfg: ModelConfig): Float32Array {
  const d = cfg.headDim;
  const r = cfg.rope;
  const out = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i++) {
    const f = Math.fround(1 / Math.fround(r.theta ** Math.fround((2 * i) / d)));
    out[i] = r.type === 'linear' ? f / r.factor : r.type === 'llama3' ? llama3Scale(f, r) : f;
  }
  return out;
}

function llama3Scale(f: number, r: Rope): number {
  const lowWavelen = r.originalMaxPositions / r.lowFreqFactor;
  const highWavelen = r.originalMaxPositions / r.highFreqFactor;
  const wavelen = (2 * Math.PI) / f;
  if (wavelen < highWavelen) return f;
  if (wavelen > lowWavelen) return f / r.factor;
  const smooth = (r.originalMaxPositions / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
  return (1 - smooth) * (f / r.factor) + smooth * f;
}

/** The tensors a model folder must hold, with their shapes: checked before anything is uploaded. */
export function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const { hidden: H, heads, kvHeads, headDim: d, intermediate: I, vocab: V } = cfg;
  const m = new Map<string, number[]>([['model.embed_tokens.weight', [V, H]], ['model.norm.weight', [H]]]);
  if (!cfg.tiedEmbeddings) m.set('lm_head.weight', [V, H]);
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}.`;
    m.set(p + 'input_layernorm.weight', [H]);
    m.set(p + 'post_attention_layernorm.weight', [H]);
    m.set(p + 'self_attn.q_proj.weight', [heads * d, H]);
    m.set(p + 'self_attn.k_proj.weight', [kvHeads * d, H]);
    m.set(p + 'self_attn.v_proj.weight', [kvHeads * d, H]);
    m.set(p + 'self_attn.o_proj.weight', [H, heads * d]);
    if (cfg.qkvBias) {
      m.set(p + 'self_attn.q_proj.bias', [heads * d]);
      m.set(p + 'self_attn.k_proj.bias', [kvHeads * d]);
      m.set(p + 'self_attn.v_proj.bias', [kvHeads * d]);
    }
    if (cfg.qkNorm) {
      m.set(p + 'self_attn.q_norm.weight', [d]);
      m.set(p + 'self_attn.k_norm.weight', [d]);
    }
    m.set(p + 'mlp.gate_proj.weight', [I, H]);
    m.set(p + 'mlp.up_proj.weight', [I, H]);
    m.set(p + 'mlp.down_proj.weight', [H, I]);
  }
  return m;
}
