// Causal attention for a prefill chunk on tensor cores (subgroup matrices, f16 x f16 -> f32 at
// 16x16x16, subgroups of 32; needs the MMA and F16 defines). A workgroup of SG subgroups takes
// ROWS = 16·RB·SG rows: BQ queries x HPW heads of one KV group, so each K/V tile serves them all.
// Subgroup s owns RB blocks of 16 rows from row 16·RB·s and keeps their Q (f16, prescaled by
// scale·log2 e) in matrix registers; each K or V matrix it loads serves both of its blocks (RB = 2:
// a late 2048-token chunk at 128K 28.6 -> 24.7 ms on an H100, session 28), and the BATCH form,
// whose rows are few, takes RB = 1.
//
// One pass over the visible keys, in tiles of BK = 16 staged in workgroup memory once for all
// subgroups: S = Q·Kᵀ, P = exp2(S - m) as f16, l += Σ P, O += P·V; then O / l goes out. The
// online softmax raises a row's reference max m lazily (as FlashAttention-4 does): only when a tile's
// max exceeds it by more than LAZY, so P <= 2^LAZY stays far inside f16. Raising m means rescaling
// the row's O, and subgroup matrices cannot be scaled per row: O goes through workgroup memory, for
// every subgroup, in the rare tile where some row of the workgroup raised its max (the first tile,
// then seldom: later scores must beat the best so far by 2^LAZY). Measured on an H100, one layer
// over the last 2048-token chunk of a 128K context: 92 ms with two passes (max, then sums: half
// again the multiplies and a second K staging), 67 ms in one pass, 48 ms with each lane's S read
// from workgroup memory once into registers (instead of once for the max and once for P), 42 ms
// in tiles of 64 keys, 32 in tiles of 32 and 29 in tiles of 16 (session 21, docs/perf-notes.md): a
// smaller tile takes less workgroup memory (12 KB against 44) and fewer registers (the S values, K
// and V words a thread holds), so more workgroups share an SM, which more than pays for four times
// the barriers (those figures with RB = 1).
// Key tiles may run past the visible keys (the cache buffer has BK spare rows past its last head;
// keys past the visible ones get P = 0).
//
// BATCH: the context part of a batch's decode (ops/attention.ts, attentionDecodeBatch): the rows are
// (sequence, head) pairs of one KV head, (b, g) in b·G + g order, all over the shared context [0, ctx)
// without a mask, which workgroup (split, ·) takes the split-th share of; O and (m, l) go out
// unnormalised as split partials for attention_reduce (as attention_decode's do), so that every
// context K/V row is read once per tile of ROWS rows however many sequences there are.
//
// UNION (with BATCH): the keys are a union of the sequences' selections (wgsl/csa_union.wgsl),
// entries [0, union_n[kvh]) of union_keys, each with the bits of the sequences (seq0 + bit) that
// selected it; a row sees a key only where its sequence's bit is set, so that every selected row is
// read once per tile of ROWS rows, however many of the sequences selected it.
//
// Matrices are named variables, never arrays (an array of subgroup matrices indexed in a loop lands
// in local memory: 26 against 231 TFLOP/s measured on an H100); the DT > i guards fold away once D
// is fixed. Row strides are padded so that a warp's accesses spread over the banks.

// T: queries of the chunk; seqs, ctx, splits, total: BATCH's (its partials are [seqs·Hq, total, D]).
// UNION: seq0, the first sequence of the union's (and ctx, the stride of its keys and bits).
struct Params {
  T: u32, Hq: u32, Hkv: u32, capacity: u32, scale: f32, seqs: u32, ctx: u32, splits: u32, total: u32,
#if UNION
  seq0: u32,
#endif
}
struct Step { pos: u32 }

override HPW: u32 = 1;   // query heads per workgroup
override D: u32 = 128;   // head dim, a multiple of 16, at most MAX_D

override SG: u32 = 4u;   // subgroups per workgroup (2 to MAX_SG; 8 and 2 were slower, session 28)
const MAX_SG = 8u;
override RB: u32 = 2u;   // 16-row blocks a subgroup (1 or 2): each K and V matrix loaded serves both
override WG: u32 = 32u * SG;
override ROWS: u32 = 16u * RB * SG;
const BK = 16u;          // keys per tile (see above)
const HALF = BK / 2u;    // S values of a tile a lane holds
const NEG = -3.0e38;
const LAZY = 8.0;        // log2 of how far P may grow past 1 before m is raised
const MAX_D = 128u;
const SS = BK + 4u;      // row stride of S (f32)
const PS = BK + 8u;      // row stride of P (f16)

override BQ: u32 = ROWS / HPW;
override DT: u32 = D / 16u;       // 16-wide tiles of the head dim
override KS: u32 = D + 8u;        // row stride of a K or V tile

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

@group(0) @binding(0) var<storage, read> q: array<f32>;         // [T, Hq, D] f32
@group(0) @binding(1) var<storage, read> kc: array<u32>;        // [Hkv, capacity, D] f16 pairs (+ BK rows)
@group(0) @binding(2) var<storage, read> vc: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [T, Hq, D] f32 (BATCH: the partial O)
#if BATCH
@group(0) @binding(4) var<storage, read_write> part_ml: array<vec2<f32>>; // [seqs·Hq, total] (max, sum)
#else
@group(0) @binding(4) var<uniform> step: Step;
#endif
@group(0) @binding(5) var<uniform> p: Params;
#if UNION
@group(0) @binding(6) var<storage, read> union_keys: array<u32>;  // [Hkv, ctx]: the union's keys, ascending
@group(0) @binding(7) var<storage, read> union_bits: array<u32>;  // [Hkv, ctx]: which sequences selected each
@group(0) @binding(8) var<storage, read> union_n: array<u32>;     // [Hkv]: how many
#endif

var<workgroup> kv: array<f16, BK * (MAX_D + 8u)>;  // first Q, 16 rows at a time; then a K tile, or a V tile, [BK][KS]
var<workgroup> pt: array<f16, ROWS * PS>;          // P of subgroup s at rows 16·RB·s ..
var<workgroup> st: array<f32, ROWS * SS>;          // S of subgroup s at rows 16·RB·s ..; O when rescaled and at the end
var<workgroup> raised: array<u32, MAX_SG>;             // 1 where a row of subgroup s raised its max in this tile

// What workgroup (x, y) computes: x is its block of queries (BATCH: its split of the keys); first, its
// first head (BATCH: its first row among its KV head's (sequence, head) rows); the keys [begin, end)
// of its KV head's cache rows, from row row0 (UNION: entries [begin, end) of its union).
struct Work { x: u32, first: u32, kvh: u32, row0: u32, begin: u32, end: u32 }

// A query row: query (BATCH: sequence) `query` of head `head`; q and out hold it at query·Hq + head.
struct Row { valid: bool, query: u32, head: u32 }

#if BATCH
fn work_of(wg: vec3<u32>) -> Work {
  let tiles = (p.seqs * (p.Hq / p.Hkv) + ROWS - 1u) / ROWS;
  let kvh = wg.y / tiles;
  let span = keys_of(kvh);
  let chunk = ((span + p.splits - 1u) / p.splits + BK - 1u) / BK * BK;
  let begin = min(wg.x * chunk, span);
  return Work(wg.x, (wg.y % tiles) * ROWS, kvh, kvh * p.capacity, begin, min(begin + chunk, span));
}
// Row r of the workgroup is its KV head's row i = first + r: sequence seq0 + i / G, head kvh·G + i % G.
fn row_of(r: u32, w: Work) -> Row {
  let G = p.Hq / p.Hkv;
  let i = w.first + r;
  return Row(i < p.seqs * G, first_seq() + i / G, w.kvh * G + i % G);
}
// chosen's load outside the && chain: no lane-divergent branch around a load (see softmax).
fn visible(t: u32, row: Row, w: Work) -> bool { let c = chosen(t, row, w); return row.valid && t < w.end && c; }
#endif
// BATCH's keys: the context's, or (UNION) a union's entries, each seen by the rows of the sequences that chose it.
#if UNION
fn keys_of(kvh: u32) -> u32 { return union_n[kvh]; }
fn first_seq() -> u32 { return p.seq0; }
// t may run past the union (a tile's tail): the load stays in the buffer (no robustness checks).
fn chosen(t: u32, row: Row, w: Work) -> bool { return ((union_bits[w.kvh * p.ctx + min(t, p.ctx - 1u)] >> (row.query - p.seq0)) & 1u) != 0u; }
#else
fn keys_of(kvh: u32) -> u32 { return p.ctx; }
fn first_seq() -> u32 { return 0u; }
fn chosen(t: u32, row: Row, w: Work) -> bool { return true; }
#endif
#if !BATCH
fn work_of(wg: vec3<u32>) -> Work {
  let h0 = wg.y * HPW;
  let kvh = h0 / (p.Hq / p.Hkv);
  let last = min(p.T, (wg.x + 1u) * BQ) - 1u;
  // Keys [0, step.pos + last] are visible to some row.
  return Work(wg.x, h0, kvh, kvh * p.capacity, 0u, min(step.pos + last + 1u, p.capacity));
}
// Row r of the workgroup is query x·BQ + r/HPW of head first + r%HPW.
fn row_of(r: u32, w: Work) -> Row {
  let i = w.x * BQ + r / HPW;
  return Row(r < BQ * HPW && i < p.T, i, w.first + r % HPW);
}
fn visible(t: u32, row: Row, w: Work) -> bool { return row.valid && t <= step.pos + row.query; }
#endif

// A tile of K (or V), rows row0 .. row0+BK-1, moves into kv in two steps: fetch issues a thread's
// loads, put stores them once kv is free. Staging whose loads waited for each other in turn took 5/6
// of the time (measured); V is fetched before the scores and the next K before P·V, so that their
// loads run under the multiplies.
const WORDS = BK * MAX_D / 2u / 64u;    // words (f16 pairs) per thread at the largest D and fewest threads
override PER: u32 = BK * D / 2u / WG;   // ... at this D
alias Words = array<u32, WORDS>;
fn fetch(row0: u32, lid: u32, values: bool) -> Words {
  var words: Words;
  let at = row0 * (D / 2u) + lid;
  if (values) {
    for (var i = 0u; i < PER; i++) { words[i] = vc[at + i * WG]; }
  } else {
    for (var i = 0u; i < PER; i++) { words[i] = kc[at + i * WG]; }
  }
  return words;
}
// The tile of keys t0 .. t0+BK-1 of w: cache rows from w.row0 + t0, or (UNION) the rows of those
// union entries (clamped to the last one: finite values that P = 0 ignores).
#if UNION
fn fetch_tile(w: Work, t0: u32, lid: u32, values: bool) -> Words {
  var words: Words;
  let last = max(w.end, 1u) - 1u;
  for (var i = 0u; i < PER; i++) {
    let e = lid + i * WG;
    let at = (w.row0 + union_keys[w.kvh * p.ctx + min(t0 + e / (D / 2u), last)]) * (D / 2u) + e % (D / 2u);
    if (values) { words[i] = vc[at]; } else { words[i] = kc[at]; }
  }
  return words;
}
#else
fn fetch_tile(w: Work, t0: u32, lid: u32, values: bool) -> Words { return fetch(w.row0 + t0, lid, values); }
#endif
fn put(words: Words, lid: u32) {
  for (var i = 0u; i < PER; i++) {
    let e = lid + i * WG;
    let h = bitcast<vec2<f16>>(words[i]);
    let j = e / (D / 2u) * KS + 2u * (e % (D / 2u));
    kv[j] = h.x;
    kv[j + 1u] = h.y;
  }
}

fn mma(a: Left, b: Right, c: Acc) -> Acc { return subgroupMatrixMultiplyAccumulate(a, b, c); }

// S of the subgroup's blocks (the 16 rows from `base`, and with RB = 2 the next 16) against the
// staged keys, into those rows of st; each K matrix loaded once for both blocks.
fn qk(a: ptr<function, Acc>, b: ptr<function, Acc>, qa: Left, qb: Left, n: u32, kk: u32) {
  let km = subgroupMatrixLoad<Right, col_major>(&kv, n * 16u * KS + kk * 16u, KS);
  *a = mma(qa, km, *a);
  if (RB > 1u) { *b = mma(qb, km, *b); }
}
fn scores(base: u32, qa: QTiles, qb: QTiles) {
  for (var n = 0u; n < BK / 16u; n++) {
    var a = Acc();
    var b = Acc();
    qk(&a, &b, qa.t0, qb.t0, n, 0u);
    if (DT > 1u) { qk(&a, &b, qa.t1, qb.t1, n, 1u); }
    if (DT > 2u) { qk(&a, &b, qa.t2, qb.t2, n, 2u); }
    if (DT > 3u) { qk(&a, &b, qa.t3, qb.t3, n, 3u); }
    if (DT > 4u) { qk(&a, &b, qa.t4, qb.t4, n, 4u); }
    if (DT > 5u) { qk(&a, &b, qa.t5, qb.t5, n, 5u); }
    if (DT > 6u) { qk(&a, &b, qa.t6, qb.t6, n, 6u); }
    if (DT > 7u) { qk(&a, &b, qa.t7, qb.t7, n, 7u); }
    subgroupMatrixStore<row_major>(&st, base * SS + n * 16u, a, SS);
    if (RB > 1u) { subgroupMatrixStore<row_major>(&st, (base + 16u) * SS + n * 16u, b, SS); }
  }
}

// oa += pa · (head-dim tile n of V's keys 16kk .. 16kk+15), and ob += pb · the same with RB = 2.
fn pv(oa: ptr<function, Acc>, ob: ptr<function, Acc>, pa: Left, pb: Left, kk: u32, n: u32) {
  let vm = subgroupMatrixLoad<Right, row_major>(&kv, kk * 16u * KS + n * 16u, KS);
  *oa = mma(pa, vm, *oa);
  if (RB > 1u) { *ob = mma(pb, vm, *ob); }
}

// Where a row's output starts in out (BATCH: its partial of split x).
fn out_at(row: Row, w: Work) -> u32 {
#if BATCH
  return ((row.query * p.Hq + row.head) * p.total + w.x) * D;
#else
  return (row.query * p.Hq + row.head) * D;
#endif
}

// Head-dim tile n of O (the 16 rows from `base`) · inv through st to the row's place in out: lane
// l takes row l / 2, 8 dims.
fn emit(o: Acc, n: u32, base: u32, lane: u32, row: Row, at: u32, inv: f32) {
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&st, base * SS, o, SS);
  workgroupBarrier();
  let c0 = (lane % 2u) * 8u;
  for (var c = c0; c < c0 + 8u; c++) {
    if (row.valid) { out[at + n * 16u + c] = st[(base + lane / 2u) * SS + c] * inv; }
  }
}

fn any_raised(r: array<u32, MAX_SG>) -> bool {
  var n = 0u;
  for (var s = 0u; s < SG; s++) { n += r[s]; }
  return n > 0u;
}

// O's head-dim tile o (the 16 rows from `base`) with each row scaled by its lane's alpha, through
// those rows of st.
fn rescaled(o: Acc, base: u32, lane: u32, alpha: f32) -> Acc {
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&st, base * SS, o, SS);
  workgroupBarrier();
  let at = (base + lane / 2u) * SS + (lane % 2u) * 8u;
  for (var c = at; c < at + 8u; c++) { st[c] *= alpha; }
  workgroupBarrier();
  return subgroupMatrixLoad<Acc, row_major>(&st, base * SS, SS);
}

// The row's reference max after this tile (raised to the tile's max where that exceeds m by more
// than LAZY), and Σ P of the tile's keys, P = exp2(S - that max) written to pt as f16.
struct Soft { m: f32, l: f32 }
#if UNION
// A row may see no key of a tile (its sequence chose none of them) while its m is still NEG: P = 0 there.
fn weight(s: f32, m: f32) -> f32 { return select(0.0, exp2(s - m), s > NEG); }
#else
fn weight(s: f32, m: f32) -> f32 { return exp2(s - m); }
#endif
// Branch-free: with a lane-divergent branch here the multiplies after it came out wrong on an
// H100 (Vulkan promises no reconvergence after a branch; subgroup matrices need the whole subgroup).
fn softmax(t0: u32, row: Row, w: Work, so: u32, po: u32, h: u32, m: f32) -> Soft {
  var sv: array<f32, HALF>;               // this lane's S of the tile (masked)
  var mt = NEG;
  for (var c = 0u; c < HALF; c++) { sv[c] = select(NEG, st[so + 2u * c], visible(t0 + 2u * c + h, row, w)); mt = max(mt, sv[c]); }
  mt = max(mt, subgroupShuffleXor(mt, 1u));
  let mn = select(m, mt, mt > m + LAZY);
  var l = 0.0;
  for (var c = 0u; c < HALF; c++) {
    let x = weight(sv[c], mn);
    l += x;
    pt[po + 2u * c] = f16(x);
  }
  return Soft(mn, l);
}

// A block's end: l summed over the row's two lanes, then O / l to out (BATCH: O and (m, l) as split
// partials).
fn finish(o0: Acc, o1: Acc, o2: Acc, o3: Acc, o4: Acc, o5: Acc, o6: Acc, o7: Acc,
          base: u32, lane: u32, row: Row, w: Work, m: f32, l_lane: f32) {
  let l = l_lane + subgroupShuffleXor(l_lane, 1u);
  let at = out_at(row, w);
#if BATCH
  let inv = 1.0;
  if (row.valid && lane % 2u == 0u) { part_ml[at / D] = vec2(m, l); }
#else
  let inv = 1.0 / l;
#endif
  emit(o0, 0u, base, lane, row, at, inv);
  if (DT > 1u) { emit(o1, 1u, base, lane, row, at, inv); }
  if (DT > 2u) { emit(o2, 2u, base, lane, row, at, inv); }
  if (DT > 3u) { emit(o3, 3u, base, lane, row, at, inv); }
  if (DT > 4u) { emit(o4, 4u, base, lane, row, at, inv); }
  if (DT > 5u) { emit(o5, 5u, base, lane, row, at, inv); }
  if (DT > 6u) { emit(o6, 6u, base, lane, row, at, inv); }
  if (DT > 7u) { emit(o7, 7u, base, lane, row, at, inv); }
}

// A 16-row block of Q as DT named matrices (named, not an array: they stay in registers).
struct QTiles { t0: Left, t1: Left, t2: Left, t3: Left, t4: Left, t5: Left, t6: Left, t7: Left }
fn q_tile(i: u32) -> Left { return subgroupMatrixLoad<Left, row_major>(&kv, 16u * i, D); }
// The block staged in kv.
fn q_tiles() -> QTiles {
  var q = QTiles(Left(), Left(), Left(), Left(), Left(), Left(), Left(), Left());
  q.t0 = q_tile(0u);
  if (DT > 1u) { q.t1 = q_tile(1u); }
  if (DT > 2u) { q.t2 = q_tile(2u); }
  if (DT > 3u) { q.t3 = q_tile(3u); }
  if (DT > 4u) { q.t4 = q_tile(4u); }
  if (DT > 5u) { q.t5 = q_tile(5u); }
  if (DT > 6u) { q.t6 = q_tile(6u); }
  if (DT > 7u) { q.t7 = q_tile(7u); }
  return q;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let w = work_of(wg);
  let base = sg * 16u * RB;   // the subgroup's first row
  // Q into matrix registers, 16 rows at a time through kv (which holds BK rows): q of the
  // subgroup's first block (qa), and with RB = 2 its second (qb).
  var qa = QTiles(Left(), Left(), Left(), Left(), Left(), Left(), Left(), Left());
  var qb = qa;
  for (var b = 0u; b < SG * RB; b++) {
    for (var e = lid; e < 16u * D; e += WG) {
      let row = row_of(16u * b + e / D, w);
      var x = 0.0;
      if (row.valid) { x = q[(row.query * p.Hq + row.head) * D + e % D] * p.scale; }
      kv[e] = f16(x);
    }
    workgroupBarrier();
    if (sg == b / RB && b % RB == 0u) { qa = q_tiles(); }
    if (sg == b / RB && b % RB == 1u) { qb = q_tiles(); }
    workgroupBarrier();
  }

  // Lane `lane` covers row r of each of its subgroup's blocks, columns 2c + h (c < HALF) of each
  // 16 x BK tile; m and l: the row's reference max and sum (both lanes of a row hold the same),
  // o and m, l of the first block, ob and mb, lb of the second.
  let r = lane / 2u;
  let h = lane % 2u;
  let row = row_of(base + r, w);
  let row_b = row_of(base + 16u + r, w);
  let so = (base + r) * SS + h;
  let po = (base + r) * PS + h;
  var m = NEG;
  var l = 0.0;
  var mb = NEG;
  var lb = 0.0;
  var o0 = Acc(); var o1 = Acc(); var o2 = Acc(); var o3 = Acc(); var o4 = Acc(); var o5 = Acc(); var o6 = Acc(); var o7 = Acc();
  var ob0 = Acc(); var ob1 = Acc(); var ob2 = Acc(); var ob3 = Acc(); var ob4 = Acc(); var ob5 = Acc(); var ob6 = Acc(); var ob7 = Acc();
  var kw = fetch_tile(w, w.begin, lid, false);
  for (var t0 = w.begin; t0 < w.end; t0 += BK) {
    let vw = fetch_tile(w, t0, lid, true);
    workgroupBarrier();                   // everyone is done with the last V tile and P
    put(kw, lid);
    workgroupBarrier();
    scores(base, qa, qb);
    workgroupBarrier();

    let soft = softmax(t0, row, w, so, po, h, m);
    let up = soft.m > m;
    let alpha = select(1.0, exp2(m - soft.m), up);
    m = soft.m;
    l = l * alpha + soft.l;
    var up_b = false;
    var alpha_b = 1.0;
    if (RB > 1u) {
      let soft_b = softmax(t0, row_b, w, so + 16u * SS, po + 16u * PS, h, mb);
      up_b = soft_b.m > mb;
      alpha_b = select(1.0, exp2(mb - soft_b.m), up_b);
      mb = soft_b.m;
      lb = lb * alpha_b + soft_b.l;
    }
    raised[sg] = u32(subgroupAny(up || up_b));
    if (any_raised(workgroupUniformLoad(&raised)) && t0 > w.begin) {   // a barrier too: S and K are spent
      o0 = rescaled(o0, base, lane, alpha);
      if (DT > 1u) { o1 = rescaled(o1, base, lane, alpha); }
      if (DT > 2u) { o2 = rescaled(o2, base, lane, alpha); }
      if (DT > 3u) { o3 = rescaled(o3, base, lane, alpha); }
      if (DT > 4u) { o4 = rescaled(o4, base, lane, alpha); }
      if (DT > 5u) { o5 = rescaled(o5, base, lane, alpha); }
      if (DT > 6u) { o6 = rescaled(o6, base, lane, alpha); }
      if (DT > 7u) { o7 = rescaled(o7, base, lane, alpha); }
      if (RB > 1u) {
        ob0 = rescaled(ob0, base + 16u, lane, alpha_b);
        if (DT > 1u) { ob1 = rescaled(ob1, base + 16u, lane, alpha_b); }
        if (DT > 2u) { ob2 = rescaled(ob2, base + 16u, lane, alpha_b); }
        if (DT > 3u) { ob3 = rescaled(ob3, base + 16u, lane, alpha_b); }
        if (DT > 4u) { ob4 = rescaled(ob4, base + 16u, lane, alpha_b); }
        if (DT > 5u) { ob5 = rescaled(ob5, base + 16u, lane, alpha_b); }
        if (DT > 6u) { ob6 = rescaled(ob6, base + 16u, lane, alpha_b); }
        if (DT > 7u) { ob7 = rescaled(ob7, base + 16u, lane, alpha_b); }
      }
    }
    put(vw, lid);
    if (t0 + BK < w.end) { kw = fetch_tile(w, t0 + BK, lid, false); }  // in flight during P·V
    workgroupBarrier();
    for (var kk = 0u; kk < BK / 16u; kk++) {
      let pa = subgroupMatrixLoad<Left, row_major>(&pt, base * PS + kk * 16u, PS);
      var pb = Left();
      if (RB > 1u) { pb = subgroupMatrixLoad<Left, row_major>(&pt, (base + 16u) * PS + kk * 16u, PS); }
      pv(&o0, &ob0, pa, pb, kk, 0u);
      if (DT > 1u) { pv(&o1, &ob1, pa, pb, kk, 1u); }
      if (DT > 2u) { pv(&o2, &ob2, pa, pb, kk, 2u); }
      if (DT > 3u) { pv(&o3, &ob3, pa, pb, kk, 3u); }
      if (DT > 4u) { pv(&o4, &ob4, pa, pb, kk, 4u); }
      if (DT > 5u) { pv(&o5, &ob5, pa, pb, kk, 5u); }
      if (DT > 6u) { pv(&o6, &ob6, pa, pb, kk, 6u); }
      if (DT > 7u) { pv(&o7, &ob7, pa, pb, kk, 7u); }
    }
  }
  finish(o0, o1, o2, o3, o4, o5, o6, o7, base, lane, row, w, m, l);
  if (RB > 1u) { finish(ob0, ob1, ob2, ob3, ob4, ob5, ob6, ob7, base + 16u, lane, row_b, w, mb, lb); }
}
