/**
 * What a sparse attention method is: a factory that prepares once over a loaded context, then
 * selects each layer's keys for a budget. The methods themselves are listed in methods.ts.
 */
import type { Model, Op } from '../model/model.js';
import type { Selection, SelectOptions } from './csa/select.js';
import type { CsaParams, LayerTables } from './csa/tables.js';

/**
 * The key selection of one layer for the query of the current step; `step`: the position uniform
 * it reads (the model's by default; each sequence's own in a batch).
 */
export type Selector = (l: number, q: GPUBuffer, step?: GPUBuffer) => { dispatches: Op[]; selection: Selection };

/**
 * The key selection of one layer for `seqs` sequences at once, each at its own position (a batch's):
 * q [seqs, Hq, d], positions u32 [seqs]; the selection's lists are each sequence's in turn. One
 * pass for all costs the dispatches of one sequence, not seqs times them.
 */
export type BatchSelector = (l: number, q: GPUBuffer, positions: GPUBuffer, seqs: number) => { dispatches: Op[]; selection: Selection };

/** A context ready to decode from: the model with the context in its KV cache, and the bundle's CSA tables. */
export interface LoadedContext {
  model: Model;
  /** Context tokens in the cache. */
  N: number;
  /** CSA's tables of each layer, and the parameters they were built with (owned by the caller). */
  tables: LayerTables[];
  params: CsaParams;
}

/** Tables of centroids a selection scores through (csa's of the prefill queries, keypq's of the keys). */
export interface CentroidTables {
  /** Each layer's tables (owned by the method or the session, as for selection). */
  layers: LayerTables[];
  /** The settings they were built with: the granularity and RoPE side of their centroids. */
  params: CsaParams;
}

/** A method ready on one context: a selector per budget; `destroy` frees what `prepare` built. */
export interface PreparedMethod {
  selector(opts: SelectOptions): Selector;
  /** Methods that can select for a batch's sequences in one pass (through CSA's tables). */
  batchSelector?(opts: SelectOptions): BatchSelector;
  /** The centroid tables it selects through, if any: what `csattn eval` compares the decode queries with. */
  centroids?: CentroidTables;
  destroy(): void;
}

export interface SparseMethod {
  readonly name: string;
  /** One line for --help. */
  readonly description: string;
  /** Whether `prepare` reads the context's CSA tables (LoadedContext.tables): callers that build them only for the method skip them otherwise. */
  readonly readsTables: boolean;
  /** Builds what the method needs over the context (Quest's pages, key-centric tables): once per context. */
  prepare(c: LoadedContext): Promise<PreparedMethod>;
}
