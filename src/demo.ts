/**
 * `csattn demo`: the main job on what ships. Prefills a bundled document (held-out text with a few
 * facts spliced in, one per line, as the bundled model was trained to retrieve) into a bundle with
 * CSAttention's tables, then answers a question about one of the facts with CSA, and shows the
 * answer, the bundle's size and how many keys each generated token attended.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CSA } from './attention/csa/tables.js';
import { DEFAULT_SPARSE, Session } from './decode.js';
import { check } from './errors.js';
import { readInputFile, tempPathFor } from './fsutil.js';
import { textSink } from './generate.js';
import { fmtBytes } from './gpu/device.js';
import type { Logger } from './log.js';
import { DEFAULT_CHUNK_SIZE } from './model/model.js';
import { DEFAULT_MODEL, DEMO_DOCUMENT, DEMO_QUESTION } from './paths.js';
import { prefillDocument } from './prefill.js';
import { Tokenizer } from './tokenizer.js';

/** The answer is a short value on its own line. */
const ANSWER_TOKENS = 8;
/** Positions after the context for the question (about 15 tokens) and the answer. */
const ROOM = 64 + ANSWER_TOKENS;

export interface DemoOptions {
  /** Where to keep the bundle; a temp file, removed at the end, if absent. */
  out?: string;
  sparsity: number;
  log: Logger;
}

export interface DemoResult {
  document: string;
  contextTokens: number;
  bundle: string | null;
  bundleBytes: number;
  kvBytes: number;
  tableBytes: number;
  prefillMs: number;
  tablesMs: number;
  question: string;
  expected: string;
  answer: string;
  correct: boolean;
  attention: 'csa';
  sparsity: number;
  contextKeysPerStep: number;
  keysPerStep: number;
  questionTokens: number;
  answerTokens: number;
  msPerToken: number;
  totalMs: number;
}

function demoQuestion(): { question: string; answer: string } {
  const q = JSON.parse(readInputFile(DEMO_QUESTION, 'the demo question').toString('utf8'));
  check(typeof q?.question === 'string' && typeof q?.answer === 'string', `${DEMO_QUESTION}: expected {"question", "answer"}`, 'format');
  return q;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const { question, answer: expected } = demoQuestion();
  // A temp bundle goes at exit even on Ctrl-C (tempPathFor registers it).
  const temp = o.out === undefined ? tempPathFor(join(tmpdir(), 'csattn-demo.csa')) : null;
  const bundle = o.out ?? temp!.tmp;
  try {
    const p = await prefillDocument({
      document: DEMO_DOCUMENT, out: bundle, modelDir: DEFAULT_MODEL, weights: 'f16', template: 'auto', reserve: ROOM,
      chunkSize: DEFAULT_CHUNK_SIZE, csa: DEFAULT_CSA, log: o.log,
    });
    const tok = await Tokenizer.load(DEFAULT_MODEL);
    const session = await Session.open(bundle, DEFAULT_MODEL, ROOM);
    try {
      const sink = textSink(tok, ['\n'], () => {});
      const sparse = { ...DEFAULT_SPARSE, sparsity: o.sparsity };
      const greedy = { maxTokens: ANSWER_TOKENS, temperature: 0, topP: 1, seed: 0, stopIds: tok.eosIds };
      const r = await session.answer(question, 'csa', sparse, greedy, sink.onToken);
      const answer = sink.finish().trim();
      return {
        document: DEMO_DOCUMENT, contextTokens: p.tokens, bundle: o.out ?? null, bundleBytes: p.fileBytes, kvBytes: p.kvBytes,
        tableBytes: p.tableBytes, prefillMs: p.prefillMs, tablesMs: p.tablesMs, question, expected, answer,
        correct: answer === expected, attention: 'csa', sparsity: o.sparsity, contextKeysPerStep: r.contextKeysPerStep,
        keysPerStep: r.keysPerStep, questionTokens: r.questionTokens, answerTokens: r.ids.length,
        msPerToken: r.timings.msPerToken, totalMs: performance.now() - t0,
      };
    } finally {
      await session.close();
    }
  } finally {
    if (temp) {
      await rm(temp.tmp, { force: true });
      temp.settled();
    }
  }
}

/** Bash's $'...' quoting: the question's line break stays a line break when pasted. */
function shellQuote(s: string): string {
  return `$'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** What the demo did, for people. */
export function formatDemo(r: DemoResult): string {
  const share = ((100 * r.contextKeysPerStep) / r.contextTokens).toFixed(1);
  const where = r.bundle ?? 'a temp file, removed now: keep it with --out demo.csa';
  const oneLine = (s: string) => s.replace(/\n/g, ' ');
  return [
    `1. prefill  ${r.document}: ${r.contextTokens} tokens of held-out text with a few facts in it, in ${seconds(r.prefillMs + r.tablesMs)}`,
    `   bundle   ${fmtBytes(r.bundleBytes)} = KV cache ${fmtBytes(r.kvBytes)} + CSA lookup tables ${fmtBytes(r.tableBytes)} (${where})`,
    `2. decode   ${oneLine(r.question)}`,
    `   answer   ${r.answer}   (the document says ${r.expected}: ${r.correct ? 'right' : 'wrong'})`,
    `   keys     CSA at sparsity ${r.sparsity}: each generated token attended ${r.contextKeysPerStep} of the ${r.contextTokens} context keys (${share}%),`,
    `            plus the ${r.questionTokens} question tokens and the answer so far; ${r.msPerToken.toFixed(1)} ms/token`,
    `done in ${seconds(r.totalMs)}. The same by hand:`,
    `  csattn prefill ${r.document} -o demo.csa`,
    `  csattn decode demo.csa --prompt ${shellQuote(r.question)} --max-tokens ${ANSWER_TOKENS} --json --stop $'\\n'`,
    '',
  ].join('\n');
}
