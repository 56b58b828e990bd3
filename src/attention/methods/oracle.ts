/** The oracle: exact top-K by the true logits q·k (see ../baselines.ts). */
import { oracleDispatches } from '../baselines.js';
import type { SparseMethod } from '../method.js';

export const oracle = {
  name: 'oracle',
  description: 'exact top-K by the true logits q·k: the upper bound of any selector',
  async prepare({ model: m }) {
    const { heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
    return {
      selector: (opts) => (l, q) => oracleDispatches(m.kernels, { q, kCache: m.cache.k[l], step: m.step, Hq, Hkv, d, capacity: m.capacity, opts }),
      destroy() {},
    };
  },
} as const satisfies SparseMethod;
