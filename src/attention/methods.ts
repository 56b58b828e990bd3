/**
 * The sparse attention methods, registered in one place (as llama.cpp registers its
 * architectures): the CLI's choices and help, the eval report's order and Session's selectors all
 * read this list. Each method is a factory in src/attention/methods/: what it builds once over a
 * loaded context, then a per-layer key selection for any budget. Adding a method is one file and
 * one entry here.
 */
import type { SparseMethod } from './method.js';
import { csa } from './methods/csa.js';
import { keypq } from './methods/keypq.js';
import { oracle } from './methods/oracle.js';
import { quest } from './methods/quest.js';
import { streaming } from './methods/streaming.js';

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
