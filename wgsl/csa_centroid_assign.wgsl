// Decode step, 1: each query head's sub-vectors (read from the query, rotated back by -pos for the
// pre-RoPE option) pick their nearest centroid (cosine; the lowest index on ties), one workgroup
// per table group (a KV head, or a query head). Each chosen list gets
// the multiplier that turns its scores into the fixed-point units of gather-sum:
//   mult = w * 2^(20 - e),  w = ||q^(j)|| ('qnorm') or 1,  B = sum over the group's chosen lists
//   of w * max|score| < 2^e,
// so any key's summed score stays below 2^20 + (rounding) in size: the top-K select works on 22 bits.
// The ends of a list are its largest and smallest scores (prefill lists are sorted, csa_insert
// keeps the ends), so max|score| is at one of them.
// Threads split as (pair, lane): the lanes of a (head, subspace) pair share its C centroids.
struct Params { heads: u32, per_group: u32, m: u32, centroids: u32, ds4: u32, lcap: u32, qnorm: u32, d: u32, unrope: u32 }
struct Step { pos: u32 }
@group(0) @binding(0) var<storage, read> q: array<f32>;              // [heads, d] this step's queries
@group(0) @binding(1) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(2) var<storage, read> cent: array<vec4<f32>>;     // [groups, m, C, ds]
@group(0) @binding(3) var<storage, read> list_score: array<f32>;     // [lists, lcap]
@group(0) @binding(4) var<storage, read> list_len: array<u32>;       // [lists]
@group(0) @binding(5) var<storage, read_write> choice: array<vec4<u32>>; // [groups, per_group*m]: list, len, mult
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<uniform> p: Params;

const WG = 256u; // per_group * m <= 256
const MAX_DS4 = 16u;
var<workgroup> best_score: array<f32, WG>;
var<workgroup> best_c: array<u32, WG>;
var<workgroup> chosen: array<vec3<u32>, WG>; // list, len, w bits
var<workgroup> bound: array<f32, WG>;
var<workgroup> scale: f32;

#include unrope

// Element i of the query of `head` as attention sees it, or rotated back by -pos (pre-RoPE).
fn query(head: u32, i: u32) -> f32 {
  let x = q[head * p.d + i];
  if (p.unrope == 0u) { return x; }
  let half = p.d / 2u;
  return unrope(x, q[head * p.d + partner(i, half)], i, half, step.pos);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let grp = wid.x;
  let n = p.per_group * p.m;
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
    let list = co + arg;
    let len = list_len[list];
    var w = 1.0;
    if (p.qnorm == 1u) { w = norm; }
    var top = 0.0;
    if (len > 0u) { top = max(abs(list_score[list * p.lcap]), abs(list_score[list * p.lcap + len - 1u])); }
    bound[pair] = w * top;
    chosen[pair] = vec3<u32>(list, len, bitcast<u32>(w));
  }
  workgroupBarrier();
  if (t == 0u) {
    var b = 0.0;
    for (var i = 0u; i < n; i++) { b += bound[i]; }
    scale = ldexp(1.0, clamp(20 - frexp(b).exp, -126, 126));
  }
  workgroupBarrier();
  if (t < n) {
    let c = chosen[t];
    choice[grp * n + t] = vec4<u32>(c.x, c.y, bitcast<u32>(bitcast<f32>(c.z) * scale), 0u);
  }
}
