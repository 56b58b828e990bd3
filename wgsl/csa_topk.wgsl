// Decode step, 3: top-K keys of each list's summed scores, by radix select on a 22-bit order key
// (order_key.wgsl) in two 11-bit digits. Three variants of this file, one dispatch each over
// (chunks of SUB sub-chunks of CHUNK keys, lists); each variant first redoes, in every workgroup, the small
// resolve step the previous one left (reading a 2048-bin histogram), instead of a dispatch of its own:
//   HIST     histogram of the high digit over the candidate keys (csa_score makes it for CSA);
//            clears the low digit's (see clear_hist)
//   REFINE   the bin of the R-th largest high digit, and the count above it; histogram of the low
//            digit among candidates in that bin; per chunk, the keys taken for sure at any low digit
//            (sinks, window, candidates above the bin) and the suffix counts of its own low digits
//            in the bin (chunk_low[j]: how many have a low digit >= j)
//   COMPACT  the threshold T and how many keys equal to T make the cut (the lowest indices); each
//            chunk's offset from the earlier chunks' counts at T (so the result is deterministic);
//            the selection in ascending key order; clears the high digit's histogram for the
//            next step; appends the generated keys [keys, pos] (pos: the list's sequence's position)
// The scores are only read: every scoring kernel writes all of a list's keys each step.
// Candidates are the context keys outside the sinks [0, sink_end) and the window [win_start, keys),
// which are always taken; R of the candidates are picked. A workgroup's chunk holds SUB sub-chunks of WG * KPT keys;
// loads are coalesced (thread t reads keys t, t + WG, ...), all 16 of a thread in flight together,
// and COMPACT, whose threads own KPT consecutive keys each (for the key order), passes them through
// workgroup memory.
// per_seq: lists of one sequence (a batch's sequences' lists follow each other).
struct Params { keys: u32, r: u32, sink_end: u32, win_start: u32, chunks: u32, kctx: u32, kmax: u32, max_new: u32, per_seq: u32 }
@group(0) @binding(0) var<storage, read> acc: array<i32>;               // [lists, keys]
@group(0) @binding(1) var<storage, read_write> hist: array<atomic<u32>>; // [lists, 2, BINS]
@group(0) @binding(2) var<storage, read_write> state: array<vec2<u32>>;  // [lists] (high bin, count above it)
@group(0) @binding(3) var<storage, read_write> chunk_cnt: array<u32>;    // [lists, chunks] taken for sure
@group(0) @binding(8) var<storage, read_write> chunk_low: array<u32>;    // [lists, chunks, BINS] suffix counts
@group(0) @binding(4) var<storage, read_write> sel: array<u32>;          // [lists, kmax]
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;       // [lists]
@group(0) @binding(6) var<storage, read> positions: array<u32>;         // [seqs] this step's
@group(0) @binding(7) var<uniform> p: Params;

// 2048 bins / 256 threads = 8 bins per thread in resolve().
const WG = 256u;
const KPT = 16u;
const CHUNK = WG * KPT; // keys of a sub-chunk
// Sub-chunks a workgroup takes one after another: where the lists are many (a batch), fewer
// workgroups, each resolving the histograms and writing its suffix counts once for more keys.
override SUB: u32 = 1u;
const NONE = 0xffffffffu; // also the order key of a key that is no candidate

#include order_key

var<workgroup> local_hist: array<atomic<u32>, BINS>; // zero at the start (WGSL)
// COMPACT's order keys, thread t's keys at [t * (KPT + 1), t * (KPT + 1) + KPT) (padded: no bank conflicts).
var<workgroup> stage: array<u32, WG * (KPT + 1u)>;
var<workgroup> found: vec2<u32>;
var<workgroup> sums: array<atomic<u32>, 2>;

// Workgroup total of v (atomics: fewer barriers than a scan).
fn total(lid: u32, v: vec2<u32>) -> vec2<u32> {
  if (lid == 0u) { atomicStore(&sums[0], 0u); atomicStore(&sums[1], 0u); }
  workgroupBarrier();
  if (v.x > 0u) { atomicAdd(&sums[0], v.x); }
  if (v.y > 0u) { atomicAdd(&sums[1], v.y); }
  workgroupBarrier();
  return vec2<u32>(atomicLoad(&sums[0]), atomicLoad(&sums[1]));
}

fn forced(k: u32) -> bool { return k < p.sink_end || (k >= p.win_start && k < p.keys); }
fn candidate(k: u32) -> bool { return k >= p.sink_end && k < p.win_start; }

// The order key of key k of `list` (NONE where no candidate), and of keys k, k + WG, k + 2 WG, k + 3 WG.
fn okey(list: u32, k: u32) -> u32 {
  return select(NONE, order_of(acc[list * p.keys + min(k, p.keys - 1u)]), candidate(k));
}
fn okey4(list: u32, k: u32) -> vec4<u32> {
  return vec4<u32>(okey(list, k), okey(list, k + WG), okey(list, k + 2u * WG), okey(list, k + 3u * WG));
}

#include scan_u32x2

// The bin holding the r-th largest key (r >= 1) of histogram `at`, and the count above that bin.
fn resolve(lid: u32, at: u32, r: u32) -> vec2<u32> {
  let top = BINS - 8u * lid;
  var h: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) { h[i] = atomicLoad(&hist[at + top - 1u - i]); }
  var c = 0u;
  for (var i = 0u; i < 8u; i++) { c += h[i]; }
  var above = scan(lid, vec2<u32>(c, 0u)).before.x;
  if (above < r && r <= above + c) {
    for (var i = 0u; i < 8u; i++) {
      if (above + h[i] >= r) { found = vec2<u32>(top - 1u - i, above); break; }
      above += h[i];
    }
  }
  return workgroupUniformLoad(&found);
}

// This thread's 16 order keys of the chunk (keys k + i WG, i < KPT), all loads in flight together:
// a workgroup-memory atomic holds back every load issued after it.
struct Owned { a: vec4<u32>, b: vec4<u32>, c: vec4<u32>, d: vec4<u32> }
fn owned(list: u32, k: u32) -> Owned {
  return Owned(okey4(list, k), okey4(list, k + 4u * WG), okey4(list, k + 8u * WG), okey4(list, k + 12u * WG));
}

fn tally(u: vec4<u32>, want: u32) {
  for (var c = 0u; c < 4u; c++) {
    if (u[c] == NONE) { continue; }
    if (want == NONE) { atomicAdd(&local_hist[u[c] >> 11u], 1u); }
    else if ((u[c] >> 11u) == want) { atomicAdd(&local_hist[u[c] & 2047u], 1u); }
  }
}

fn tally16(u: Owned, want: u32) {
  tally(u.a, want);
  tally(u.b, want);
  tally(u.c, want);
  tally(u.d, want);
}

// (keys taken for sure, candidates equal to the threshold t) among key k of order key u.
fn classify(k: u32, u: u32, t: u32) -> vec2<u32> {
  if (forced(k)) { return vec2<u32>(1u, 0u); }
  if (u == NONE) { return vec2<u32>(0u); }
  return vec2<u32>(u32(u > t), u32(u == t));
}

// Keys taken at any low digit, among keys k, k + WG, k + 2 WG, k + 3 WG of order keys u: forced
// ones, and candidates whose high digit is above `high` (none when high is NONE).
fn sure4(k: u32, u: vec4<u32>, high: u32) -> u32 {
  var n = 0u;
  for (var c = 0u; c < 4u; c++) {
    if (forced(k + c * WG) || (u[c] != NONE && high != NONE && (u[c] >> 11u) > high)) { n++; }
  }
  return n;
}

// sure4 over this thread's keys of a sub-chunk (k, k + WG, ...; order keys u).
fn sure(k: u32, u: Owned, high: u32) -> u32 {
  return sure4(k, u.a, high) + sure4(k + 4u * WG, u.b, high) + sure4(k + 8u * WG, u.c, high) + sure4(k + 12u * WG, u.d, high);
}

// This thread's keys of the workgroup's sub-chunks (k + r CHUNK + i WG; `first`: the first one's
// order keys, loaded): how many are taken for sure above bin `high`, and with `count` their
// candidates tallied in local_hist (by high digit where high is NONE, else the low digits of those
// in bin `high`). A sub-chunk's loads are issued before the atomics of the one before.
fn sweep(list: u32, k: u32, first: Owned, high: u32, count: bool) -> u32 {
  var u = first;
  var n = 0u;
  for (var r = 0u; r < SUB; r++) {
    var next = u;
    if (r + 1u < SUB) { next = owned(list, k + (r + 1u) * CHUNK); }
    n += sure(k + r * CHUNK, u, high);
    if (count) { tally16(u, high); }
    u = next;
  }
  return n;
}

// Writes to chunk_low[at + j] how many of the chunk's counted keys (local_hist) have a low digit >= j.
fn suffix_counts(lid: u32, at: u32) {
  let top = BINS - 8u * lid;
  var h: array<u32, 8>;
  var c = 0u;
  for (var i = 0u; i < 8u; i++) { h[i] = atomicLoad(&local_hist[top - 1u - i]); c += h[i]; }
  var above = scan(lid, vec2<u32>(c, 0u)).before.x;
  for (var i = 0u; i < 8u; i++) {
    above += h[i];
    chunk_low[at + top - 1u - i] = above;
  }
}

// Chunk c's keys above the threshold t (those taken for sure, and its candidates in t's high bin
// with a higher low digit), and its candidates equal to t.
fn taken_at(list: u32, c: u32, t: u32) -> vec2<u32> {
  let sure = chunk_cnt[list * p.chunks + c];
  if (t == NONE) { return vec2<u32>(sure, 0u); }
  let low = t & 2047u;
  let at = (list * p.chunks + c) * BINS + low;
  let ge = chunk_low[at];
  let gt = select(0u, chunk_low[at + 1u], low < BINS - 1u);
  return vec2<u32>(sure + gt, ge - gt);
}

// The threshold T and the ties taken (T is NONE when nothing is picked by score: no key beats it).
fn threshold(lid: u32, list: u32) -> vec2<u32> {
  if (p.r == 0u) { return vec2<u32>(NONE, 0u); }
  let high = state[list];
  let r = p.r - high.y;
  let low = resolve(lid, (list * 2u + 1u) * BINS, r);
  return vec2<u32>((high.x << 11u) | low.x, r - low.y);
}

// Chunk positions j, j + WG, j + 2 WG, j + 3 WG of order keys u into stage.
fn stage4(j: u32, u: vec4<u32>) {
  for (var c = 0u; c < 4u; c++) {
    let jc = j + c * WG;
    stage[jc + jc / KPT] = u[c];
  }
}

fn compact(lid: u32, list: u32, chunk: u32) {
  let base = chunk * SUB * CHUNK;
  var u = owned(list, base + lid);
  let cut = threshold(lid, list);
  var before = vec2<u32>(0u, 0u);
  for (var c = lid; c < chunk; c += WG) { before += taken_at(list, c, cut.x); }
  // Keys before this sub-chunk: (above the threshold, equal to it).
  var earlier = total(lid, before);
  for (var r = 0u; r < SUB; r++) {
    // This thread's keys into its slots of stage; the next sub-chunk's loads in flight.
    stage4(lid, u.a);
    stage4(lid + 4u * WG, u.b);
    stage4(lid + 8u * WG, u.c);
    stage4(lid + 12u * WG, u.d);
    if (r + 1u < SUB) { u = owned(list, base + (r + 1u) * CHUNK + lid); }
    workgroupBarrier();
    let first = base + r * CHUNK + lid * KPT;
    let slot = lid * (KPT + 1u);
    var mine = vec2<u32>(0u);
    for (var i = 0u; i < KPT; i++) { mine += classify(first + i, stage[slot + i], cut.x); }
    let at = scan(lid, mine);
    var eq_seen = earlier.y + at.before.y;
    var out = earlier.x + at.before.x + min(eq_seen, cut.y);
    for (var i = 0u; i < KPT; i++) {
      let k = first + i;
      let o = stage[slot + i];
      var take = forced(k);
      if (o != NONE) {
        take = o > cut.x;
        if (o == cut.x) { take = eq_seen < cut.y; eq_seen++; }
      }
      if (take) { sel[list * p.kmax + out] = k; out++; }
    }
    earlier += at.total;
    if (r + 1u < SUB) { workgroupBarrier(); } // stage is refilled next (not after the last: one sub-chunk, no barrier)
  }
  clear_hist(lid, list * 2u * BINS, chunk, p.chunks);
  if (chunk == 0u) {
    let pos = positions[list / p.per_seq];
    var gen = 0u;
    if (pos + 1u > p.keys) { gen = min(pos + 1u - p.keys, p.max_new); }
    for (var i = lid; i < gen; i += WG) { sel[list * p.kmax + p.kctx + i] = p.keys + i; }
    if (lid == 0u) { counts[list] = p.kctx + gen; }
  }
}

// Each variant loads its thread's keys of the chunk first: those loads are in flight while it resolves
// the previous stage's histogram.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.x;
  let list = wid.y;
  let k = chunk * SUB * CHUNK + lid;
#if HIST
  clear_hist(lid, (list * 2u + 1u) * BINS, chunk, p.chunks);
  if (p.r > 0u) {
    sweep(list, k, owned(list, k), NONE, true); // its count of keys taken for sure is REFINE's, not needed here
    workgroupBarrier();
    flush_hist(lid, list * 2u * BINS);
  }
#endif
#if REFINE
  let u = owned(list, k);
  var high = vec2<u32>(NONE, 0u);
  if (p.r > 0u) { high = resolve(lid, list * 2u * BINS, p.r); }
  // total()'s barriers also complete the local histogram.
  let n = total(lid, vec2<u32>(sweep(list, k, u, high.x, p.r > 0u), 0u)).x;
  if (p.r > 0u) {
    flush_hist(lid, (list * 2u + 1u) * BINS);
    suffix_counts(lid, (list * p.chunks + chunk) * BINS);
  }
  if (lid == 0u) {
    chunk_cnt[list * p.chunks + chunk] = n;
    if (chunk == 0u) { state[list] = high; }
  }
#endif
#if COMPACT
  compact(lid, list, chunk);
#endif
}
