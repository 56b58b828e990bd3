// Decode step, 3: top-K keys of each list's summed scores, in four dispatches of this kernel
// (p.stage), over chunks of 4096 keys:
//   0  histogram of the high 11 bits of the 22-bit order key, over the candidate keys
//   1  find the bin of the R-th largest; histogram of the low 11 bits within that bin
//   2  find the threshold T and how many keys equal to T make the cut (the lowest indices);
//      count per chunk the keys taken for sure and the keys equal to T
//   3  write the selection in ascending key order (a prefix over chunks gives each chunk's
//      offset, so the result is deterministic), then clear the scores and histograms for the next
//      step and append the generated keys [keys, step.pos].
// Candidates are the context keys outside the sinks [0, sink_end) and the window [win_start, keys),
// which are always taken; R of the candidates are picked.
struct Params { keys: u32, r: u32, sink_end: u32, win_start: u32, chunks: u32, kctx: u32, kmax: u32, max_new: u32, stage: u32 }
struct Step { pos: u32 }
@group(0) @binding(0) var<storage, read_write> acc: array<i32>;          // [lists, keys]
@group(0) @binding(1) var<storage, read_write> hist: array<atomic<u32>>; // [lists, 2, 2048]
@group(0) @binding(2) var<storage, read_write> state: array<vec2<u32>>;  // [lists] threshold, ties taken
@group(0) @binding(3) var<storage, read_write> chunk_cnt: array<vec2<u32>>; // [lists, chunks]
@group(0) @binding(4) var<storage, read_write> sel: array<u32>;          // [lists, kmax]
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;       // [lists]
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<uniform> p: Params;

// 2048 bins / 256 threads = 8 bins per thread in resolve(); 16 keys per thread per chunk.
const WG = 256u;
const KPT = 16u;
const BINS = 2048u;
const NONE = 0xffffffffu;

var<workgroup> local_hist: array<atomic<u32>, BINS>;
var<workgroup> scan_buf: array<u32, WG>;
var<workgroup> found: vec2<u32>;

fn order_key(list: u32, k: u32) -> u32 {
  return u32(clamp(acc[list * p.keys + k] + (1 << 21u), 0, (1 << 22u) - 1));
}
fn forced(k: u32) -> bool { return k < p.sink_end || (k >= p.win_start && k < p.keys); }
fn candidate(k: u32) -> bool { return k >= p.sink_end && k < p.win_start; }

// Exclusive prefix sum of v over the workgroup, and the total.
fn scan(lid: u32, v: u32) -> vec2<u32> {
  scan_buf[lid] = v;
  workgroupBarrier();
  for (var off = 1u; off < WG; off <<= 1u) {
    var add = 0u;
    if (lid >= off) { add = scan_buf[lid - off]; }
    workgroupBarrier();
    scan_buf[lid] += add;
    workgroupBarrier();
  }
  let r = vec2<u32>(scan_buf[lid] - v, scan_buf[WG - 1u]);
  workgroupBarrier();
  return r;
}

// The bin holding the r-th largest key (r >= 1) of histogram `at`, and the count above that bin.
fn resolve(lid: u32, at: u32, r: u32) -> vec2<u32> {
  let top = BINS - 8u * lid;
  var c = 0u;
  for (var i = 1u; i <= 8u; i++) { c += atomicLoad(&hist[at + top - i]); }
  var above = scan(lid, c).x;
  if (above < r && r <= above + c) {
    for (var i = 1u; i <= 8u; i++) {
      let h = atomicLoad(&hist[at + top - i]);
      if (above + h >= r) { found = vec2<u32>(top - i, above); break; }
      above += h;
    }
  }
  return workgroupUniformLoad(&found);
}

// Local histogram of candidates (with high bits == want, unless want is NONE), added to `at`.
fn histogram(lid: u32, list: u32, first: u32, want: u32, at: u32) {
  for (var b = lid; b < BINS; b += WG) { atomicStore(&local_hist[b], 0u); }
  workgroupBarrier();
  for (var i = 0u; i < KPT; i++) {
    let k = first + i;
    if (candidate(k)) {
      let u = order_key(list, k);
      if (want == NONE) { atomicAdd(&local_hist[u >> 11u], 1u); }
      else if ((u >> 11u) == want) { atomicAdd(&local_hist[u & 2047u], 1u); }
    }
  }
  workgroupBarrier();
  for (var b = lid; b < BINS; b += WG) {
    let c = atomicLoad(&local_hist[b]);
    if (c > 0u) { atomicAdd(&hist[at + b], c); }
  }
}

// Threshold order key and the number of candidates equal to it that are taken.
fn threshold(lid: u32, list: u32) -> vec2<u32> {
  if (p.r == 0u) { return vec2<u32>(NONE, 0u); }
  let hi = resolve(lid, list * 2u * BINS, p.r);
  let lo = resolve(lid, (list * 2u + 1u) * BINS, p.r - hi.y);
  return vec2<u32>((hi.x << 11u) | lo.x, p.r - hi.y - lo.y);
}

// (keys taken for sure, candidates equal to the threshold) among this thread's keys.
fn classify(list: u32, first: u32, t: u32) -> vec2<u32> {
  var n = vec2<u32>(0u, 0u);
  for (var i = 0u; i < KPT; i++) {
    let k = first + i;
    if (forced(k)) { n.x++; }
    else if (candidate(k)) {
      let u = order_key(list, k);
      n += vec2<u32>(u32(u > t), u32(u == t));
    }
  }
  return n;
}

fn compact(lid: u32, list: u32, chunk: u32, first: u32) {
  let st = state[list];
  var before = vec2<u32>(0u, 0u);
  for (var c = lid; c < chunk; c += WG) { before += chunk_cnt[list * p.chunks + c]; }
  let gt_before = scan(lid, before.x).y;
  let eq_before = scan(lid, before.y).y;
  let mine = classify(list, first, st.x);
  var eq_seen = eq_before + scan(lid, mine.y).x;
  var out = gt_before + scan(lid, mine.x).x + min(eq_seen, st.y);
  for (var i = 0u; i < KPT; i++) {
    let k = first + i;
    if (k >= p.keys) { break; }
    var take = forced(k);
    if (candidate(k)) {
      let u = order_key(list, k);
      take = u > st.x;
      if (u == st.x) { take = eq_seen < st.y; eq_seen++; }
    }
    if (take) { sel[list * p.kmax + out] = k; out++; }
    acc[list * p.keys + k] = 0;
  }
  for (var b = chunk * WG + lid; b < 2u * BINS; b += p.chunks * WG) { atomicStore(&hist[list * 2u * BINS + b], 0u); }
  if (chunk == 0u) {
    var gen = 0u;
    if (step.pos + 1u > p.keys) { gen = min(step.pos + 1u - p.keys, p.max_new); }
    for (var i = lid; i < gen; i += WG) { sel[list * p.kmax + p.kctx + i] = p.keys + i; }
    if (lid == 0u) { counts[list] = p.kctx + gen; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.x;
  let list = wid.y;
  let first = chunk * WG * KPT + lid * KPT;
  switch (p.stage) {
    case 0u: {
      if (p.r > 0u) { histogram(lid, list, first, NONE, list * 2u * BINS); }
    }
    case 1u: {
      if (p.r > 0u) {
        let hi = resolve(lid, list * 2u * BINS, p.r);
        histogram(lid, list, first, hi.x, (list * 2u + 1u) * BINS);
      }
    }
    case 2u: {
      let t = threshold(lid, list);
      let n = classify(list, first, t.x);
      let total = vec2<u32>(scan(lid, n.x).y, scan(lid, n.y).y);
      if (lid == 0u) {
        chunk_cnt[list * p.chunks + chunk] = total;
        if (chunk == 0u) { state[list] = t; }
      }
    }
    default: { compact(lid, list, chunk, first); }
  }
}
