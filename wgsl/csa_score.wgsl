// Decode step, 1: each query head's sub-vectors pick their nearest centroid (cosine: the largest dot
// product, the lowest index on ties; with `pooled`, the sum of the group's heads' sub-vectors picks
// once per subspace: the sum of their dot products with a key is the sum's), and the chosen lists'
// entries are gathered and summed into per-key scores, one workgroup per (tile of `tile` keys,
// table group of a sequence: a batch's sequences' groups follow each other). Every workgroup of a
// group makes the same choice (a few thousand multiply-adds over the group's centroids, read from
// L2): cheaper than a dispatch of its own between the query and the gather. The sub-vector is read
// from the query, rotated back by -pos for the pre-RoPE option; its weight w = ||q^(j)|| ('qnorm')
// or 1.
// Lists hold their context keys in ascending order and list_tiles says where each tile's keys
// start, so a workgroup reads only its tile's entries of the chosen lists (4 bytes each: f16 score
// bits << 16 | key mod tile, see csa_list_index) and adds them up in workgroup memory: integer
// atomics make the sum exact and order-independent, and no global atomics are needed. Scores are
// fixed point: an entry adds round(score * mult),
//   mult = w * 2^(20 - e),  B = sum over the group's chosen lists of w * max|score| < 2^e
// (every workgroup of the group sums them in the same order), so a key's total stays below 2^20 +
// (rounding) in size: the top-K works on 22 bits.
// Writes every key's score (0 for keys in no chosen list) and, when r > 0, the histogram of the high
// digit of the candidates' order keys (csa_topk's first radix pass), clearing the low digit's; the
// tile-0 workgroup writes the choice out (list, w, w * max|score|, mult).
struct Params {
  keys: u32, L: u32, n: u32, tiles: u32, sink_end: u32, win_start: u32, r: u32,
  per_group: u32, m: u32, centroids: u32, qnorm: u32, d: u32, unrope: u32, pooled: u32, groups: u32,
}
@group(0) @binding(0) var<storage, read> list_entry: array<u32>;         // [lists, L]
@group(0) @binding(1) var<storage, read> list_tiles: array<u32>;         // [lists, tiles + 1]
@group(0) @binding(2) var<storage, read_write> choice: array<vec4<u32>>; // [seqs, groups, n] list, w, bound, mult
@group(0) @binding(3) var<storage, read_write> scores: array<i32>;       // [seqs, groups, keys]
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>; // [seqs, groups, 2, BINS]
@group(0) @binding(5) var<storage, read> q: array<f32>;                  // [seqs, heads, d] this step's queries
@group(0) @binding(6) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(7) var<storage, read> cent: array<vec4<f32>>;         // [groups, m, C, ds]
@group(0) @binding(8) var<storage, read> list_bound: array<f32>;         // [lists] max |score|
@group(0) @binding(9) var<storage, read> positions: array<u32>;          // [seqs] this step's
@group(0) @binding(10) var<uniform> p: Params;

const WG = 256u; // n <= 256 chosen lists per group
override TILE: u32 = 2048u; // keys per tile of the tables' index
// The sub-vector's loops have constant bounds (its vec4s stay in registers); the loop over
// centroids does not: unrolled, csa_score ran 1.6x slower on the H100 (its loads in flight, we
// think, holding registers that the gather's occupancy needs).
override DS4: u32 = 2u;     // vec4s of a sub-vector (ds / 4 <= 16)
override LANES: u32 = 4u;   // threads per chooser: max(1, WG / n)
// A team of threads reads one list's tile side by side, 8 entries each in flight (a list holds
// about L / tiles entries of a tile: 205 for 128K keys at 10% in tiles of 2048).
const TEAM = 32u;

#include order_key

#include unrope

var<workgroup> best: array<vec2<f32>, WG>; // a lane's best centroid: score, index (as f32: exact below 2^24)
var<workgroup> lists: array<vec4<u32>, WG>; // list, w then mult bits, first entry, end
var<workgroup> bound: array<f32, WG>;
var<workgroup> scale: f32;
// Workgroup memory starts zeroed (WGSL).
var<workgroup> acc: array<atomic<i32>, TILE>;
var<workgroup> local_hist: array<atomic<u32>, BINS>;

fn entry4(base: u32, x: vec4<u32>) -> vec4<u32> {
  return vec4<u32>(list_entry[base + x.x], list_entry[base + x.y], list_entry[base + x.z], list_entry[base + x.w]);
}

fn add(entry: u32, mult: f32, live: bool) {
  let v = i32(round(unpack_h2(entry).y * mult));
  if (live && v != 0) { atomicAdd(&acc[entry & 0xffffu], v); }
}

// Adds entries e + c TEAM (c < 8; those before end) of a list to acc: all 8 loads first, then the
// atomics (loads after an atomic wait for it: 2.2x slower, measured on the H100).
fn add8(base: u32, e: u32, end: u32, mult: f32) {
  let x = min(vec4<u32>(e, e + TEAM, e + 2u * TEAM, e + 3u * TEAM), vec4<u32>(end - 1u));
  let y = min(x + vec4<u32>(4u * TEAM), vec4<u32>(end - 1u));
  let a = entry4(base, x);
  let b = entry4(base, y);
  for (var c = 0u; c < 4u; c++) {
    add(a[c], mult, e + c * TEAM < end);
    add(b[c], mult, e + (c + 4u) * TEAM < end);
  }
}

// A query head of one sequence: its row of q, and the sequence's position.
struct Head { row: u32, pos: u32 }

// Elements 4i .. 4i+3 of a head's sub-vector j, as the tables see them.
fn head4(h: Head, j: u32, i: u32) -> vec4<f32> {
  let at = (j * DS4 + i) * 4u;
  let e = h.row * p.d + at;
  let x = vec4(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
  if (p.unrope == 0u) { return x; }
  let half = p.d / 2u;
  var r: vec4<f32>;
  for (var c = 0u; c < 4u; c++) {
    r[c] = unrope(x[c], q[h.row * p.d + partner(at + c, half)], at + c, half, h.pos);
  }
  return r;
}

// Elements 4i .. 4i+3 of the choosing sub-vector: the head's (`heads` = 1) or the sum over heads
// [h, h + heads), in head order.
fn sub4(h: Head, heads: u32, j: u32, i: u32) -> vec4<f32> {
  var x = head4(h, j, i);
  for (var k = 1u; k < heads; k++) { x += head4(Head(h.row + k, h.pos), j, i); }
  return x;
}

// Chooser i (< n) of list `lst` (a sequence's table group): its subspace's nearest centroid, LANES
// threads t = i * LANES + lane side by side, each taking every LANES-th centroid, their bests
// meeting in workgroup memory. Returns (list, w bits) to lane 0, with w * max|score| in bound[i];
// threads past the choosers' lanes (not live) only keep the barrier.
fn choose(lst: u32, t: u32) -> vec2<u32> {
  let live = t < p.n * LANES;
  let i = min(t / LANES, p.n - 1u);
  let lane = t % LANES;
  let heads = select(1u, p.per_group, p.pooled == 1u);
  let head = Head(lst * p.per_group + select(i / p.m, 0u, p.pooled == 1u), positions[lst / p.groups]);
  let j = i % p.m;
  let co = ((lst % p.groups) * p.m + j) * p.centroids;
  // The sub-vector, read once (ds <= 64: at most 16 vec4s).
  var x: array<vec4<f32>, 16>;
  for (var e = 0u; e < DS4; e++) { x[e] = sub4(head, heads, j, e); }
  var top = vec2<f32>(-3.0e38, 0.0);
  for (var c = lane; c < p.centroids; c += LANES) {
    var s = 0.0;
    for (var e = 0u; e < DS4; e++) { s += dot(x[e], cent[(co + c) * DS4 + e]); }
    if (s > top.x) { top = vec2<f32>(s, f32(c)); }
  }
  best[t] = top;
  workgroupBarrier();
  if (!live || lane != 0u) { return vec2<u32>(0u); }
  for (var l = 1u; l < LANES; l++) {
    let o = best[t + l];
    if (o.x > top.x || (o.x == top.x && o.y < top.y)) { top = o; }
  }
  var w = 1.0;
  if (p.qnorm == 1u) {
    var n = 0.0;
    for (var e = 0u; e < DS4; e++) { n += dot(x[e], x[e]); }
    w = sqrt(n);
  }
  let list = co + u32(top.y);
  bound[i] = w * list_bound[list];
  return vec2<u32>(list, bitcast<u32>(w));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let tile = wid.x;
  let grp = wid.y;
  let k0 = tile * TILE;
  let c = choose(grp, t);
  if (t < p.n * LANES && t % LANES == 0u) {
    let at = c.x * (p.tiles + 1u) + tile;
    lists[t / LANES] = vec4<u32>(c.x, c.y, list_tiles[at], list_tiles[at + 1u]);
  }
  workgroupBarrier();
  if (t == 0u) {
    var b = 0.0;
    for (var i = 0u; i < p.n; i++) { b += bound[i]; }
    scale = ldexp(1.0, clamp(20 - frexp(b).exp, -126, 126));
  }
  workgroupBarrier();
  if (t < p.n) {
    let l = lists[t];
    let mult = bitcast<f32>(l.y) * scale;
    lists[t].y = bitcast<u32>(mult);
    if (tile == 0u) { choice[grp * p.n + t] = vec4<u32>(l.x, l.y, bitcast<u32>(bound[t]), bitcast<u32>(mult)); }
  }
  workgroupBarrier();
  for (var i = t / TEAM; i < p.n; i += WG / TEAM) {
    let l = lists[i];
    for (var e = l.z + t % TEAM; e < l.w; e += 8u * TEAM) { add8(l.x * p.L, e, l.w, bitcast<f32>(l.y)); }
  }
  workgroupBarrier();
  for (var i = t; i < TILE; i += WG) {
    let k = k0 + i;
    if (k < p.keys) {
      let v = atomicLoad(&acc[i]);
      scores[grp * p.keys + k] = v;
      if (p.r > 0u && k >= p.sink_end && k < p.win_start) { atomicAdd(&local_hist[order_of(v) >> 11u], 1u); }
    }
  }
  workgroupBarrier();
  flush_hist(t, grp * 2u * BINS);
  clear_hist(t, (grp * 2u + 1u) * BINS, tile, p.tiles);
}
