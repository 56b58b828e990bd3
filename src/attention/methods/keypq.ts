/** Key-centric CSA (PQCache / Squeezed Attention): CSA's tables clustered from the context keys (see ../baselines.ts). */
import { mapInOrder } from '../../arrays.js';
import { buildKeyTables } from '../baselines.js';
import { destroyTables } from '../csa/tables.js';
import type { SelectOptions } from '../csa/select.js';
import type { SparseMethod } from '../method.js';
import { csaSelector } from './csa.js';

export const keypq = {
  name: 'keypq',
  description: 'CSA with centroids of the context keys, not the queries (PQCache)',
  readsTables: false,
  async prepare({ model: m, N, params }) {
    const { layers, heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
    // Keys have no query heads to pool: their tables are per KV head whatever the bundle's granularity.
    const keyParams = { ...params, granularity: 'kv-head' as const };
    const tables = await mapInOrder(layers, (l) =>
      buildKeyTables(m.kernels, { kCache: m.f16Keys(l, N), N, Hq, Hkv, d, capacity: m.capacity, invFreq: m.invFreq, params: keyParams }));
    const selector = (opts: SelectOptions) => csaSelector(m, tables, keyParams, opts);
    return {
      selector, batchSelector: selector,
      centroids: { layers: tables, params: keyParams },
      destroy: () => tables.forEach((t) => destroyTables(m.gpu, t)),
    };
  },
} as const satisfies SparseMethod;
