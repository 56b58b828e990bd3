// Golden values below are worked out by hand from LongBench's metrics.py / eval.py, the `rouge`
// package (1.0.1) and fuzzywuzzy on python-Levenshtein; each comment shows the arithmetic.
import { ratio } from 'fuzzball';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CsattnError } from '../src/errors.js';
import { DATASET_METRIC, isMetricName, METRIC_NAMES, metricFor, scoreOne, scoreRecord, stringMatchAll, stringMatchPart } from '../src/eval/metrics.js';

describe('dataset → metric', () => {
  it('covers exactly the datasets that have LongBench prompts', () => {
    const prompts = JSON.parse(readFileSync('fixtures/longbench/dataset2prompt.json', 'utf8'));
    expect(Object.keys(DATASET_METRIC).sort()).toEqual(Object.keys(prompts).sort());
    expect(metricFor('multi_news')).toBe('rouge');
    expect(metricFor('vcsum')).toBe('rouge_zh');
    expect(metricFor('repobench-p')).toBe('code_sim');
  });

  it('names an unknown dataset', () => {
    expect(() => metricFor('mystery')).toThrow(CsattnError);
    expect(() => metricFor('mystery')).toThrow(/"mystery"/);
    expect(() => metricFor('constructor')).toThrow(/"constructor"/);
  });
});

describe('qa_f1', () => {
  it('token F1 after normalize_answer', () => {
    // "the cat sat" → [cat, sat]; "a cat sat down" → [cat, sat, down]; common 2:
    // P = 2/2, R = 2/3, F1 = 2·1·(2/3) / (1 + 2/3) = 0.8
    expect(scoreOne('qa_f1', 'the cat sat', 'a cat sat down')).toBeCloseTo(0.8, 12);
    // "The Eiffel-Tower, in Paris!" → "the eiffeltower in paris" → [eiffeltower, in, paris]
    // vs [eiffeltower, paris]: P = 2/3, R = 1, F1 = (4/3) / (5/3) = 0.8
    expect(scoreOne('qa_f1', 'The Eiffel-Tower, in Paris!', 'eiffeltower paris')).toBeCloseTo(0.8, 12);
  });

  it('counts repeated tokens as a multiset', () => {
    // [paris, paris, paris] vs [paris]: common = min(3, 1) = 1; P = 1/3, R = 1, F1 = (2/3) / (4/3) = 0.5
    expect(scoreOne('qa_f1', 'Paris Paris Paris', 'Paris')).toBeCloseTo(0.5, 12);
  });

  it('removes articles only as whole words, with Unicode word boundaries', () => {
    // "anna and theatre": no whole-word a/an/the, so the tokens match exactly
    expect(scoreOne('qa_f1', 'Anna and theatre', 'anna and theatre')).toBe(1);
    // Python's \b sees é as a word character, so "theé" stays whole: [theé] vs [é] share nothing
    expect(scoreOne('qa_f1', 'theé', 'é')).toBe(0);
  });

  it('splits on Python whitespace, not JavaScript whitespace', () => {
    // U+0085 is whitespace to Python's str.split(): [cat, sat] vs [cat, sat]
    expect(scoreOne('qa_f1', 'cat\u0085sat', 'cat sat')).toBe(1);
    // U+FEFF is not: [cat\ufeffsat] vs [cat, sat] share nothing
    expect(scoreOne('qa_f1', 'cat\ufeffsat', 'cat sat')).toBe(0);
  });

  it('scores an empty prediction 0', () => {
    expect(scoreOne('qa_f1', '', 'Paris')).toBe(0);
    expect(scoreOne('qa_f1', 'the', 'Paris')).toBe(0);
  });
});

describe('qa_f1_zh (character segmentation)', () => {
  it('scores per character', () => {
    // [北, 京, 大, 学] vs [北, 京]: P = 2/4, R = 1, F1 = 1 / 1.5 = 2/3
    expect(scoreOne('qa_f1_zh', '北京大学', '北京')).toBeCloseTo(2 / 3, 12);
  });

  it('keeps ASCII words whole, lowercases them and drops punctuation and spaces', () => {
    // [我, 用, GPT4, ，, 很, 好, ！] → [我, 用, gpt4, 很, 好]; truth [gpt4, 很, 好]
    // common 3: P = 3/5, R = 1, F1 = 1.2 / 1.6 = 0.75
    expect(scoreOne('qa_f1_zh', '我用GPT4，很好！', 'gpt4 很好')).toBeCloseTo(0.75, 12);
    // 《 is not in metrics.py's list (》 is): [《, 书] vs [书]: P = 1/2, R = 1, F1 = 2/3
    expect(scoreOne('qa_f1_zh', '《书》', '书')).toBeCloseTo(2 / 3, 12);
  });

  it('scores an empty prediction 0', () => {
    expect(scoreOne('qa_f1_zh', '', '北京')).toBe(0);
  });
});

describe('rouge (rouge-l F of the rouge package)', () => {
  it('unions LCS word sets over sentence pairs', () => {
    // hyp sentences [the cat sat], [the dog ran]; ref [the cat ran], [a dog sat]
    // LCS words: (the cat ran | the cat sat) {the, cat}; (… | the dog ran) {the, ran};
    //            (a dog sat | the cat sat) {sat}; (… | the dog ran) {dog}
    // union {the, cat, ran, sat, dog} = 5; n = |distinct hyp words| = 5, m = 6
    // P = 1, R = 5/6, F = 2·(5/6) / (1 + 5/6 + 1e-8) ≈ 10/11
    expect(scoreOne('rouge', 'the cat sat. the dog ran', 'the cat ran. a dog sat')).toBeCloseTo(10 / 11, 7);
  });

  it('breaks LCS ties like rouge (stepping along the hypothesis)', () => {
    // ref [a, b]; hyp [b, a] and [b]. For (a b | b a) the walk keeps "b" (not "a"), and (a b | b) gives "b":
    // union {b} = 1; n = 2, m = 2; P = R = 1/2; F = 2·(1/4) / (1 + 1e-8) ≈ 0.5
    expect(scoreOne('rouge', 'b a. b', 'a b')).toBeCloseTo(0.5, 7);
  });

  it('keeps an all-space sentence as the empty word, as rouge does', () => {
    // "cat. " → pieces [cat, " "] → sentences [cat], [""]: n = |{cat, ""}| = 2; m = 1; union {cat}
    // P = 1/2, R = 1, F = 1 / (1.5 + 1e-8) ≈ 2/3
    expect(scoreOne('rouge', 'cat. ', 'cat')).toBeCloseTo(2 / 3, 7);
    // "cat." → pieces [cat, ""], the empty piece is dropped: F = 2·1 / (2 + 1e-8) ≈ 1
    expect(scoreOne('rouge', 'cat.', 'cat')).toBeCloseTo(1, 7);
  });

  it('scores 0 where rouge raises: nothing but periods or nothing at all', () => {
    expect(scoreOne('rouge', '', 'a summary')).toBe(0);
    expect(scoreOne('rouge', '...', 'a summary')).toBe(0);
    expect(scoreOne('rouge', 'a summary', '')).toBe(0);
  });

  it('scores 0 where rouge\'s recursive LCS walk would exceed Python\'s recursion limit', () => {
    // ref [k, a × r], hyp [k, b × h]: union {k}, P = R = 1/2, F ≈ 0.5. rouge's walk steps h times
    // along the hypothesis, r times along the reference, once diagonally: h + r + 2 nested calls.
    // Under eval.py's 9 frames CPython (3.11, checked) allows 991 of them.
    const walk = (h: number, r: number) => ['k' + ' b'.repeat(h), 'k' + ' a'.repeat(r)] as const;
    expect(scoreOne('rouge', ...walk(400, 400))).toBeCloseTo(0.5, 7); // 802 calls
    expect(scoreOne('rouge', ...walk(494, 495))).toBeCloseTo(0.5, 7); // 991 calls: the last that fits
    expect(scoreOne('rouge', ...walk(495, 495))).toBe(0); // 992 calls: RecursionError → 0
    expect(scoreOne('rouge', ...walk(2000, 2000))).toBe(0);
  });
});

describe('rouge_zh (character segmentation)', () => {
  it('scores per character', () => {
    // ref 今天天气不错 / hyp 今天天气很好, one sentence each (no '.')
    // LCS 今天天气 → word set {今, 天, 气} = 3; n = |{今, 天, 气, 很, 好}| = 5, m = 5
    // P = R = 3/5, F = 2·0.36 / (1.2 + 1e-8) ≈ 0.6
    expect(scoreOne('rouge_zh', '今天天气很好', '今天天气不错')).toBeCloseTo(0.6, 7);
    expect(scoreOne('rouge_zh', '', '今天天气不错')).toBe(0);
  });

  it('has one frame less for the LCS walk than rouge', () => {
    // as for rouge: h + r + 2 nested calls, one sentence (Chinese has no '.'), 990 allowed
    const walk = (h: number, r: number) => ['甲' + '乙'.repeat(h), '甲' + '丙'.repeat(r)] as const;
    expect(scoreOne('rouge_zh', ...walk(494, 494))).toBeCloseTo(0.5, 7); // 990 calls
    expect(scoreOne('rouge_zh', ...walk(494, 495))).toBe(0); // 991 calls
  });
});

describe('classification', () => {
  const classes = ['Sport', 'Sports', 'Sports team', 'Team'];

  it('splits the credit among the classes named', () => {
    // "Sport or Team" names Sport and Team; neither is a proper substring of "Sport": 1/2
    expect(scoreOne('classification', 'Sport or Team', 'Sport', classes)).toBe(0.5);
    expect(scoreOne('classification', 'Team', 'Team', classes)).toBe(1);
    expect(scoreOne('classification', 'Team', 'Sport', classes)).toBe(0);
  });

  it('drops matches inside the truth, skipping one after each drop as metrics.py does', () => {
    // names Sport, Sports, Sports team. Iterating: Sport is inside the truth → removed; the list
    // shifts so Sports is skipped and survives; Sports team is the truth. [Sports, Sports team] → 1/2
    expect(scoreOne('classification', 'Sports team', 'Sports team', classes)).toBe(0.5);
    // names Sport, Sports: Sport removed, Sports skipped → [Sports] holds the truth → 1
    expect(scoreOne('classification', 'Sports', 'Sports', classes)).toBe(1);
  });

  it('scores 0 when no class is named (the difflib fallback is unreachable)', () => {
    expect(scoreOne('classification', 'Sprt', 'Sport', classes)).toBe(0);
    expect(scoreOne('classification', '', 'Sport', classes)).toBe(0);
  });

  it('needs all_classes', () => {
    expect(() => scoreOne('classification', 'Sport', 'Sport', null)).toThrow(CsattnError);
  });
});

describe('retrieval and count', () => {
  it('retrieval: share of the numbers that are the paragraph id', () => {
    expect(scoreOne('retrieval', 'Paragraph 3', 'Paragraph 3')).toBe(1);
    expect(scoreOne('retrieval', 'Paragraph 3 or Paragraph 13', 'Paragraph 3')).toBe(0.5); // [3, 13]
    expect(scoreOne('retrieval', 'Paragraph 30', 'Paragraph 3')).toBe(0);
    expect(scoreOne('retrieval', 'Paragraph 03', 'Paragraph 3')).toBe(0); // "03" ≠ "3" as strings
    expect(scoreOne('retrieval', 'I do not know', 'Paragraph 3')).toBe(0);
    // Python's \d matches the full-width ４: [3, ４] → 1/2
    expect(scoreOne('retrieval', 'Paragraph 3, not ４', 'Paragraph 3')).toBe(0.5);
    expect(() => scoreOne('retrieval', 'Paragraph 3', 'the third one')).toThrow(CsattnError);
  });

  it('retrieval_zh: 段落N', () => {
    expect(scoreOne('retrieval_zh', '答案是段落3', '段落3')).toBe(1);
    expect(scoreOne('retrieval_zh', '段落3和段落5', '段落3')).toBe(0.5);
  });

  it('count: share of the numbers equal to the count', () => {
    expect(scoreOne('count', '5', '5')).toBe(1);
    expect(scoreOne('count', 'There are 5 unique paragraphs out of 12', '5')).toBe(0.5); // [5, 12]
    expect(scoreOne('count', 'I think 5, maybe 5 or 6', '5')).toBeCloseTo(2 / 3, 12); // [5, 5, 6]
    expect(scoreOne('count', 'none', '5')).toBe(0);
  });
});

describe('code_sim', () => {
  it('takes the first line without `, # or //', () => {
    expect(scoreOne('code_sim', '# comment\n// another\nreturn x + 1;\n', 'return x + 1;')).toBe(1);
    expect(scoreOne('code_sim', '```python\nfoo()\n```', 'foo()')).toBe(1);
    // metrics.py tests containment, not a prefix: a line with a trailing comment is skipped too
    expect(scoreOne('code_sim', '\n\nx = 1  # set x\ny = 2', 'y = 2')).toBe(1);
    // nothing left: ratio("", truth) = 0
    expect(scoreOne('code_sim', '# only a comment', 'y = 2')).toBe(0);
  });

  it('is fuzzywuzzy\'s ratio on python-Levenshtein / 100', () => {
    // kitten/sitting: LCS "ittn" = 4, indel distance 6 + 7 − 8 = 5, (13 − 5)/13 = 61.5% → 62
    expect(scoreOne('code_sim', 'kitten', 'sitting')).toBe(0.62);
    // Hello!/hello: LCS "ello" = 4, (11 − 3)/11 = 72.7% → 73 (no case folding, no punctuation stripping)
    expect(scoreOne('code_sim', 'Hello!', 'hello')).toBe(0.73);
    // abcdefgh/aijklmno: LCS "a", (16 − 14)/16 = 12.5% → Python rounds half to even → 12
    expect(scoreOne('code_sim', 'abcdefgh', 'aijklmno')).toBe(0.12);
    // lengths in code points: 😀a/a: (3 − 1)/3 = 66.7% → 67 (UTF-16 units would give 2/4 → 50)
    expect(scoreOne('code_sim', '😀a', 'a')).toBe(0.67);
    // fuzzywuzzy checks equality before emptiness: ratio("", "") = 100
    expect(scoreOne('code_sim', '', '')).toBe(1);
  });

  it('documents where fuzzball.ratio itself differs from fuzzywuzzy (why the ratio is formed by hand)', () => {
    const raw = { full_process: false };
    expect(ratio('kitten', 'sitting', raw)).toBe(62); // agrees
    expect(ratio('abcdefgh', 'aijklmno', raw)).toBe(13); // rounds 12.5 up; fuzzywuzzy: 12
    expect(ratio('', '', raw)).toBe(0); // fuzzywuzzy: 100
    expect(ratio('Hello!', 'hello')).toBe(100); // default full_process; fuzzywuzzy: 73
  });
});

describe('string_match_all', () => {
  it('percentage of outputs found, case-insensitive', () => {
    expect(stringMatchAll('The keys are 123 and 456.', ['123', '456', '789'])).toBeCloseTo(200 / 3, 12);
    expect(stringMatchAll('abc', ['ABC'])).toBe(100);
    expect(scoreOne('string_match_all', 'Foo bar', 'BAR')).toBe(1);
    expect(scoreOne('string_match_all', 'Foo', 'BAR')).toBe(0);
    expect(() => stringMatchAll('abc', [])).toThrow(CsattnError);
  });
});

describe('string_match_part', () => {
  it('100 when any output is found (case-insensitive), else 0', () => {
    // RULER: max over references of (r.lower() in pred.lower()), ×100
    expect(stringMatchPart('The keys are 123 and 456.', ['123', '456', '789'])).toBe(100); // string_match_all: 66.7
    expect(stringMatchPart('The key is 789', ['123', '456', '789'])).toBe(100);
    expect(stringMatchPart('The keys are 12 and 45', ['123', '456'])).toBe(0);
    expect(stringMatchPart('BRANKOR', ['Brankor'])).toBe(100);
    expect(stringMatchPart('', ['x'])).toBe(0);
    expect(scoreOne('string_match_part', 'Foo bar', 'BAR')).toBe(1);
    expect(() => stringMatchPart('abc', [])).toThrow(CsattnError);
  });
});

describe('metric names', () => {
  it('cover every LongBench metric and RULER\'s two', () => {
    for (const m of Object.values(DATASET_METRIC)) expect(METRIC_NAMES).toContain(m);
    expect(METRIC_NAMES).toContain('string_match_all');
    expect(METRIC_NAMES).toContain('string_match_part');
    expect(isMetricName('qa_f1_zh')).toBe(true);
    expect(isMetricName('f1')).toBe(false);
  });
});

describe('scoreRecord', () => {
  const trecClasses = ['Location', 'Animal', 'Food'];

  it('cuts trec predictions at the first line after leading newlines', () => {
    // first line "Location": names only Location → 0 (the whole text would name both → 50)
    expect(scoreRecord('trec', '\n\nLocation\nAnimal', ['Animal'], trecClasses)).toBe(0);
    expect(scoreRecord('trec', '\nAnimal\nLocation', ['Animal'], trecClasses)).toBe(100);
    // lcc is not cut: first non-comment line of the whole text
    expect(scoreRecord('lcc', '\n# c\nfoo()', ['foo()'])).toBe(100);
  });

  it('takes the best answer, ×100', () => {
    // "Paris" vs [london] → 0; vs [paris, france] → P = 1, R = 1/2, F1 = 2/3
    expect(scoreRecord('hotpotqa', 'Paris', ['London', 'Paris France'])).toBeCloseTo(200 / 3, 10);
    expect(scoreRecord('hotpotqa', 'Paris', [])).toBe(0);
    expect(scoreRecord('passage_count', '', ['3'])).toBe(0);
  });

  it('scores with a chosen metric: LongBench\'s take the best reference, RULER\'s the list', () => {
    const refs = ['Brankor', 'the boat Kestrel'];
    // qa_f1 against "kestrel" (normalized: "boat kestrel" → P = 1/1, R = 1/2, F1 = 2/3; "brankor" → 0)
    expect(scoreRecord('fact_retrieval', 'Kestrel', refs, null, 'qa_f1')).toBeCloseTo(200 / 3, 10);
    expect(scoreRecord('fact_retrieval', 'It is Brankor.', refs, null, 'string_match_part')).toBe(100);
    expect(scoreRecord('fact_retrieval', 'It is Brankor.', refs, null, 'string_match_all')).toBe(50);
    expect(() => scoreRecord('fact_retrieval', 'Brankor', refs)).toThrow(/no LongBench metric for dataset "fact_retrieval"/);
  });

  it('takes the best of 200K answers (no spread into Math.max)', () => {
    const answers = Array.from({ length: 200_000 }, (_, i) => `answer ${i}`);
    expect(scoreRecord('hotpotqa', 'answer 199999', answers)).toBe(100);
  });
});
