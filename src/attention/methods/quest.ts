/** Quest: whole pages of keys ranked by an upper bound of q·k (see ../baselines.ts). */
import { mapInOrder } from '../../arrays.js';
import { release } from '../../gpu/device.js';
import { QUEST_PAGE_SIZE, questDispatches, questPages } from '../baselines.js';
import type { SparseMethod } from '../method.js';

export const quest = {
  name: 'quest',
  description: `Quest: pages of ${QUEST_PAGE_SIZE} keys by an upper bound of q·k, per query head`,
  readsTables: false,
  async prepare({ model: m, N }) {
    const { layers, heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
    const pages = await mapInOrder(layers, (l) => questPages(m.kernels, { kCache: m.f16Keys(l, N), Hkv, d, capacity: m.capacity, N }));
    return {
      selector: (opts) => (l, q, step = m.step) => questDispatches(m.kernels, { q, pages: pages[l], step, Hq, Hkv, d, opts }),
      destroy: () => pages.forEach((p) => release(m.gpu, p.bounds)),
    };
  },
} as const satisfies SparseMethod;
