/** CSAttention: the bundle's tables score the context keys for the current query (see ../csa/select.ts). */
import type { Model } from '../../model/model.js';
import { selectDispatches, type SelectOptions, type SelectScratch } from '../csa/select.js';
import type { CsaParams, LayerTables } from '../csa/tables.js';
import type { BatchSelector, Selector, SparseMethod } from '../method.js';

export const csa = {
  name: 'csa',
  description: 'CSAttention: prefill-query centroids score keys through lookup lists',
  readsTables: true,
  async prepare({ model, tables, params }) {
    // The tables belong to the session that loaded them.
    const selector = (opts: SelectOptions) => csaSelector(model, tables, params, opts);
    return { selector, batchSelector: selector, centroids: { layers: tables, params }, destroy() {} };
  },
} as const satisfies SparseMethod;

/**
 * CSAttention's selection through each layer's tables: for the model's step, or for `seqs` sequences
 * at once. The layers of a recorded step share their scratch (select.ts, SelectScratch): layer 0
 * makes it, with the step that records it, and the next layers with the same query and positions
 * reuse it, so a batch's per-sequence selectors (distinct queries) keep their own.
 */
export function csaSelector(m: Model, tables: LayerTables[], params: CsaParams, opts: SelectOptions): Selector & BatchSelector {
  const { heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
  const shared: { q: GPUBuffer; step: GPUBuffer; seqs: number; scratch: SelectScratch }[] = [];
  return (l: number, q: GPUBuffer, step: GPUBuffer = m.step, seqs: number = 1) => {
    const at = shared.findIndex((x) => x.q === q && x.step === step && x.seqs === seqs);
    if (l === 0 && at >= 0) shared.splice(at, 1);
    const scratch = l === 0 ? undefined : shared[at]?.scratch;
    const plan = selectDispatches(m.kernels, { q, tables: tables[l], step, Hq, Hkv, d, invFreq: m.invFreq, params, opts, seqs, scratch });
    if (!scratch) shared.push({ q, step, seqs, scratch: plan.scratch });
    return plan;
  };
}
