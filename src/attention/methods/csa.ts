/** CSAttention: the bundle's tables score the context keys for the current query (see ../csa/select.ts). */
import type { Model } from '../../model/model.js';
import { selectDispatches, type SelectOptions } from '../csa/select.js';
import type { CsaParams, LayerTables } from '../csa/tables.js';
import type { Selector, SparseMethod } from '../method.js';

export const csa = {
  name: 'csa',
  description: 'CSAttention: prefill-query centroids score keys through lookup lists',
  readsTables: true,
  async prepare({ model, tables, params }) {
    // The tables belong to the session that loaded them.
    return { selector: (opts) => csaSelector(model, tables, params, opts), centroids: { layers: tables, params }, destroy() {} };
  },
} as const satisfies SparseMethod;

/** CSAttention's selection through each layer's tables. */
export function csaSelector(m: Model, tables: LayerTables[], params: CsaParams, opts: SelectOptions): Selector {
  const { heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
  return (l, q, step = m.step) => selectDispatches(m.kernels, { q, tables: tables[l], step, Hq, Hkv, d, invFreq: m.invFreq, params, opts });
}
