// How much of a batch's CSA selections its questions share: over one context, each question's
// selection at an answer step (the first, or with --tokens T the (T - 1)-th; full attention
// carries the steps, as eval's recall probe does), per layer and KV head, and the union of the
// questions' picks by score (sinks and window left out). A batch's sparse decode reads each
// question's rows today; read as a union, a key chosen by several questions would be read once
// (docs/perf-notes.md, Pending 11).
//
//   node scripts/bench/selection-overlap.mjs [--json] [--sparsity 0.95] [--cache DIR] [--tokens T] FILE.jsonl...
//
// FILEs are eval records (context, input) with the facts template; the first 2, 4, ... records of
// one context (the same text) form batches. Each context is prefilled once into a bundle in a
// temporary folder, or in DIR, where a later run finds it (by the context's place in FILEs).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session, DEFAULT_SPARSE, selectOptions } from '../../dist/decode.js';
import { contextBudget } from '../../dist/attention/csa/select.js';
import { keepSelection, readSelection } from '../../dist/eval/recall.js';

const TEMPLATE = '{context}\n\nQuestion: {prompt}\nAnswer:'; // fixtures/facts.templates.json's
const MODEL = 'fixtures/models/tinylm';
const ROOM = 64;

const args = process.argv.slice(2);
const json = args.includes('--json');
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const sparse = { ...DEFAULT_SPARSE, ...(option('--sparsity') ? { sparsity: Number(option('--sparsity')) } : {}) };
const cache = option('--cache');
const tokens = Number(option('--tokens') ?? 2);
const files = args.filter((a) => a.endsWith('.jsonl'));
if (files.length === 0) throw new Error('usage: selection-overlap.mjs [--json] [--sparsity S] [--cache DIR] [--tokens T] FILE.jsonl...');

const contexts = new Map();
for (const f of files) {
  for (const line of readFileSync(f, 'utf8').split('\n').filter(Boolean)) {
    const r = JSON.parse(line);
    if (!contexts.has(r.context)) contexts.set(r.context, []);
    contexts.get(r.context).push(r.input);
  }
}

/** Each layer's selection, copied out as the step runs (eval's recall probe's copy); full attention carries the step. */
function probeAttention(session, select, kept) {
  return (l, q, out) => {
    const k = keepSelection(session.model.gpu, select(l, q));
    kept[l] = k.selection;
    return [...k.ops, ...session.model.fullAttention(l, q, out)];
  };
}

const dir = cache ?? mkdtempSync(join(tmpdir(), 'overlap-'));
mkdirSync(dir, { recursive: true });
const rows = [];
try {
  let i = 0;
  for (const [context, questions] of contexts) {
    const doc = join(dir, `c${i}.txt`);
    const bundle = join(dir, `c${i++}.csa`);
    if (!existsSync(bundle)) {
      writeFileSync(doc, context);
      execFileSync('node', ['bin/csattn.js', 'prefill', doc, '-o', bundle, '--template', TEMPLATE, '--log-level', 'warn', '--reserve', String(ROOM)], { stdio: 'inherit' });
    }
    const session = await Session.open(bundle, MODEL, ROOM);
    try {
      const N = session.contextTokens;
      const b = contextBudget(selectOptions(sparse, N, session.model.capacity));
      const select = await session.selector('csa', sparse);
      const kept = [];
      const attention = probeAttention(session, select, kept);
      const { layers, kvHeads: Hkv, heads: Hq } = session.model.cfg;
      const picks = []; // [question][layer][list] the keys picked by score
      for (const q of questions) {
        const ids = session.questionIds(q, tokens, ROOM);
        await session.generate(ids, { maxTokens: tokens, temperature: 0, topP: 1, seed: 0, stopIds: [] }, attention, 'overlap');
        const perLayer = [];
        for (let l = 0; l < layers; l++) {
          const lists = await readSelection(session.model.gpu, kept[l], kept[l].perQueryHead ? Hq : Hkv);
          perLayer.push(lists.map((list) => Array.from(list).filter((k) => k >= b.sinkEnd && k < b.winStart)));
        }
        picks.push(perLayer);
      }
      // The context's first B questions as a batch, for B = 2, 4, 8, ... up to all of them.
      for (let B = 2; B <= picks.length; B *= 2) rows.push(overlap(picks.slice(0, B), { N, R: b.R, M: b.winStart - b.sinkEnd }));
    } finally {
      await session.close();
    }
  }
} finally {
  if (!cache) rmSync(dir, { recursive: true, force: true });
}

/**
 * For a context's questions: the union of their picks over B·R (1: no key shared, 1/B: the same
 * keys), the same for B independent random picks of R of the M candidates, and the share of a
 * question's picks that another question also picked.
 */
function overlap(picks, { N, R, M }) {
  const B = picks.length;
  let union = 0;
  let shared = 0;
  let lists = 0;
  for (let l = 0; l < picks[0].length; l++) {
    for (let h = 0; h < picks[0][l].length; h++) {
      const sets = picks.map((p) => new Set(p[l][h]));
      union += new Set(sets.flatMap((s) => [...s])).size / (B * R);
      shared += sets.reduce((n, s, i) => n + [...s].filter((k) => sets.some((o, j) => j !== i && o.has(k))).length / R, 0) / B;
      lists++;
    }
  }
  const random = (M * (1 - (1 - R / M) ** B)) / (B * R);
  return { N, B, R, union: union / lists, random, shared: shared / lists };
}

if (json) for (const r of rows) console.log(JSON.stringify(r));
const f = (x) => x.toFixed(3);
console.log('N\tB\tR\tunion/(B·R)\trandom\tshared');
for (const r of rows) console.log(`${r.N}\t${r.B}\t${r.R}\t${f(r.union)}\t${f(r.random)}\t${f(r.shared)}`);
for (const B of [...new Set(rows.map((r) => r.B))]) {
  const of = rows.filter((r) => r.B === B);
  const mean = (k) => of.reduce((n, r) => n + r[k], 0) / of.length;
  console.log(`B = ${B}, mean over ${of.length} contexts: union/(B·R) ${f(mean('union'))}, random ${f(mean('random'))}, shared ${f(mean('shared'))}`);
}
