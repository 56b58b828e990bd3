/**
 * LongBench's scoring (THUDM/LongBench metrics.py and eval.py) reproduced quirk for quirk, so that
 * csattn's numbers line up with published ones. Python semantics that JavaScript does not share are
 * spelled out: str.split()/isspace whitespace, Unicode \b and \d in `re`, round-half-to-even.
 *
 * Deviation: LongBench segments Chinese with jieba (qa_f1_zh, rouge_zh), which has no port here.
 * We segment per character instead: every character is a token except runs of ASCII letters and
 * digits, which stay one word as jieba keeps them. Chinese scores are therefore per character where
 * LongBench's are per word: comparable between csattn runs, not with published Chinese numbers.
 */
import { distance } from 'fuzzball';
import { check, CsattnError } from '../errors.js';
import { maxOf } from '../arrays.js';

/** LongBench's metrics (eval.py's names) and RULER's two string matches. */
export const METRIC_NAMES = [
  'qa_f1', 'qa_f1_zh', 'rouge', 'rouge_zh', 'classification', 'retrieval', 'retrieval_zh', 'count', 'code_sim',
  'string_match_all', 'string_match_part',
] as const;

export type MetricName = (typeof METRIC_NAMES)[number];

export function isMetricName(name: unknown): name is MetricName {
  return (METRIC_NAMES as readonly unknown[]).includes(name);
}

/** eval.py scores only the first line of these predictions (few-shot tasks where models keep going). */
export const FIRST_LINE_DATASETS: Set<string> = new Set(['trec', 'triviaqa', 'samsum', 'lsht']);

/** eval.py's dataset2metric. */
export const DATASET_METRIC: Record<string, MetricName> = {
  narrativeqa: 'qa_f1',
  qasper: 'qa_f1',
  multifieldqa_en: 'qa_f1',
  multifieldqa_zh: 'qa_f1_zh',
  hotpotqa: 'qa_f1',
  '2wikimqa': 'qa_f1',
  musique: 'qa_f1',
  dureader: 'rouge_zh',
  gov_report: 'rouge',
  qmsum: 'rouge',
  multi_news: 'rouge',
  vcsum: 'rouge_zh',
  trec: 'classification',
  triviaqa: 'qa_f1',
  samsum: 'rouge',
  lsht: 'classification',
  passage_retrieval_en: 'retrieval',
  passage_count: 'count',
  passage_retrieval_zh: 'retrieval_zh',
  lcc: 'code_sim',
  'repobench-p': 'code_sim',
};

export function metricFor(dataset: string): MetricName {
  if (Object.hasOwn(DATASET_METRIC, dataset)) return DATASET_METRIC[dataset];
  throw new CsattnError(`no LongBench metric for dataset "${dataset}"`);
}

/** One metric on one (prediction, ground truth) pair, in [0, 1]. */
export function scoreOne(metric: MetricName, prediction: string, groundTruth: string, allClasses?: string[] | null): number {
  return SCORERS[metric](prediction, groundTruth, allClasses);
}

/**
 * One record's score, ×100: trec/triviaqa/samsum/lsht predictions cut at the first newline (after
 * lstrip('\n')) as eval.py does; LongBench's metrics take the best reference, RULER's score the
 * list as a whole. The metric defaults to LongBench's for the dataset.
 */
export function scoreRecord(dataset: string, prediction: string, references: string[], allClasses?: string[] | null,
  metric: MetricName = metricFor(dataset)): number {
  const pred = FIRST_LINE_DATASETS.has(dataset) ? prediction.replace(/^\n+/, '').split('\n')[0] : prediction;
  if (metric === 'string_match_all') return stringMatchAll(pred, references);
  if (metric === 'string_match_part') return stringMatchPart(pred, references);
  return 100 * maxOf(references.map((answer) => scoreOne(metric, pred, answer, allClasses)), 0);
}

/** RULER's string_match_all: percentage of the `outputs` strings contained (case-insensitive) in the prediction. */
export function stringMatchAll(prediction: string, outputs: string[]): number {
  check(outputs.length > 0, 'string_match_all needs at least one expected output');
  const pred = prediction.toLowerCase();
  return (100 * outputs.filter((o) => pred.includes(o.toLowerCase())).length) / outputs.length;
}

/** RULER's string_match_part: 100 if any of the `outputs` strings is contained (case-insensitive) in the prediction, else 0. */
export function stringMatchPart(prediction: string, outputs: string[]): number {
  check(outputs.length > 0, 'string_match_part needs at least one expected output');
  const pred = prediction.toLowerCase();
  return outputs.some((o) => pred.includes(o.toLowerCase())) ? 100 : 0;
}

type Scorer = (prediction: string, groundTruth: string, allClasses?: string[] | null) => number;

const SCORERS: Record<MetricName, Scorer> = {
  qa_f1: (p, g) => tokenF1(pySplit(normalizeAnswer(p)), pySplit(normalizeAnswer(g))),
  qa_f1_zh: (p, g) => tokenF1(zhTokens(p), zhTokens(g)),
  rouge: (p, g) => rougeL(p, g, PY_FRAME_LIMIT - ROUGE_FRAMES),
  rouge_zh: (p, g) => rougeL(segmentZh(p).join(' '), segmentZh(g).join(' '), PY_FRAME_LIMIT - ROUGE_FRAMES - 1),
  classification: classificationScore,
  retrieval: (p, g) => numberHitRate(p, paragraphId(g, /Paragraph (\p{Nd}+)/u)),
  retrieval_zh: (p, g) => numberHitRate(p, paragraphId(g, /段落(\p{Nd}+)/u)),
  count: numberHitRate,
  code_sim: codeSimScore,
  string_match_all: (p, g) => stringMatchAll(p, [g]) / 100,
  string_match_part: (p, g) => stringMatchPart(p, [g]) / 100,
};

// ---- Python string semantics ----

/** Python's str.isspace() set (JS \s adds U+FEFF and lacks U+001C..U+001F and U+0085). */
const PY_SPACE_RUN = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;

/** Python's str.split() without a separator. */
function pySplit(s: string): string[] {
  return s.split(PY_SPACE_RUN).filter((w) => w.length > 0);
}

/** Python 3's round(): exact halves go to the even neighbour. */
function pyRound(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Drops every code point in `chars`. */
function removeChars(s: string, chars: Set<string>): string {
  return Array.from(s).filter((ch) => !chars.has(ch)).join('');
}

// ---- token F1 ----

/** Python's string.punctuation. */
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const EN_PUNCTUATION = new Set(PUNCTUATION);
/** metrics.py's Chinese list (it has 》 but not 《) plus string.punctuation. */
const ZH_PUNCTUATION = new Set(
  PUNCTUATION + '！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.',
);
/** r"\b(a|an|the)\b" with Python's Unicode word characters (letters, digits, '_'), where JS \b is ASCII only. */
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

/** normalize_answer: lower, drop punctuation, drop articles, collapse whitespace. */
function normalizeAnswer(s: string): string {
  return pySplit(removeChars(s.toLowerCase(), EN_PUNCTUATION).replace(ARTICLES, ' ')).join(' ');
}

/** normalize_zh_answer: lower, drop Chinese and English punctuation, drop whitespace. */
function normalizeZh(s: string): string {
  return pySplit(removeChars(s.toLowerCase(), ZH_PUNCTUATION)).join('');
}

/** Stand-in for jieba.cut (see the top of the file); whitespace tokens are kept, as jieba yields them. */
function segmentZh(s: string): string[] {
  return s.match(/[A-Za-z0-9]+|[^]/gu) ?? [];
}

function zhTokens(s: string): string[] {
  return segmentZh(s).map(normalizeZh).filter((t) => t.length > 0);
}

/** f1_score: the Counter intersection of the two token multisets. */
function tokenF1(prediction: string[], truth: string[]): number {
  const left = new Map<string, number>();
  for (const t of truth) left.set(t, (left.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of prediction) {
    const n = left.get(t) ?? 0;
    if (n > 0) {
      same++;
      left.set(t, n - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / prediction.length;
  const recall = same / truth.length;
  return (2 * precision * recall) / (precision + recall);
}

// ---- ROUGE-L (the `rouge` package, 1.0.1, as Rouge().get_scores(..., avg=True)['rouge-l']['f']) ----

/**
 * rouge's _recon recurses once per step of its LCS walk, and CPython allows 1000 Python frames
 * (measured on 3.11). eval.py's rouge path has 9 frames under the first _recon call (module, scorer,
 * rouge_score, get_scores, _get_avg_scores, the metric lambda, rouge_l_summary_level, _union_lcs,
 * _recon_lcs), rouge_zh's one more. A longer walk raises RecursionError, which LongBench's bare
 * except scores 0: long sentences hit this, and Chinese text, which '.' never splits, often does.
 */
const PY_FRAME_LIMIT = 1000;
const ROUGE_FRAMES = 9;

/** rouge's sentences: split on '.', drop empty pieces *before* collapsing whitespace ("x. " keeps a sentence ""). */
function rougeSentences(text: string): string[][] {
  return text.split('.').filter((s) => s.length > 0).map((s) => pySplit(s).join(' ').split(' '));
}

/**
 * rouge_l_summary_level's F: the union of per-sentence-pair LCS word sets against distinct-word
 * counts; 0 where rouge would raise, as LongBench's try/except does.
 */
function rougeL(prediction: string, groundTruth: string, maxDepth: number): number {
  const hyp = rougeSentences(prediction);
  const ref = rougeSentences(groundTruth);
  if (hyp.length === 0 || ref.length === 0) return 0; // rouge raises "Hypothesis is empty."
  const union = new Set<string>();
  for (const r of ref) {
    for (const h of hyp) {
      const lcs = reconLcs(r, h, maxDepth);
      if (lcs === undefined) return 0;
      for (const w of lcs) union.add(w);
    }
  }
  const p = union.size / new Set(hyp.flat()).size;
  const r = union.size / new Set(ref.flat()).size;
  return 2 * ((p * r) / (p + r + 1e-8));
}

/**
 * The words of x on the LCS that rouge's _recon_lcs(x, y) walks back (ties step along y), or
 * undefined where that walk nests more than maxDepth calls.
 */
function reconLcs(x: string[], y: string[], maxDepth: number): string[] | undefined {
  if (Math.min(x.length, y.length) >= maxDepth) return undefined; // every walk is that long: spare the table
  const w = y.length + 1;
  const table = new Int32Array((x.length + 1) * w);
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      table[i * w + j] = x[i - 1] === y[j - 1]
        ? table[(i - 1) * w + j - 1] + 1
        : Math.max(table[(i - 1) * w + j], table[i * w + j - 1]);
    }
  }
  const words: string[] = [];
  let i = x.length, j = y.length, depth = 1;
  for (; i > 0 && j > 0; depth++) {
    if (x[i - 1] === y[j - 1]) {
      words.push(x[i - 1]);
      i--;
      j--;
    } else if (table[(i - 1) * w + j] > table[i * w + j - 1]) i--;
    else j--;
  }
  return depth > maxDepth ? undefined : words;
}

// ---- classification, retrieval, count ----

function classificationScore(prediction: string, groundTruth: string, allClasses?: string[] | null): number {
  check(allClasses, 'the classification metric needs the record\'s all_classes');
  const matches = allClasses.filter((c) => prediction.includes(c));
  // metrics.py removes from the list it is iterating over, so the match after each removed one is
  // never examined and may survive; reproduced for identical scores.
  for (let i = 0; i < matches.length;) {
    const term = matches[i++];
    if (groundTruth.includes(term) && term !== groundTruth) matches.splice(matches.indexOf(term), 1);
  }
  // metrics.py tests `em_match_list != 0`, always true, so its difflib fallback never runs: no match scores 0.
  return matches.includes(groundTruth) ? 1 / matches.length : 0;
}

function paragraphId(groundTruth: string, pattern: RegExp): string {
  const m = pattern.exec(groundTruth);
  check(m, `retrieval ground truth "${groundTruth}" names no paragraph`);
  return m[1];
}

/** Share of the numbers (Python \d+: any Unicode decimal digits) in `prediction` that equal `target` as strings. */
function numberHitRate(prediction: string, target: string): number {
  const numbers = prediction.match(/\p{Nd}+/gu) ?? [];
  return numbers.length === 0 ? 0 : numbers.filter((n) => n === target).length / numbers.length;
}

// ---- code_sim ----

/** fuzzball's Levenshtein with python-Levenshtein's weights (substitution 2) over code points, inputs untouched. */
const PY_LEVENSHTEIN = { full_process: false, astral: true, normalize: false, subcost: 2 };

/**
 * fuzzywuzzy's fuzz.ratio on python-Levenshtein. fuzzball.ratio differs on three counts: it cleans
 * the strings unless told not to, rounds halves up (12.5 → 13; Python's round gives 12), and scores
 * two empty strings 0 (fuzzywuzzy's equality check gives 100); so the ratio is formed here.
 */
function fuzzRatio(a: string, b: string): number {
  if (a === b) return 100;
  if (a.length === 0 || b.length === 0) return 0;
  const lensum = Array.from(a).length + Array.from(b).length;
  return pyRound(100 * ((lensum - distance(a, b, PY_LEVENSHTEIN)) / lensum));
}

/** code_sim_score: the first line (after leading newlines) *containing* none of '`', '#', '//', against the truth. */
function codeSimScore(prediction: string, groundTruth: string): number {
  const lines = prediction.replace(/^\n+/, '').split('\n');
  const code = lines.find((line) => !line.includes('`') && !line.includes('#') && !line.includes('//')) ?? '';
  return fuzzRatio(code, groundTruth) / 100;
}
