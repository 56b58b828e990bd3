/** StreamingLLM: the sinks and the most recent context keys, no ranking (see ../baselines.ts). */
import { streamingDispatches } from '../baselines.js';
import type { SparseMethod } from '../method.js';

export const streaming = {
  name: 'streaming',
  description: 'sinks and the most recent keys only (StreamingLLM): the floor',
  readsTables: false,
  async prepare({ model: m }) {
    return {
      selector: (opts) => (_l, _q, step = m.step) => streamingDispatches(m.kernels, { step, Hkv: m.cfg.kvHeads, opts }),
      destroy() {},
    };
  },
} as const satisfies SparseMethod;
