/**
 * CSAttention in blocks: the bundle's tables score the keys as csa's do, then each block of
 * CSA_BLOCK_KEYS consecutive keys ranks by its members' mean and whole blocks fill the budget
 * (issue #17's question: does selecting runs of adjacent rows, which the attention reads side by
 * side and the top-K ranks in fewer units, keep csa's fidelity?). Same tables, same budget.
 */
import type { SelectOptions } from '../csa/select.js';
import type { SparseMethod } from '../method.js';
import { csaSelector } from './csa.js';

export const CSA_BLOCK_KEYS = 8;

export const csaBlocks = {
  name: 'csa-blocks',
  description: `CSA's key scores as means of blocks of ${CSA_BLOCK_KEYS} keys: whole blocks taken`,
  readsTables: true,
  async prepare({ model, tables, params }) {
    const selector = (opts: SelectOptions) => csaSelector(model, tables, params, opts, CSA_BLOCK_KEYS);
    // csa's centroids: the eval's cosine to them is csa's.
    return { selector, batchSelector: selector, destroy() {} };
  },
} as const satisfies SparseMethod;
