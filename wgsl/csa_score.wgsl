// Decode step, 1 and 2 in one kernel: choose the lists, and gather-and-sum them into per-key scores.
// One workgroup per (tile of `tile` keys, table group).
//
// Choose: each query head's sub-vectors (read from the query, rotated back by -pos for the pre-RoPE
// option) pick their nearest centroid (cosine; the lowest index on ties). Every workgroup of the
// group makes the same choice; the tile-0 one writes it out. Each chosen list gets the multiplier
// that turns its scores into fixed point:
//   mult = w * 2^(20 - e),  w = ||q^(j)|| ('qnorm') or 1,  B = sum over the group's chosen lists
//   of w * max|score| < 2^e,
// so any key's summed score stays below 2^20 + (rounding) in size: the top-K works on 22 bits.
//
// Gather: lists hold their context keys in ascending order and list_tiles says where each tile of
// keys starts, so a workgroup reads only its tile's entries of the chosen lists and adds them up in
// workgroup memory (integer atomics: the sum is exact and order-independent), with no global atomics.
// It writes every key's score (0 for keys in no chosen list) and the histogram of the high digit of
// the candidates' order keys (csa_topk's first radix pass, when r > 0).
struct Params {
  keys: u32, lcap: u32, per_group: u32, m: u32, centroids: u32, ds4: u32, qnorm: u32, d: u32, unrope: u32,
  tiles: u32, tile: u32, sink_end: u32, win_start: u32, r: u32,
}
struct Step { pos: u32 }
@group(0) @binding(0) var<storage, read> q: array<f32>;                  // [heads, d] this step's queries
@group(0) @binding(1) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(2) var<storage, read> cent: array<vec4<f32>>;         // [groups, m, C, ds]
@group(0) @binding(3) var<storage, read> list_idx: array<u32>;           // [lists, lcap]
@group(0) @binding(4) var<storage, read> list_score: array<f32>;
@group(0) @binding(5) var<storage, read> list_tiles: array<u32>;         // [lists, tiles + 1]
@group(0) @binding(6) var<storage, read> list_range: array<vec2<f32>>;   // [lists] min, max |score|
@group(0) @binding(7) var<storage, read_write> choice: array<vec4<u32>>; // [groups, per_group * m] list, 0, mult
@group(0) @binding(8) var<storage, read_write> scores: array<i32>;       // [groups, keys]
@group(0) @binding(9) var<storage, read_write> hist: array<atomic<u32>>; // [groups, 2, BINS]
@group(0) @binding(10) var<uniform> step: Step;
@group(0) @binding(11) var<uniform> p: Params;

const WG = 256u; // per_group * m <= 256
const MAX_DS4 = 16u;
const MAX_TILE = 2048u;
// Threads of a team read one list's entries side by side, UNROLL loads in flight each.
const TEAM = 32u;
const UNROLL = 4u;

#include unrope
#include order_key

var<workgroup> best_score: array<f32, WG>;
var<workgroup> best_c: array<u32, WG>;
var<workgroup> bound: array<f32, WG>;
var<workgroup> chosen: array<vec2<u32>, WG>; // list, mult bits
var<workgroup> scale: f32;
var<workgroup> acc: array<atomic<i32>, MAX_TILE>;
var<workgroup> local_hist: array<atomic<u32>, BINS>;

// Element i of the query of `head` as attention sees it, or rotated back by -pos (pre-RoPE).
fn query(head: u32, i: u32) -> f32 {
  let x = q[head * p.d + i];
  if (p.unrope == 0u) { return x; }
  let half = p.d / 2u;
  return unrope(x, q[head * p.d + partner(i, half)], i, half, step.pos);
}

// Fills chosen[0, n): the lanes of a (head, subspace) pair share its C centroids.
fn choose(t: u32, grp: u32, n: u32) {
  let lanes = WG / n;
  let pair = t / lanes;
  let lane = t % lanes;
  let head = grp * p.per_group + pair / p.m;
  let j = pair % p.m;
  let co = (grp * p.m + j) * p.centroids;
  var best = -3.0e38;
  var arg = 0u;
  var norm = 0.0;
  if (pair < n) {
    // Cosine: the sub-vector's norm is the same for every centroid, so the largest dot product wins.
    var qs: array<vec4<f32>, MAX_DS4>;
    for (var i = 0u; i < p.ds4; i++) {
      let e = (j * p.ds4 + i) * 4u;
      qs[i] = vec4(query(head, e), query(head, e + 1u), query(head, e + 2u), query(head, e + 3u));
      norm += dot(qs[i], qs[i]);
    }
    norm = sqrt(norm);
    for (var c = lane; c < p.centroids; c += lanes) {
      var s = 0.0;
      for (var i = 0u; i < p.ds4; i++) { s += dot(qs[i], cent[(co + c) * p.ds4 + i]); }
      if (s > best) { best = s; arg = c; }
    }
  }
  best_score[t] = best;
  best_c[t] = arg;
  workgroupBarrier();
  if (pair < n && lane == 0u) {
    for (var l = 1u; l < lanes; l++) {
      let s = best_score[t + l];
      let c = best_c[t + l];
      if (s > best || (s == best && c < arg)) { best = s; arg = c; }
    }
    var w = 1.0;
    if (p.qnorm == 1u) { w = norm; }
    bound[pair] = w * list_range[co + arg].y;
    chosen[pair] = vec2<u32>(co + arg, bitcast<u32>(w));
  }
  workgroupBarrier();
  if (t == 0u) {
    var b = 0.0;
    for (var i = 0u; i < n; i++) { b += bound[i]; }
    scale = ldexp(1.0, clamp(20 - frexp(b).exp, -126, 126));
  }
  workgroupBarrier();
  if (t < n) { chosen[t].y = bitcast<u32>(bitcast<f32>(chosen[t].y) * scale); }
  workgroupBarrier();
}

// Adds the tile's entries of the chosen lists to acc, key k0 + i at acc[i].
fn gather(t: u32, tile: u32, n: u32, k0: u32) {
  let team = t / TEAM;
  for (var i = team; i < n; i += WG / TEAM) {
    let list = chosen[i].x;
    let mult = bitcast<f32>(chosen[i].y);
    let at = list * (p.tiles + 1u) + tile;
    let end = list_tiles[at + 1u];
    let base = list * p.lcap;
    for (var e = list_tiles[at] + t % TEAM; e < end; e += TEAM * UNROLL) {
      var key: array<u32, UNROLL>;
      var val: array<f32, UNROLL>;
      for (var u = 0u; u < UNROLL; u++) {
        let x = min(e + u * TEAM, end - 1u);
        key[u] = list_idx[base + x];
        val[u] = list_score[base + x];
      }
      for (var u = 0u; u < UNROLL; u++) {
        let v = i32(round(val[u] * mult));
        if (e + u * TEAM < end && v != 0) { atomicAdd(&acc[key[u] - k0], v); }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let tile = wid.x;
  let grp = wid.y;
  let n = p.per_group * p.m;
  let k0 = tile * p.tile;
  for (var i = t; i < MAX_TILE; i += WG) { atomicStore(&acc[i], 0); }
  for (var b = t; b < BINS; b += WG) { atomicStore(&local_hist[b], 0u); }
  choose(t, grp, n);
  if (tile == 0u && t < n) { choice[grp * n + t] = vec4<u32>(chosen[t].x, 0u, chosen[t].y, 0u); }
  gather(t, tile, n, k0);
  workgroupBarrier();
  for (var i = t; i < p.tile; i += WG) {
    let k = k0 + i;
    if (k < p.keys) {
      let v = atomicLoad(&acc[i]);
      scores[grp * p.keys + k] = v;
      if (p.r > 0u && k >= p.sink_end && k < p.win_start) { atomicAdd(&local_hist[order_of(v) >> 11u], 1u); }
    }
  }
  workgroupBarrier();
  for (var b = t; b < BINS; b += WG) {
    let c = atomicLoad(&local_hist[b]);
    if (c > 0u) { atomicAdd(&hist[grp * 2u * BINS + b], c); }
  }
}
