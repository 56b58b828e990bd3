// Split-K flash-decoding: attention of one query token over the KV cache (DENSE: every key so far;
// SPARSE: a selected list of key positions; OWN: a batch's own rows, below). Workgroup (split, w)
// takes query rows w*HPW .. w*HPW+HPW-1 (heads; a batch's (sequence, head) pairs), all of one KV
// head, and the split-th share of the keys; each K/V row is read from memory once for all those
// rows. It writes an unnormalised partial (acc, max, sum) per row that attention_reduce merges.
//
// A tile is TK keys, handled in two phases; a thread always serves one head, so its state is scalar:
//  scoring:      P lanes share a key (a quad reduced by subgroup shuffles; 1 lane without subgroups),
//                each a strided share of the row's words, and score it for every head of the
//                workgroup (each K word is read once, for all HPW heads); the tile's V rows go to
//                workgroup memory;
//  accumulating: L lanes per (slot, head), one word each; slot s takes keys s, s+R, s+2R, ... of every
//                tile and keeps its own online softmax (m, l, acc); slots merge once at the end.
// Software pipelined: a thread issues all loads of the next tile (its K words and its share of the V
// rows, into registers) before it accumulates the current one, so memory and arithmetic overlap.
// Scores are in log2 units (q is prescaled by scale·log2 e), so exp2 serves throughout.
// Assumes subgroups hold consecutive local_invocation_index values (true of every 1-D workgroup
// implementation we know); any subgroup size >= 4 works.
// KV_Q8: the rows are int8 with one scale per (head, position) (model/kvcache.ts): a key's score is
// its int8 dot product times its K scale, and its softmax weight meets its V scale before the V row.
// A batch of sequences (model/kvcache.ts, BatchLayout): q is [seqs, Hq, D], and the query rows of KV
// head kvh are (sequence, head) pairs, (seq0 + b, kvh·G + g) in (b, g) order, so one workgroup can
// serve several sequences' heads over the rows they share (the context [0, ctx)). A key position
// p >= ctx of sequence b lives at row p + (b + 1)·room (room 0: one sequence, rows are positions).
// OWN: the keys are the workgroup's sequence's own positions [ctx, seq_pos[b]]. Partials go to
// splits split0 .. of total per query row, so a batch's context and own parts merge in one reduce.

struct Params {
  Hq: u32, Hkv: u32, capacity: u32, splits: u32, scale: f32, kmax: u32, per_query_head: u32,
  seqs: u32, seq0: u32, split0: u32, total: u32, ctx: u32, room: u32,
}
struct Step { pos: u32 }

override WG: u32 = 128;  // threads per workgroup (at least 128: see STAGE_MAX)
override HPW: u32 = 1;   // query heads per workgroup; HPW * L <= WG
override D: u32 = 128;   // head dim

const NEG = -3.0e38;     // "minus infinity" that stays finite through subtraction

// A word is the unit of K/V loads: eight values when D % 8 == 0 (VEC4, with F16X8: f16, with
// KV_Q8: int8; sixteen int8 a word measured slower, docs/perf-notes.md), else two f16.
#if VEC4
alias WordF = mat2x4<f32>;
alias QWord = vec4<f32>;
const WORD = 8u;
const STAGE_MAX = 8u;    // 16 KiB of V words over 128 threads
const KW_MAX = 32u;      // K words a thread loads per tile, KPK * LANE_WORDS (D = 256 without subgroups)
fn dot_word(a: WordF, b: WordF) -> f32 { return dot(a[0], b[0]) + dot(a[1], b[1]); }
fn load_q(i: u32) -> WordF { return WordF(q[2u * i], q[2u * i + 1u]); }
#else
alias Word = u32;
alias WordF = vec2<f32>;
alias QWord = vec2<f32>;
const WORD = 2u;
const STAGE_MAX = 32u;
const KW_MAX = 128u;
fn unpack_word(x: Word) -> WordF { return unpack_h2(x); }
fn dot_word(a: WordF, b: WordF) -> f32 { return dot(a, b); }
fn load_q(i: u32) -> WordF { return q[i]; }
#endif
#if F16X8
alias Word = vec4<u32>;
fn unpack_word(x: Word) -> WordF {
  return WordF(vec4(unpack_h2(x.x), unpack_h2(x.y)), vec4(unpack_h2(x.z), unpack_h2(x.w)));
}
#endif
#if KV_Q8
alias Word = vec2<u32>;
#include q8
fn unpack_word(x: Word) -> WordF { return WordF(i8x4(x.x), i8x4(x.y)); }
#endif

#if SUBGROUPS
const P = 4u;
fn lane_sum(x: f32) -> f32 {
  let y = x + subgroupShuffleXor(x, 1u);
  return y + subgroupShuffleXor(y, 2u);
}
#else
const P = 1u;
fn lane_sum(x: f32) -> f32 { return x; }
#endif

override L: u32 = D / WORD;                   // words per K/V row
override TK_MAX: u32 = min(64u, 8192u / D);   // a staged V tile takes at most 16 KiB
override TK: u32 = TK_MAX;                    // keys per tile
override KR: u32 = WG / P;                    // keys scored side by side
override KPK: u32 = (TK + KR - 1u) / KR;      // keys a scoring thread takes per tile
override LANE_WORDS: u32 = (L + P - 1u) / P;  // words of a row per scoring lane
override STAGE: u32 = (TK * L + WG - 1u) / WG; // V words each thread stages per tile
override R: u32 = WG / (HPW * L);             // accumulating slots per head
override KPS: u32 = (TK + R - 1u) / R;        // keys of a tile per slot

@group(0) @binding(0) var<storage, read> q: array<QWord>;          // [Hq, D] f32
@group(0) @binding(1) var<storage, read> kc: array<Word>;          // [Hkv, capacity, D] f16
@group(0) @binding(2) var<storage, read> vc: array<Word>;
// The positions a workgroup's keys come from, before its split takes its share: entries
// [start, n) of its list (SPARSE), its sequence's own positions (OWN), or every position so far (DENSE).
struct Span { base: u32, start: u32, n: u32 }
#if SPARSE
@group(0) @binding(3) var<storage, read> sel: array<u32>;          // [lists, kmax]
@group(0) @binding(4) var<storage, read> counts: array<u32>;       // [lists]
@group(0) @binding(5) var<storage, read_write> part_acc: array<WordF>;   // [rows, total, D]
@group(0) @binding(6) var<storage, read_write> part_ml: array<vec2<f32>>; // [rows, total] (max, sum)
@group(0) @binding(7) var<uniform> p: Params;
// The lists of the dispatch's sequences follow each other (one sequence's: Hkv, or Hq per query head).
fn span_of(rows: Rows, seq: u32) -> Span {
  let s = seq - p.seq0;
  let list = select(s * p.Hkv + rows.kvh, s * p.Hq + query_of(rows, 0u) % p.Hq, p.per_query_head != 0u);
  return Span(list * p.kmax, 0u, min(counts[list], p.kmax));
}
#else
@group(0) @binding(3) var<storage, read_write> part_acc: array<WordF>;
@group(0) @binding(4) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> p: Params;
#endif
#if OWN
@group(0) @binding(5) var<storage, read> seq_pos: array<u32>;      // [sequences]: each one's position this step
fn span_of(rows: Rows, seq: u32) -> Span { return Span(0u, p.ctx, seq_pos[seq] + 1u); }
#endif
#if DENSE
@group(0) @binding(5) var<uniform> step: Step;
fn span_of(rows: Rows, seq: u32) -> Span { return Span(0u, 0u, min(step.pos + 1u, p.capacity)); }
#endif
#if KV_Q8
@group(0) @binding(8) var<storage, read> k_scale: array<f32>;      // [Hkv, capacity]
@group(0) @binding(9) var<storage, read> v_scale: array<f32>;
#endif

var<workgroup> qs: array<WordF, HPW * L>;          // prescaled queries
var<workgroup> scores: array<f32, HPW * TK>;      // [head][key]
var<workgroup> vs: array<Word, TK * L>;            // the tile's V rows
var<workgroup> merge_acc: array<WordF, WG>;
var<workgroup> merge_ml: array<vec2<f32>, R * HPW>;
// The next tile, in flight: this thread's K words (keys g, g + KR, ...) and its share of the V rows.
var<private> kw: array<Word, KW_MAX>;
var<private> vw: array<Word, STAGE_MAX>;

#if KV_Q8
// The scales of the tile in flight: this thread's keys' K scales, and (threads < TK) one key's V
// scale, which score_and_stage puts in v_scales for the accumulating threads.
var<private> ksc: array<f32, KW_MAX>;
var<private> vsc: f32;
var<workgroup> v_scales: array<f32, 64>;           // TK <= 64
fn fetch_k_scale(b: u32, row: u32) { ksc[b] = k_scale[row]; }
fn fetch_v_scale(row: u32) { vsc = v_scale[row]; }
fn stage_v_scale(k: u32) { v_scales[k] = vsc; }
fn k_scale_of(b: u32) -> f32 { return ksc[b]; }
fn v_scale_of(k: u32) -> f32 { return v_scales[k]; }
#else
fn fetch_k_scale(b: u32, row: u32) {}
fn fetch_v_scale(row: u32) {}
fn stage_v_scale(k: u32) {}
fn k_scale_of(b: u32) -> f32 { return 1.0; }
fn v_scale_of(k: u32) -> f32 { return 1.0; }
#endif

// The keys this workgroup attends: positions key_at(base + j) for j in [begin, end); row0 is the
// KV head's first row, and a position p >= p.ctx is at row p + shift (its sequence's own rows).
struct Keys { base: u32, begin: u32, end: u32, row0: u32, shift: u32 }

// The query rows of a workgroup: its KV head, the index in q of its first row's sequence and
// head, and where the rows sit among the KV head's (sequence, head) pairs.
struct Rows { kvh: u32, first: u32, G: u32 }

fn rows_of(wg_y: u32) -> Rows {
  let G = p.Hq / p.Hkv;
  let r0 = wg_y * HPW;
  return Rows(r0 / (p.seqs * G), r0 % (p.seqs * G), G);
}

// The index in q [sequences, Hq] of the workgroup's row h.
fn query_of(rows: Rows, h: u32) -> u32 {
  let r = rows.first + h;
  return (p.seq0 + r / rows.G) * p.Hq + rows.kvh * rows.G + r % rows.G;
}

// Online-softmax state of one (slot, head, word): running max and sum, and that word of acc.
struct State { m: f32, l: f32, acc: WordF }

fn key_at(keys: Keys, j: u32) -> u32 {
#if SPARSE
  return sel[keys.base + j];
#else
  return j;
#endif
}

fn key_range(split: u32, rows: Rows) -> Keys {
  let seq = p.seq0 + rows.first / rows.G; // the first row's (all rows', unless the keys are shared)
  let span = span_of(rows, seq);
  // Splits cut at tile boundaries; late splits may be empty while the context is short.
  let chunk = (span.n - span.start + p.splits - 1u) / p.splits;
  let tiled = (chunk + TK - 1u) / TK * TK;
  let begin = min(span.start + split * tiled, span.n);
  return Keys(span.base, begin, min(begin + tiled, span.n), rows.kvh * p.capacity, (seq + 1u) * p.room);
}

// The K/V row of the tile's key t0 + k (clamped to the last key: finite values nobody uses).
fn row_of(keys: Keys, t0: u32, k: u32) -> u32 {
  let key = key_at(keys, min(t0 + k, keys.end - 1u));
  return keys.row0 + key + select(0u, keys.shift, key >= p.ctx);
}

// Issues the loads of the tile at t0 into kw and vw: thread (g*P + lane) takes keys g, g + KR, ...
fn fetch(keys: Keys, t0: u32, lid: u32) {
  for (var i = 0u; i < STAGE; i++) {
    let e = min(lid + i * WG, TK * L - 1u);
    vw[i] = vc[row_of(keys, t0, e / L) * L + e % L];
  }
  if (lid < TK) { fetch_v_scale(row_of(keys, t0, lid)); }
  let lane = lid % P;
  let g = lid / P;
  for (var b = 0u; b < KPK; b++) {
    let row = row_of(keys, t0, g + b * KR);
    fetch_k_scale(b, row);
    for (var i = 0u; i < LANE_WORDS; i++) { kw[b * LANE_WORDS + i] = kc[row * L + min(lane + i * P, L - 1u)]; }
  }
}

// Scores the fetched tile's keys for every head into scores[h*TK + k], and stages its V rows in vs.
fn score_and_stage(lid: u32) {
  let lane = lid % P;
  let g = lid / P;
  for (var h = 0u; h < HPW; h++) {
    for (var b = 0u; b < KPK; b++) {
      var dot = 0.0;
      for (var i = 0u; i < LANE_WORDS; i++) {
        let w = lane + i * P;
        if (w < L) { dot += dot_word(qs[h * L + w], unpack_word(kw[b * LANE_WORDS + i])); }
      }
      let s = lane_sum(dot) * k_scale_of(b);
      let k = g + b * KR;
      if (lane == 0u && k < TK) { scores[h * TK + k] = s; }
    }
  }
  for (var i = 0u; i < STAGE; i++) {
    let e = lid + i * WG;
    if (e < TK * L) { vs[e] = vw[i]; }
  }
  if (lid < TK) { stage_v_scale(lid); }
}

// Folds slot s's keys of the tile (s + i*R, i < KPS) into its online softmax for head h.
fn accumulate_tile(keys: Keys, t0: u32, s: u32, h: u32, word: u32, st: ptr<function, State>) {
  let n = min(keys.end - t0, TK);
  var tile_max = NEG;
  for (var i = 0u; i < KPS; i++) {
    let k = s + i * R;
    if (k < n) { tile_max = max(tile_max, scores[h * TK + k]); }
  }
  let m = max((*st).m, tile_max);
  let c = exp2((*st).m - m);
  (*st).m = m;
  (*st).l *= c;
  (*st).acc *= c;
  for (var i = 0u; i < KPS; i++) {
    let k = s + i * R;
    if (k < n) {
      let e = exp2(scores[h * TK + k] - m);
      (*st).l += e;
      (*st).acc += (e * v_scale_of(k)) * unpack_word(vs[k * L + word]);
    }
  }
}

// Merges the slots' states of each head and writes the workgroup's partials.
fn write_partial(st: State, s: u32, h: u32, word: u32, lid: u32, rows: Rows, split: u32) {
  if (s < R && word == 0u) { merge_ml[s * HPW + h] = vec2(st.m, st.l); }
  workgroupBarrier();
  var m = NEG;
  if (s < R) {
    for (var r = 0u; r < R; r++) { m = max(m, merge_ml[r * HPW + h].x); }
    merge_acc[lid] = st.acc * exp2(st.m - m);
  }
  workgroupBarrier();
  if (s == 0u) {
    var acc = WordF();
    var l = 0.0;
    for (var r = 0u; r < R; r++) {
      acc += merge_acc[(r * HPW + h) * L + word];
      l += merge_ml[r * HPW + h].y * exp2(merge_ml[r * HPW + h].x - m);
    }
    let out = query_of(rows, h) * p.total + p.split0 + split;
    part_acc[out * L + word] = acc;
    if (word == 0u) { part_ml[out] = vec2(m, l); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let split = wg.x;
  let rows = rows_of(wg.y);
  let keys = key_range(split, rows);

  for (var i = lid; i < HPW * L; i += WG) { qs[i] = load_q(query_of(rows, i / L) * L + i % L) * p.scale; }
  workgroupBarrier();

  // Accumulating role: thread ((s*HPW + h)*L + word).
  let word = lid % L;
  let h = lid / L % HPW;
  let s = lid / (L * HPW);
  var st = State(NEG, 0.0, WordF());
  if (keys.begin < keys.end) { fetch(keys, keys.begin, lid); }
  for (var t0 = keys.begin; t0 < keys.end; t0 += TK) {
    score_and_stage(lid);
    workgroupBarrier();
    if (t0 + TK < keys.end) { fetch(keys, t0 + TK, lid); }
    if (s < R) { accumulate_tile(keys, t0, s, h, word, &st); }
    workgroupBarrier();
  }
  write_partial(st, s, h, word, lid, rows, split);
}
