/**
 * Where the document goes in the prompt. A reusable context is prefilled once, so the prompt is
 * split into three texts: everything up to and including the context (prefilled into the bundle),
 * the separator before the question, and the suffix after it (both kept in the bundle for decode):
 *
 *   prompt = head + context | separator + question + suffix
 *
 * Base models (no chat template) use the plain template `{context}\n\n{prompt}`; chat models get
 * their chat template rendered around two sentinels; `--template` takes a custom one.
 */
import { CsattnError, check } from './errors.js';
import type { Tokenizer } from './tokenizer.js';
import type { BundleTemplate } from './bundle.js';

export const PLAIN_TEMPLATE = '{context}\n\n{prompt}';
const CONTEXT = '\u0000CSATTN_CONTEXT\u0000';
const PROMPT = '\u0000CSATTN_PROMPT\u0000';

export interface SplitTemplate extends BundleTemplate {
  /** Text before the context (e.g. the chat template's system and user headers). */
  head: string;
}

/** `choice`: 'auto' (chat template if the model has one, else plain), 'plain', 'chat', or a custom template text. */
export function splitTemplate(tok: Tokenizer, choice = 'auto'): SplitTemplate {
  if (choice === 'chat' || (choice === 'auto' && tok.chatTemplate !== null)) {
    check(tok.chatTemplate !== null, '--template chat: this model has no chat template', 'input');
    const rendered = tok.applyChatTemplate([{ role: 'user', content: `${CONTEXT}\n\n${PROMPT}` }], { addGenerationPrompt: true });
    return { kind: 'chat', ...cut(rendered, CONTEXT, PROMPT, 'the chat template') };
  }
  if (choice === 'auto' || choice === 'plain') return { kind: 'plain', ...cut(PLAIN_TEMPLATE, '{context}', '{prompt}', 'template') };
  return { kind: 'custom', ...cut(choice, '{context}', '{prompt}', '--template') };
}

function cut(text: string, context: string, prompt: string, what: string): { head: string; separator: string; suffix: string } {
  const c = text.indexOf(context);
  const p = text.indexOf(prompt);
  if (c < 0 || p < 0 || p < c || text.indexOf(context, c + 1) >= 0 || text.indexOf(prompt, p + 1) >= 0) {
    throw new CsattnError(`${what} must contain {context} and then {prompt}, once each`, 'input');
  }
  return { head: text.slice(0, c), separator: text.slice(c + context.length, p), suffix: text.slice(p + prompt.length) };
}

/** Token ids of the context part (BOS as the tokenizer adds it, never twice). */
export function contextIds(tok: Tokenizer, t: SplitTemplate, document: string): number[] {
  return tok.promptIds(t.head + document, { chat: false });
}

/** Token ids that follow the context: separator, question, suffix. */
export function questionIds(tok: Tokenizer, t: BundleTemplate, question: string): number[] {
  return tok.continuationIds(t.separator + question + t.suffix);
}

/** Cuts `ids` to `max` tokens: 'middle' keeps the first and last halves (as LongBench does), 'end' the start. */
export function truncateIds(ids: number[], max: number, how: 'middle' | 'end'): number[] {
  if (ids.length <= max) return ids;
  if (how === 'end') return ids.slice(0, max);
  const half = Math.floor(max / 2);
  return [...ids.slice(0, half), ...ids.slice(ids.length - (max - half))];
}
