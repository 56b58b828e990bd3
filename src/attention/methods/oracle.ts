/** The oracle: exact top-K by the true logits q·k (see ../baselines.ts). */
import { oracleDispatches } from '../baselines.js';
import type { SparseMethod } from '../method.js';

export const oracle = {
  name: 'oracle',
  description: 'exact top-K by the true logits q·k: the upper bound of any selector',
  readsTables: false,
  async prepare({ model: m }) {
    const { heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
    return {
      selector: (opts) => (l, q, step = m.step) => {
        const kv = m.f16Kv(l, 1); // a q8 cache's keys as f16, up to this step's
        const plan = oracleDispatches(m.kernels, { q, kCache: kv.k, step, Hq, Hkv, d, capacity: m.capacity, opts });
        return { dispatches: [...kv.ops, ...plan.dispatches], selection: plan.selection };
      },
      destroy() {},
    };
  },
} as const satisfies SparseMethod;
