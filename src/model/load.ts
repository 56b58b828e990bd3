/**
 * Loading a Hugging Face model folder onto the GPU: config.json, the safetensors tensors checked
 * against it, every weight streamed up as f16 into the ModelWeights the forward pass reads (the
 * matrices quantized there when the model runs with q8 or q4 weights).
 */
import { check } from '../errors.js';
import { allocate, release, type Gpu } from '../gpu/device.js';
import { Kernels, record, submit } from '../gpu/kernels.js';
import { uploader } from '../gpu/uploader.js';
import * as ops from '../ops/dense.js';
import { SafetensorsModel, readAhead, toF16, weightDtype, type TensorInfo } from '../weights/safetensors.js';
import { type ModelConfig, expectedTensors, loadConfig } from './config.js';
import { Model, checkContext, type LayerWeights, type ModelOptions, type ModelWeights } from './model.js';
import { f16Matrix, lmHeadFormat, quantize, type Matrix, type WeightFormat } from '../ops/quant.js';

type Progress = (done: number, total: number) => void;

/**
 * Loads a Hugging Face model folder onto the GPU with a KV cache of `capacity` tokens; onProgress
 * gets the bytes uploaded so far after each tensor.
 */
export async function loadModel(gpu: Gpu, dir: string, opts: ModelOptions & { onProgress?: Progress }): Promise<Model> {
  const cfg = loadConfig(dir);
  checkContext(cfg, opts.capacity);
  const kernels = new Kernels(gpu);
  const weights = await loadWeights(kernels, dir, cfg, opts.weights ?? 'f16', opts.onProgress);
  return Model.create(gpu, cfg, weights, opts, kernels);
}

/** Streams the weights of `dir` onto the GPU as f16, once their names and shapes match `cfg`, matrices in `format`. */
async function loadWeights(kernels: Kernels, dir: string, cfg: ModelConfig, format: WeightFormat, onProgress?: Progress): Promise<ModelWeights> {
  const st = await SafetensorsModel.open(dir);
  try {
    checkTensors(dir, cfg, st);
    const total = [...expectedTensors(cfg).keys()].reduce((s, n) => s + st.tensors.get(n)!.shape.reduce((a, b) => a * b, 1) * 2, 0);
    let done = 0;
    const buffers = [new Uint8Array(SLICE * 4), new Uint8Array(SLICE * 4)];
    return await assembleWeights(kernels, cfg, format, async (name) => {
      const buf = await uploadTensor(kernels, st, st.tensors.get(name)!, buffers);
      done += buf.size;
      onProgress?.(Math.min(done, total), total);
      return buf;
    });
  } finally {
    await st.close();
  }
}

/** Refuses a checkpoint whose tensors are not the ones config.json implies (missing, misshapen, extra layers). */
function checkTensors(dir: string, cfg: ModelConfig, st: SafetensorsModel): void {
  for (const [name, shape] of expectedTensors(cfg)) {
    const t = st.tensors.get(name);
    check(t, `${dir}: tensor ${name} is missing (config.json says ${cfg.architecture} with ${cfg.layers} layers)`, 'shape');
    check(sameShape(t.shape, shape), `${dir}: tensor ${name} has shape [${t.shape}] but config.json implies [${shape}]`, 'shape');
  }
  checkNoExtraLayers(dir, cfg, st.tensors.keys());
}

/**
 * Refuses weights of layers past config.json's num_hidden_layers: a config that says fewer layers
 * than the checkpoint holds would otherwise run a truncated model without a word.
 */
export function checkNoExtraLayers(dir: string, cfg: ModelConfig, names: Iterable<string>): void {
  let deepest = -1;
  for (const name of names) {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (m) deepest = Math.max(deepest, Number(m[1]));
  }
  check(deepest < cfg.layers,
    () => `${dir}: the weights have tensors of layer ${deepest} (model.layers.${deepest}.*) but config.json says num_hidden_layers ${cfg.layers}: the config does not match the weights`, 'shape');
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Gets every weight of `cfg` by its checkpoint name through `load` (as f16), in checkpoint order,
 * into the ModelWeights the forward pass reads, matrices in `format` (synth.ts's random weights
 * come through here too).
 */
export async function assembleWeights(k: Kernels, cfg: ModelConfig, format: WeightFormat, load: (name: string) => Promise<GPUBuffer>): Promise<ModelWeights> {
  const expected = expectedTensors(cfg);
  const { hidden: H, heads, headDim: d, intermediate: I } = cfg;
  // A matrix [rows, cols] in `format`; with `keep`, the f16 buffer is kept (the tied embedding).
  const matrix = async (f16: GPUBuffer, rows: number, cols: number, what: string, keep = false, as = format): Promise<Matrix> => {
    if (as === 'f16') return f16Matrix(f16);
    const m = await quantize(k, as, f16, rows, cols, what);
    if (!keep) release(k.gpu, f16);
    return m;
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}.`;
    const opt = (n: string) => (expected.has(p + n) ? load(p + n) : Promise.resolve(undefined));
    const ln1 = await load(p + 'input_layernorm.weight');
    const ln2 = await load(p + 'post_attention_layernorm.weight');
    const wqkv = await stacked(k.gpu, load, qkvNames(p, 'weight'), `layer ${l} q/k/v projection`);
    layers.push({
      ln1, ln2,
      wqkv: await matrix(wqkv, wqkv.size / (2 * H), H, `layer ${l} q/k/v projection`),
      wo: await matrix(await load(p + 'self_attn.o_proj.weight'), H, heads * d, `layer ${l} o_proj`),
      bqkv: expected.has(p + 'self_attn.q_proj.bias')
        ? await stacked(k.gpu, load, qkvNames(p, 'bias'), `layer ${l} q/k/v bias`)
        : undefined,
      qNorm: await opt('self_attn.q_norm.weight'),
      kNorm: await opt('self_attn.k_norm.weight'),
      gate: await matrix(await load(p + 'mlp.gate_proj.weight'), I, H, `layer ${l} gate_proj`),
      up: await matrix(await load(p + 'mlp.up_proj.weight'), I, H, `layer ${l} up_proj`),
      down: await matrix(await load(p + 'mlp.down_proj.weight'), H, I, `layer ${l} down_proj`),
    });
  }
  const embed = await load('model.embed_tokens.weight');
  const lmHead = await matrix(cfg.tiedEmbeddings ? embed : await load('lm_head.weight'), cfg.vocab, H, 'lm_head', cfg.tiedEmbeddings, lmHeadFormat(format));
  const norm = await load('model.norm.weight');
  return { format, layers, embed, lmHead, norm };
}

/**
 * One buffer holding `parts` one after another (their rows stacked); the parts are freed. The
 * q, k and v projections stacked this way are one matvec at decode (one dispatch instead of three).
 */
async function stacked(gpu: Gpu, load: (name: string) => Promise<GPUBuffer>, names: string[], what: string): Promise<GPUBuffer> {
  const bufs: GPUBuffer[] = [];
  for (const name of names) bufs.push(await load(name));
  check(bufs.every((b) => b.size % 4 === 0), `${what}: a part of odd length cannot be stacked`);
  const out = await allocate(gpu, bufs.reduce((n, b) => n + b.size, 0), what);
  const enc = gpu.device.createCommandEncoder();
  let at = 0;
  for (const b of bufs) {
    enc.copyBufferToBuffer(b, 0, out, at, b.size);
    at += b.size;
  }
  gpu.device.queue.submit([enc.finish()]);
  for (const b of bufs) release(gpu, b);
  return out;
}

function qkvNames(layerPrefix: string, kind: 'weight' | 'bias'): string[] {
  return ['q', 'k', 'v'].map((x) => `${layerPrefix}self_attn.${x}_proj.${kind}`);
}

/** Elements a weight is read and converted by at a time (a 1 GB tensor never sits in memory whole). */
const SLICE = 16 << 20;

/**
 * Streams one tensor into a new f16 GPU buffer, a slice at a time, the next slice read while one
 * goes to the GPU. Slices land in the two `buffers` (each SLICE f32s): fresh 64 MB arrays per slice
 * cost more in garbage collection than the reads. bf16 goes up as stored and is converted on the
 * GPU; f32 is converted here.
 */
async function uploadTensor(k: Kernels, st: SafetensorsModel, info: TensorInfo, buffers: Uint8Array[]): Promise<GPUBuffer> {
  const gpu = k.gpu;
  const raw = weightDtype(info) === 'BF16';
  const elems = info.shape.reduce((a, b) => a * b, 1);
  const buf = await allocate(gpu, elems * 2, `weight ${info.name}`);
  const elemBytes = info.byteLength / Math.max(elems, 1);
  const slice = SLICE * elemBytes;
  const read = (i: number) => st.readRange(info.name, i * slice, Math.min(slice, info.byteLength - i * slice), buffers[i % 2]);
  let off = 0;
  for await (const bytes of readAhead(Math.ceil(info.byteLength / slice), read)) {
    await uploader(gpu).write(buf, (off / elemBytes) * 2, raw ? bytes : toF16({ ...info, byteLength: bytes.byteLength }, bytes));
    off += bytes.byteLength;
  }
  if (raw) submit(gpu, (pass) => record(pass, ops.convertBf16(k, { data: buf, n: elems })));
  return buf;
}
