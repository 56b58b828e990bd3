/**
 * `csattn info`: what a bundle holds (context, model, CSA parameters, sizes), what its prefill cost
 * and after how many questions it pays for itself.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Bundle, weightFormatOf, type BundleMeta } from './bundle.js';
import type { WeightFormat } from './ops/quant.js';
import type { KvFormat } from './model/kvcache.js';
import { costs, figuresFromStats, formatCosts, type Costs, type QuestionShape } from './costs.js';
import { fmtBytes } from './gpu/device.js';

export interface BundleInfo {
  file: string; bytes: number; tokens: number; formatVersion: number; csattnVersion: string;
  model: Pick<BundleMeta['model'], 'name' | 'architecture' | 'fingerprint'>;
  /** The precisions it was prefilled with: the weight matrices' format, and K/V's. */
  precision: { weights: WeightFormat; kv: KvFormat };
  template: BundleMeta['template']; csa: BundleMeta['csa']; shape: BundleMeta['shape']; stats: BundleMeta['stats'];
  kvBytes: number; tableBytes: number; tableToKvRatio: number; costs: Costs;
}

export async function bundleInfo(path: string, question: QuestionShape): Promise<BundleInfo> {
  const b = await Bundle.open(resolve(path));
  try {
    const m = b.meta;
    const bytes = statSync(path).size;
    // Everything that is not a layer's K or V (or their q8 scales) is CSA's: the tables' cost in the file.
    const kvBytes = [...b.file.tensors.values()].filter((t) => /\.(k|v)(_scale)?$/.test(t.name)).reduce((a, t) => a + t.byteLength, 0);
    const c = costs(figuresFromStats(m.stats, { kvBytes, tableBytes: bytes - kvBytes }), question);
    return {
      file: path, bytes, tokens: b.tokens, formatVersion: m.formatVersion, csattnVersion: m.csattnVersion,
      model: { name: m.model.name, architecture: m.model.architecture, fingerprint: m.model.fingerprint },
      precision: { weights: weightFormatOf(m.model), kv: m.kv },
      template: m.template, csa: m.csa, shape: m.shape, stats: m.stats,
      kvBytes, tableBytes: bytes - kvBytes, tableToKvRatio: c.tableToKvRatio, costs: c,
    };
  } finally {
    await b.close();
  }
}

export function formatInfo(i: BundleInfo): string {
  const { csa, shape, model } = i;
  return [
    `${i.file}: csattn bundle v${i.formatVersion} (csattn ${i.csattnVersion})`,
    `  context      ${i.tokens} tokens, template ${i.template.kind}`,
    `  model        ${model.name} (${model.architecture}), fingerprint ${model.fingerprint.slice(0, 16)}, ${i.precision.weights} weights, ${i.precision.kv} K/V`,
    `  shape        ${shape.layers} layers, ${shape.heads} heads / ${shape.kvHeads} KV heads, head dim ${shape.headDim}`,
    `  csa          m=${csa.subspaces} C=${csa.centroids} alpha=${csa.listFraction} (L=${shape.L}) iters=${csa.kmeansIters} seed=${csa.seed} ${csa.granularity} ${csa.rope}-rope scale=${csa.scoreScale} choice=${csa.choice}`,
    `  file         ${fmtBytes(i.bytes)}, made on ${i.stats.adapter ?? 'an unrecorded adapter'}`,
    ...formatCosts(i.costs),
  ].join('\n') + '\n';
}
