// Flash-decoding of one query token over every key so far (SPARSE: over a KV head's list of key
// positions, shared by its query heads), with no barrier in the key loop: each
// group of P lanes (within one subgroup) streams its own keys, KI consecutive ones a step, and keeps
// its own online softmax; the workgroup's groups merge once, at the end. Workgroup (split, w) serves
// query heads w*HPW .. w*HPW+HPW-1, all of one KV head (each K/V row is read once for all of them),
// and the split-th share of the keys; it writes attention_decode's partials (attention_reduce merges).
// Why a second kernel: attention_decode stages each tile through workgroup memory with two
// barriers a tile, which holds it to ~2.3 TB/s on the H200 whatever its cut (docs/perf-notes.md).
// f16 rows of D % 8 == 0 (a word: eight f16). A lane holds LW = L / P words of each row, words lane,
// lane + P, ... (a load instruction reads P consecutive words of a row); a score is the butterfly
// sum of its P lanes' dot products, which every lane then holds. Scores are in log2 units (q is
// prescaled by scale·log2 e). Assumes subgroups hold consecutive local_invocation_index values
// (attention_decode.wgsl says why that is safe) of at least P lanes.

// splits: this dispatch's; stride: the partials' splits a row (more where a batch's own keys follow in later splits).
struct Params { Hq: u32, Hkv: u32, capacity: u32, splits: u32, scale: f32, kmax: u32, stride: u32 }
struct Step { pos: u32 }

override WG: u32 = 128;
override HPW: u32 = 1;   // query heads per workgroup: HPW * LW <= MAXW
override D: u32 = 128;
override P: u32 = 8;     // lanes a key: a power of two, at most the subgroup size and L
override KI: u32 = 2;    // consecutive keys a group takes a step: KI * LW <= MAXW, HPW * KI <= MAXS
override L: u32 = D / 8u;  // words a row
override LW: u32 = L / P;  // words a lane
override NG: u32 = WG / P; // groups (a power of two)

const NEG = -3.0e38; // "minus infinity" that stays finite through subtraction
const MAXW = 8u;
const MAXS = 16u;

alias Word = vec4<u32>;
alias WordF = mat2x4<f32>;

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;             // [Hq, D] f32
@group(0) @binding(1) var<storage, read> kc: array<Word>;                 // [Hkv, capacity, D] f16
@group(0) @binding(2) var<storage, read> vc: array<Word>;
#if SPARSE
@group(0) @binding(3) var<storage, read> sel: array<u32>;                 // [Hkv, kmax]
@group(0) @binding(4) var<storage, read> counts: array<u32>;              // [Hkv]
@group(0) @binding(5) var<storage, read_write> part_acc: array<WordF>;    // [Hq, splits, D]
@group(0) @binding(6) var<storage, read_write> part_ml: array<vec2<f32>>; // [Hq, splits] (max, sum)
@group(0) @binding(7) var<uniform> p: Params;
// The keys of KV head kvh: positions key_at(list, j), j < n.
struct Keys { list: u32, n: u32 }
fn keys_of(kvh: u32) -> Keys { return Keys(kvh * p.kmax, min(counts[kvh], p.kmax)); }
fn key_at(keys: Keys, j: u32) -> u32 { return sel[keys.list + j]; }
#else
@group(0) @binding(3) var<storage, read_write> part_acc: array<WordF>;
@group(0) @binding(4) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> p: Params;
struct Keys { list: u32, n: u32 }
fn keys_of(kvh: u32) -> Keys { return Keys(0u, min(step.pos + 1u, p.capacity)); }
fn key_at(keys: Keys, j: u32) -> u32 { return j; }
#endif

var<workgroup> qs: array<WordF, HPW * L>; // prescaled queries
// The upper half of the groups hands its states to the lower half, log2(NG) times, SLOTS groups at
// a time (workgroup memory: SLOTS states, 8 KiB at HPW = 4, D = 128).
override SLOTS: u32 = max(1u, min(NG / 2u, 4u));
var<workgroup> merge_acc: array<WordF, SLOTS * HPW * L>;
var<workgroup> merge_ml: array<vec2<f32>, SLOTS * HPW>;

// A group's state: per head its running max and sum, and the lane's words of its accumulator.
var<private> m: array<f32, MAXW>;
var<private> l: array<f32, MAXW>;
var<private> acc: array<WordF, MAXW>;  // [head][word of the lane]
// A step's K and V words as fetched ([key][word of the lane]), and its scores, then weights ([head][key]).
alias Words = array<Word, MAXW>;
var<private> kw: Words;
var<private> vw: Words;
var<private> s: array<f32, MAXS>;

fn unpack_word(x: Word) -> WordF {
  return WordF(vec4(unpack_h2(x.x), unpack_h2(x.y)), vec4(unpack_h2(x.z), unpack_h2(x.w)));
}
fn dot_word(a: WordF, b: WordF) -> f32 { return dot(a[0], b[0]) + dot(a[1], b[1]); }

fn lane_sum(x: f32) -> f32 {
  var y = x;
  for (var o = 1u; o < P; o *= 2u) { y += subgroupShuffleXor(y, o); }
  return y;
}

// Issues the loads of keys k0 .. k0+KI-1 (clamped to the last key: finite values nobody weighs);
// base is the KV head's first row.
fn fetch(keys: Keys, base: u32, k0: u32, lane: u32) {
  for (var c = 0u; c < KI; c++) {
    let row = base + key_at(keys, min(k0 + c, keys.n - 1u));
    for (var i = 0u; i < LW; i++) {
      kw[c * LW + i] = kc[row * L + lane + i * P];
      vw[c * LW + i] = vc[row * L + lane + i * P];
    }
  }
}

// Folds keys k0 .. k0+KI-1 (those below `end`), words kx and vx, into the group's state.
fn accumulate(kx: Words, vx: Words, k0: u32, end: u32, lane: u32) {
  for (var x = 0u; x < HPW * KI; x++) { s[x] = 0.0; }
  for (var i = 0u; i < LW; i++) {
    for (var c = 0u; c < KI; c++) {
      let kf = unpack_word(kx[c * LW + i]);
      for (var h = 0u; h < HPW; h++) { s[h * KI + c] += dot_word(qs[h * L + lane + i * P], kf); }
    }
  }
  for (var h = 0u; h < HPW; h++) {
    var mx = m[h];
    for (var c = 0u; c < KI; c++) {
      s[h * KI + c] = lane_sum(s[h * KI + c]);
      if (k0 + c < end) { mx = max(mx, s[h * KI + c]); }
    }
    let cf = exp2(m[h] - mx);
    m[h] = mx;
    l[h] *= cf;
    for (var i = 0u; i < LW; i++) { acc[h * LW + i] *= cf; }
    for (var c = 0u; c < KI; c++) {
      s[h * KI + c] = select(0.0, exp2(s[h * KI + c] - mx), k0 + c < end);
      l[h] += s[h * KI + c];
    }
  }
  for (var c = 0u; c < KI; c++) {
    for (var i = 0u; i < LW; i++) {
      let vf = unpack_word(vx[c * LW + i]);
      for (var h = 0u; h < HPW; h++) { acc[h * LW + i] += s[h * KI + c] * vf; }
    }
  }
}

// Merges the groups' states into group 0's: the upper half of the live groups hands its states over.
fn merge(g: u32, lane: u32) {
  for (var half = NG / 2u; half > 0u; half /= 2u) {
    for (var j = 0u; j < half; j += SLOTS) {
      if (g >= half + j && g < min(half + j + SLOTS, 2u * half)) { put(g - half - j, lane); }
      workgroupBarrier();
      if (g >= j && g < min(j + SLOTS, half)) { take(g - j, lane); }
      workgroupBarrier();
    }
  }
}

fn put(slot: u32, lane: u32) {
  for (var h = 0u; h < HPW; h++) {
    let at = slot * HPW + h;
    if (lane == 0u) { merge_ml[at] = vec2(m[h], l[h]); }
    for (var i = 0u; i < LW; i++) { merge_acc[at * L + lane + i * P] = acc[h * LW + i]; }
  }
}

fn take(slot: u32, lane: u32) {
  for (var h = 0u; h < HPW; h++) {
    let at = slot * HPW + h;
    let o = merge_ml[at];
    let mx = max(m[h], o.x);
    let a = exp2(m[h] - mx);
    let b = exp2(o.x - mx);
    m[h] = mx;
    l[h] = l[h] * a + o.y * b;
    for (var i = 0u; i < LW; i++) { acc[h * LW + i] = acc[h * LW + i] * a + merge_acc[at * L + lane + i * P] * b; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let split = wg.x;
  let head0 = wg.y * HPW;
  let kvh = head0 / (p.Hq / p.Hkv);
  let base = kvh * p.capacity;
  let keys = keys_of(kvh);
  // Splits cut at whole steps of the workgroup; late splits may be empty while the context is short.
  let n = keys.n;
  let per_step = NG * KI;
  let chunk = ((n + p.splits - 1u) / p.splits + per_step - 1u) / per_step * per_step;
  let begin = min(split * chunk, n);
  let end = min(begin + chunk, n);

  for (var i = lid; i < HPW * L; i += WG) {
    let e = (head0 + i / L) * L + i % L;
    qs[i] = WordF(q[2u * e], q[2u * e + 1u]) * p.scale;
  }
  workgroupBarrier();

  let lane = lid % P;
  let g = lid / P;
  for (var h = 0u; h < HPW; h++) {
    m[h] = NEG;
    l[h] = 0.0;
    for (var i = 0u; i < LW; i++) { acc[h * LW + i] = WordF(); }
  }
  // The loop's bounds are the workgroup's, so the shuffles stay in uniform control flow. PIPE: the
  // next step's loads are issued before this step's arithmetic (software pipelining).
#if PIPE
  if (begin < end) { fetch(keys, base, begin + g * KI, lane); }
#endif
  for (var t0 = begin; t0 < end; t0 += per_step) {
    let k0 = t0 + g * KI;
#if PIPE
    let kx = kw;
    let vx = vw;
    if (t0 + per_step < end) { fetch(keys, base, k0 + per_step, lane); }
    accumulate(kx, vx, k0, end, lane);
#else
    fetch(keys, base, k0, lane);
    accumulate(kw, vw, k0, end, lane);
#endif
  }
  merge(g, lane);
  if (g == 0u) {
    for (var h = 0u; h < HPW; h++) {
      let out = (head0 + h) * p.stride + split;
      for (var i = 0u; i < LW; i++) { part_acc[out * L + lane + i * P] = acc[h * LW + i]; }
      if (lane == 0u) { part_ml[out] = vec2(m[h], l[h]); }
    }
  }
}
