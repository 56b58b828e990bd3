// Split-K flash-decoding: attention of one query token over the KV cache (#if SPARSE: over a
// selected list of key positions). Workgroup (split, w) takes query heads w*HPW .. w*HPW+HPW-1, all
// of one KV head, and the split-th share of the keys; each K/V row is read once for all those heads.
// It writes an unnormalised partial (acc, max, sum) per head that attention_reduce merges.
//
// A tile is WG keys, handled in two phases:
//  scoring:     P lanes per key (a quad reduced by subgroup shuffles; 1 lane without subgroups), each
//               lane a strided share of the row's words, so neighbouring lanes read neighbouring bytes;
//  accumulating: L lanes per key slot, one word each; slot r takes keys r, r+R, r+2R, ... of every
//               tile and keeps its own online softmax (m, l, acc); slots merge once at the end.
// Scores are in log2 units (q is prescaled by scale·log2 e), so exp2 serves throughout.
// Assumes subgroups hold consecutive local_invocation_index values (true of every 1-D workgroup
// implementation we know); any subgroup size >= 4 works.

struct Params { Hq: u32, Hkv: u32, capacity: u32, splits: u32, scale: f32, kmax: u32, per_query_head: u32 }
struct Step { pos: u32 }

override WG: u32 = 128;  // threads per workgroup, and keys per tile
override HPW: u32 = 1;   // query heads per workgroup
override D: u32 = 128;   // head dim

const HMAX = 8u;         // largest HPW (per-thread arrays need a constant size)
const NEG = -3.0e38;     // "minus infinity" that stays finite through subtraction

// A word is the unit of K/V loads: eight f16 when D % 8 == 0, else two.
#if VEC4
alias Word = vec4<u32>;
alias WordF = mat2x4<f32>;
alias QWord = vec4<f32>;
const WORD = 8u;
fn unpack_word(x: Word) -> WordF {
  return WordF(vec4(unpack_h2(x.x), unpack_h2(x.y)), vec4(unpack_h2(x.z), unpack_h2(x.w)));
}
fn dot_word(a: WordF, b: WordF) -> f32 { return dot(a[0], b[0]) + dot(a[1], b[1]); }
fn load_q(i: u32) -> WordF { return WordF(q[2u * i], q[2u * i + 1u]); }
#else
alias Word = u32;
alias WordF = vec2<f32>;
alias QWord = vec2<f32>;
const WORD = 2u;
fn unpack_word(x: Word) -> WordF { return unpack_h2(x); }
fn dot_word(a: WordF, b: WordF) -> f32 { return dot(a, b); }
fn load_q(i: u32) -> WordF { return q[i]; }
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

override L: u32 = D / WORD;          // words per K/V row
override R: u32 = WG / L;            // key slots while accumulating
override LANE_WORDS: u32 = (L + P - 1u) / P;  // words of a row per scoring lane
override KPS: u32 = (WG + R - 1u) / R;          // keys of a tile per slot
const VB = 8u;                                  // V rows in flight per thread

@group(0) @binding(0) var<storage, read> q: array<QWord>;          // [Hq, D] f32
@group(0) @binding(1) var<storage, read> kc: array<Word>;          // [Hkv, capacity, D] f16
@group(0) @binding(2) var<storage, read> vc: array<Word>;
#if SPARSE
@group(0) @binding(3) var<storage, read> sel: array<u32>;          // [lists, kmax]
@group(0) @binding(4) var<storage, read> counts: array<u32>;       // [lists]
@group(0) @binding(5) var<storage, read_write> part_acc: array<WordF>;   // [Hq, splits, D]
@group(0) @binding(6) var<storage, read_write> part_ml: array<vec2<f32>>; // [Hq, splits] (max, sum)
@group(0) @binding(7) var<uniform> p: Params;
#else
@group(0) @binding(3) var<storage, read_write> part_acc: array<WordF>;
@group(0) @binding(4) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> p: Params;
#endif

var<workgroup> qs: array<WordF, HPW * L>;          // prescaled queries
var<workgroup> scores: array<f32, 2 * HPW * WG>;  // [tile parity][head][key]: one barrier a tile
var<workgroup> merge_acc: array<WordF, WG>;
var<workgroup> merge_ml: array<vec2<f32>, R * HPW>;

// Per-slot online-softmax state: running max and sum per head, and the slot's word of acc.
struct Slot { m: array<f32, HMAX>, l: array<f32, HMAX>, acc: array<WordF, HMAX> }

// The keys this workgroup attends: positions key_at(base + j) for j in [begin, end).
struct Keys { base: u32, begin: u32, end: u32, row0: u32 }

fn key_at(keys: Keys, j: u32) -> u32 {
#if SPARSE
  return sel[keys.base + j];
#else
  return j;
#endif
}

fn key_range(split: u32, kvh: u32, h0: u32) -> Keys {
#if SPARSE
  let list = select(kvh, h0, p.per_query_head != 0u);
  let base = list * p.kmax;
  let n = min(counts[list], p.kmax);
#else
  let base = 0u;
  let n = min(step.pos + 1u, p.capacity);
#endif
  // Splits cut at tile boundaries; late splits may be empty while the context is short.
  let chunk = (n + p.splits - 1u) / p.splits;
  let tiled = (chunk + WG - 1u) / WG * WG;
  let begin = min(split * tiled, n);
  return Keys(base, begin, min(begin + tiled, n), kvh * p.capacity);
}

// Scores of the tile's keys t0 + k, k < WG, for every head, into scores[buf + h*WG + k]. Lane group
// g takes keys g, g + WG/P, ...: P rows at once, so each query word read serves P keys.
fn score_tile(keys: Keys, t0: u32, buf: u32, lid: u32) {
  let group = lid / P;
  let lane = lid % P;
  var rows: array<u32, P>;
  for (var b = 0u; b < P; b++) {
    rows[b] = (keys.row0 + key_at(keys, min(t0 + group + b * (WG / P), keys.end - 1u))) * L;
  }
  var dots: array<array<f32, HMAX>, P>;
  for (var i = 0u; i < LANE_WORDS; i++) {
    let w = lane + i * P;
    if (w < L) {
      var kw: array<WordF, P>;
      for (var b = 0u; b < P; b++) { kw[b] = unpack_word(kc[rows[b] + w]); }
      for (var h = 0u; h < HPW; h++) {
        let qw = qs[h * L + w];
        for (var b = 0u; b < P; b++) { dots[b][h] += dot_word(qw, kw[b]); }
      }
    }
  }
  for (var b = 0u; b < P; b++) {
    for (var h = 0u; h < HPW; h++) {
      let s = lane_sum(dots[b][h]);
      if (h % P == lane) { scores[buf + h * WG + group + b * (WG / P)] = s; }
    }
  }
}

// Folds this slot's keys of the tile (slot + i*R, i < KPS) into its online softmax. V rows are
// loaded VB at a time before they are used, so their latencies overlap.
fn accumulate_tile(keys: Keys, t0: u32, buf: u32, slot: u32, word: u32, st: ptr<function, Slot>) {
  let n = min(keys.end - t0, WG);
  var tile_max: array<f32, HMAX>;
  for (var h = 0u; h < HPW; h++) { tile_max[h] = NEG; }
  for (var i = 0u; i < KPS; i++) {
    let k = slot + i * R;
    if (k < n) {
      for (var h = 0u; h < HPW; h++) { tile_max[h] = max(tile_max[h], scores[buf + h * WG + k]); }
    }
  }
  for (var h = 0u; h < HPW; h++) {
    let m = max((*st).m[h], tile_max[h]);
    let c = exp2((*st).m[h] - m);
    (*st).m[h] = m;
    (*st).l[h] *= c;
    (*st).acc[h] *= c;
  }
  for (var i0 = 0u; i0 < KPS; i0 += VB) {
    var v: array<WordF, VB>;
    for (var b = 0u; b < VB; b++) {
      let j = min(t0 + slot + (i0 + b) * R, keys.end - 1u);
      v[b] = unpack_word(vc[(keys.row0 + key_at(keys, j)) * L + word]);
    }
    for (var b = 0u; b < VB; b++) {
      let k = slot + (i0 + b) * R;
      if (k < n) {
        for (var h = 0u; h < HPW; h++) {
          let e = exp2(scores[buf + h * WG + k] - (*st).m[h]);
          (*st).l[h] += e;
          (*st).acc[h] += e * v[b];
        }
      }
    }
  }
}

// Merges the slots' states (each head's max, sum and acc) and writes the workgroup's partial.
fn write_partial(st: ptr<function, Slot>, slot: u32, word: u32, lid: u32, h0: u32, split: u32) {
  if (slot < R && word == 0u) {
    for (var h = 0u; h < HPW; h++) { merge_ml[slot * HPW + h] = vec2((*st).m[h], (*st).l[h]); }
  }
  workgroupBarrier();
  for (var h = 0u; h < HPW; h++) {
    var m = NEG;
    for (var s = 0u; s < R; s++) { m = max(m, merge_ml[s * HPW + h].x); }
    if (slot < R) { merge_acc[lid] = (*st).acc[h] * exp2((*st).m[h] - m); }
    workgroupBarrier();
    let out = (h0 + h) * p.splits + split;
    if (lid < L) {
      var acc = WordF();
      for (var s = 0u; s < R; s++) { acc += merge_acc[s * L + lid]; }
      part_acc[out * L + lid] = acc;
    }
    if (lid == 0u) {
      var l = 0.0;
      for (var s = 0u; s < R; s++) { l += merge_ml[s * HPW + h].y * exp2(merge_ml[s * HPW + h].x - m); }
      part_ml[out] = vec2(m, l);
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let split = wg.x;
  let h0 = wg.y * HPW;
  let kvh = h0 / (p.Hq / p.Hkv);
  let keys = key_range(split, kvh, h0);

  for (var i = lid; i < HPW * L; i += WG) { qs[i] = load_q(h0 * L + i) * p.scale; }
  workgroupBarrier();

  let slot = lid / L;
  let word = lid % L;
  var st: Slot;
  for (var h = 0u; h < HPW; h++) { st.m[h] = NEG; }
  var buf = 0u;
  for (var t0 = keys.begin; t0 < keys.end; t0 += WG) {
    score_tile(keys, t0, buf, lid);
    workgroupBarrier();
    if (slot < R) { accumulate_tile(keys, t0, buf, slot, word, &st); }
    buf = HPW * WG - buf;
  }
  write_partial(&st, slot, word, lid, h0, split);
}
