/** CSAttention: the bundle's tables score the context keys for the current query (see ../csa/select.ts). */
import type { Model } from '../../model/model.js';
import { selectDispatches, type SelectOptions } from '../csa/select.js';
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

/** CSAttention's selection through each layer's tables: for the model's step, or for `seqs` sequences at once. */
export function csaSelector(m: Model, tables: LayerTables[], params: CsaParams, opts: SelectOptions): Selector & BatchSelector {
  const { heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
  return (l: number, q: GPUBuffer, step: GPUBuffer = m.step, seqs: number = 1) => selectDispatches(m.kernels, { q, tables: tables[l], step, Hq, Hkv, d, invFreq: m.invFreq, params, opts, seqs });
}
