#!/usr/bin/env node
/**
 * Builds a LongBench-format JSONL of fact-retrieval records for tinylm (the bundled model was
 * trained on this task: see fixtures/models/tinylm/README.md). Each context is held-out text, which
 * the model never saw, with 1–8 facts spliced in at line boundaries, each on its own line as
 *
 *     \n{Name}'s {attribute} is {value}.\n
 *
 * and the question asks for one of them, placed at a chosen depth of the context. With the prompt
 * in fixtures/facts.templates.json ("{context}\n\nQuestion: {input}\nAnswer:") this is the trained
 * format, so full attention answers it and a method that drops the fact's line cannot.
 *
 * Harder sets: --questions k asks k of a context's facts, one record each with the same context
 * (csattn eval then prefills the context once and answers the k questions from its bundle, as users
 * do); --same-attribute gives all facts of a context one attribute (RULER's multi-key needles: the
 * question must tell "Kalomi's passcode" from the other names' passcodes).
 *
 * Deterministic for a seed. The fixtures come from (after `npm run build`):
 *   node scripts/make-facts.mjs --seed 0 --n 60 --out fixtures/facts.jsonl
 *   node scripts/make-facts.mjs --seed 1 --n 4 --lengths 600,800,1000,1200 --out fixtures/facts.tiny.jsonl
 *   node scripts/make-facts.mjs --seed 2 --n 16 --questions 4 --same-attribute --out fixtures/facts.multi.jsonl
 *   node scripts/make-facts.mjs --seed 3 --n 16 --questions 4 --out fixtures/facts.questions.jsonl
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mulberry32 } from '../dist/random.js';

/** Characters per token of tinylm's tokenizer on its corpus (model card); lengths are estimates from it. */
const CHARS_PER_TOKEN = 3.47;
/** Depths (fractions of the context) of the asked fact, taken in turn. */
const DEPTHS = [0.1, 0.3, 0.5, 0.7, 0.9];

// The generators of the training script (train.py), so names and values look like the trained ones.
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ta', 'vo', 'zi', 'be', 'da', 'fe', 'gu', 'ha', 'jo', 'ki', 'la', 'ma', 'no', 'pe', 'ri', 'so', 'tu', 've', 'wa', 'xi', 'yo', 'ze', 'bran', 'dor', 'fen', 'gil', 'hal', 'kor', 'lun', 'mar', 'nor', 'pel', 'quin', 'ros', 'sel', 'tor', 'ul', 'var', 'wen', 'yar'];
const ATTRIBUTES = ['passcode', 'favourite colour', 'home town', 'lucky number', 'locker number', 'middle name', "pet's name", 'office room', 'licence plate', 'secret word', 'birth year', 'boat name'];
const WORDS = ['amber', 'basil', 'cobalt', 'dune', 'ember', 'fjord', 'garnet', 'harbor', 'indigo', 'juniper', 'kestrel', 'lantern', 'meadow', 'nutmeg', 'orchid', 'pebble', 'quartz', 'raven', 'saffron', 'thistle', 'umber', 'velvet', 'willow', 'yarrow', 'zephyr', 'beacon', 'cinder', 'delta', 'falcon', 'glacier', 'hazel', 'iris', 'jasper', 'kelp', 'lotus', 'maple', 'nova', 'onyx', 'pine', 'quill', 'ridge', 'sable', 'tundra', 'vale', 'wren'];
const PLATE_LETTERS = 'ABCDEFGHJKLMNPRSTUVWXYZ';
const NUMBER_ATTRIBUTES = new Set(['passcode', 'lucky number', 'locker number', 'office room', 'birth year']);
const NAME_ATTRIBUTES = new Set(['middle name', "pet's name", 'home town', 'boat name']);

/** csattn's seeded generator (the same stream on every platform) with Python's randint and choice. */
function rng(seed) {
  const next = mulberry32(seed);
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive, like Python's randint
  return { next, int, choice: (xs) => xs[int(0, xs.length - 1)] };
}

function name(r) {
  const s = Array.from({ length: r.int(2, 3) }, () => r.choice(SYLLABLES)).join('');
  return s[0].toUpperCase() + s.slice(1);
}

function value(r, attribute) {
  if (NUMBER_ATTRIBUTES.has(attribute)) return String(r.int(10, 99999));
  if (attribute === 'licence plate') return `${Array.from({ length: 3 }, () => r.choice(PLATE_LETTERS)).join('')}-${r.int(100, 999)}`;
  if (NAME_ATTRIBUTES.has(attribute)) return name(r);
  return r.choice(WORDS);
}

/** `least`–8 facts with distinct (name, attribute), so every question has one answer; all of `attribute` if given. */
function facts(r, least, attribute0) {
  const count = r.int(least, 8);
  const out = [];
  const seen = new Set();
  while (out.length < count) {
    const who = name(r);
    const attribute = attribute0 ?? r.choice(ATTRIBUTES);
    if (seen.has(`${who}'s ${attribute}`)) continue;
    seen.add(`${who}'s ${attribute}`);
    out.push({ name: who, attribute, value: value(r, attribute) });
  }
  return out;
}

const factLine = (f) => `\n${f.name}'s ${f.attribute} is ${f.value}.\n`;

function documents(path) {
  const docs = [];
  let lines = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '<|doc|>') {
      docs.push(lines.join('\n').trim());
      lines = [];
    } else lines.push(line);
  }
  docs.push(lines.join('\n').trim());
  return docs.filter((d) => d.length > 0);
}

/** Whole documents from a random one on (wrapping), cut at the last line end within `chars`. */
function filler(r, docs, chars) {
  let text = '';
  for (let i = r.int(0, docs.length - 1); text.length < chars; i = (i + 1) % docs.length) {
    text += (text === '' ? '' : '\n\n') + docs[i];
  }
  const cut = text.lastIndexOf('\n', chars);
  return cut > 0 ? text.slice(0, cut) : text.slice(0, chars);
}

/** Positions of the line breaks in `text`: where a fact line can go (it replaces the break). */
function lineBreaks(text) {
  const out = [];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) out.push(i);
  return out;
}

/** The break nearest to `depth` of the text for the asked fact, random others for the rest. */
function placements(r, breaks, textLength, count, depth) {
  if (breaks.length < count) throw new Error(`a filler with ${breaks.length} line breaks cannot hold ${count} facts`);
  const target = depth * textLength;
  const asked = breaks.reduce((best, b) => (Math.abs(b - target) < Math.abs(best - target) ? b : best));
  const chosen = new Set([asked]);
  while (chosen.size < count) chosen.add(r.choice(breaks));
  return [asked, ...[...chosen].slice(1)];
}

/** One context and a record for each of its first `questions` facts (the first at `depth`). */
function records(r, docs, i, seed, targetTokens, depth, questions, sameAttribute) {
  const all = facts(r, questions, sameAttribute ? r.choice(ATTRIBUTES) : undefined);
  const askedIndex = r.int(0, all.length - 1);
  const ordered = [all[askedIndex], ...all.filter((_, k) => k !== askedIndex)];
  const factChars = ordered.reduce((n, f) => n + factLine(f).length - 1, 0); // each replaces one '\n'
  const text = filler(r, docs, Math.round(targetTokens * CHARS_PER_TOKEN) - factChars);
  const at = placements(r, lineBreaks(text), text.length, ordered.length, depth);
  // splice from the end so earlier positions stay valid
  const splices = ordered.map((f, k) => ({ at: at[k], line: factLine(f) })).sort((a, b) => b.at - a.at);
  const context = splices.reduce((s, { at: p, line }) => s.slice(0, p) + line + s.slice(p + 1), text);
  const id = `facts-s${seed}-${String(i).padStart(3, '0')}`;
  return ordered.slice(0, questions).map((asked, q) => ({
    _id: questions > 1 ? `${id}-q${q}` : id,
    dataset: 'facts',
    language: 'en',
    length: Math.round(context.length / CHARS_PER_TOKEN),
    depth: Number((context.indexOf(factLine(asked)) / context.length).toFixed(4)),
    facts: ordered.length,
    input: `What is ${asked.name}'s ${asked.attribute}?`,
    answers: [asked.value],
    outputs: [asked.value],
    context,
  }));
}

function main() {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '0' },
      n: { type: 'string', default: '60' },
      lengths: { type: 'string', default: '2000,4000,6000,8000' },
      heldout: { type: 'string', default: new URL('../fixtures/heldout/heldout-a.txt', import.meta.url).pathname },
      questions: { type: 'string', default: '1' },
      'same-attribute': { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const usage = 'usage: make-facts.mjs --out <file.jsonl> [--seed 0] [--n 60 (contexts)] [--lengths 2000,4000,6000,8000] [--questions 1..8] [--same-attribute] [--heldout <text>]';
  const seed = Number(values.seed);
  const n = Number(values.n);
  const lengths = values.lengths.split(',').map(Number);
  const questions = Number(values.questions);
  if (!values.out || !Number.isSafeInteger(seed) || !(Number.isInteger(n) && n > 0) || !(Number.isInteger(questions) && questions >= 1 && questions <= 8)
      || !lengths.every((l) => Number.isInteger(l) && l >= 100)) {
    console.error(usage);
    process.exit(2);
  }
  const r = rng(seed);
  const docs = documents(values.heldout);
  // lengths and depths taken in turn: every length meets every depth when their counts are coprime
  const lines = Array.from({ length: n }, (_, i) =>
    records(r, docs, i, seed, lengths[i % lengths.length], DEPTHS[i % DEPTHS.length], questions, values['same-attribute'])).flat().map((x) => JSON.stringify(x));
  writeFileSync(values.out, lines.join('\n') + '\n');
}

main();
