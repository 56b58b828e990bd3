/**
 * The sparse attention methods, registered in one place (as llama.cpp registers its
 * architectures): the CLI's choices and help, the eval report's order and Session's selectors all
 * read this list. Each method is a factory in src/attention/methods/: what it builds once over a
 * loaded context, then a per-layer key selection for any budget. Adding a method is one file and
 * one entry here.
 */
import type { Model, Op } from '../model/model.js';
import type { Selection, SelectOptions } from './csa/select.js';
import type { CsaParams, LayerTables } from './csa/tables.js';
import { csa } from './methods/csa.js';
import { keypq } from './methods/keypq.js';
import { oracle } from './methods/oracle.js';
import { quest } from './methods/quest.js';
import { streaming } from './methods/streaming.js';

/** The key selection of one layer for the query of the current step. */
export type Selector = (l: number, q: GPUBuffer) => { dispatches: Op[]; selection: Selection };

/** A context ready to decode from: the model with the context in its KV cache, and the bundle's CSA tables. */
export interface LoadedContext {
  model: Model;
  /** Context tokens in the cache. */
  N: number;
  /** CSA's tables of each layer, and the parameters they were built with (owned by the caller). */
  tables: LayerTables[];
  params: CsaParams;
}

/** A method ready on one context: a selector per budget; `destroy` frees what `prepare` built. */
export interface PreparedMethod {
  selector(opts: SelectOptions): Selector;
  destroy(): void;
}

export interface SparseMethod {
  readonly name: string;
  /** One line for --help. */
  readonly description: string;
  /** Builds what the method needs over the context (Quest's pages, key-centric tables): once per context. */
  prepare(c: LoadedContext): Promise<PreparedMethod>;
}

/** In the order of the help texts and the report. */
export const METHODS = [csa, oracle, streaming, quest, keypq] as const;

export type Method = (typeof METHODS)[number]['name'];

export const METHOD_NAMES: readonly Method[] = METHODS.map((m) => m.name);

/** Attention for generated tokens: full, or a sparse method at a budget of context keys. */
export type AttentionKind = 'full' | Method;

/** Full attention first: the reference the methods are compared with. */
export const ATTENTION_KINDS: readonly AttentionKind[] = ['full', ...METHOD_NAMES];

export function isMethod(name: string): name is Method {
  return (METHOD_NAMES as readonly string[]).includes(name);
}

export function methodOf(name: Method): SparseMethod {
  return METHODS.find((m) => m.name === name)!;
}
