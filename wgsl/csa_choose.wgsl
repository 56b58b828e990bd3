// Decode step, 1: each query head's sub-vectors pick their nearest centroid (cosine: the largest
// dot product, the lowest index on ties), one workgroup per (head, subspace) pair of a table group
// and sequence (a batch's sequences select together: q [seqs, heads, d]), a thread per centroid; with `pooled`, the sum of the group's heads' sub-vectors picks, one
// workgroup per subspace (the sum of their dot products with a key is the sum's). The sub-vector is
// read from the query, rotated back by -pos for the pre-RoPE option. Writes (list, w, w * max|score|
// of the list): w = ||q^(j)|| ('qnorm') or 1; csa_score turns the group's bounds into the
// fixed-point multipliers.

struct Params { per_group: u32, m: u32, centroids: u32, ds4: u32, qnorm: u32, d: u32, unrope: u32, pooled: u32 }
@group(0) @binding(0) var<storage, read> q: array<f32>;                  // [seqs, heads, d] this step's queries
@group(0) @binding(1) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(2) var<storage, read> cent: array<vec4<f32>>;         // [groups, m, C, ds]
@group(0) @binding(3) var<storage, read> list_bound: array<f32>;         // [lists] max |score|
@group(0) @binding(4) var<storage, read_write> choice: array<vec4<u32>>; // [seqs, groups, per_group * m]
@group(0) @binding(5) var<storage, read> positions: array<u32>;          // [seqs] this step's
@group(0) @binding(6) var<uniform> p: Params;

const WG = 64u;
var<workgroup> best: array<vec2<f32>, WG>; // score, centroid (as f32: exact below 2^24)

#include unrope

// A query head of one sequence: its row of q, and the sequence's position.
struct Head { row: u32, pos: u32 }

// Elements 4i .. 4i+3 of a head's sub-vector, as the tables see them.
fn head4(h: Head, j: u32, i: u32) -> vec4<f32> {
  let at = (j * p.ds4 + i) * 4u;
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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) num_workgroups: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let pair = wid.x;
  let grp = wid.y;
  let seq = wid.z;
  let heads = select(1u, p.per_group, p.pooled == 1u);
  let head = Head((seq * num_workgroups.y + grp) * p.per_group + select(pair / p.m, 0u, p.pooled == 1u), positions[seq]);
  let j = pair % p.m;
  let co = (grp * p.m + j) * p.centroids;
  var top = vec2<f32>(-3.0e38, 0.0);
  for (var c = t; c < p.centroids; c += WG) {
    var s = 0.0;
    for (var i = 0u; i < p.ds4; i++) { s += dot(sub4(head, heads, j, i), cent[(co + c) * p.ds4 + i]); }
    if (s > top.x) { top = vec2<f32>(s, f32(c)); }
  }
  best[t] = top;
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (t < half) {
      let o = best[t + half];
      let b = best[t];
      if (o.x > b.x || (o.x == b.x && o.y < b.y)) { best[t] = o; }
    }
  }
  if (t == 0u) {
    var w = 1.0;
    if (p.qnorm == 1u) {
      var n = 0.0;
      for (var i = 0u; i < p.ds4; i++) { let v = sub4(head, heads, j, i); n += dot(v, v); }
      w = sqrt(n);
    }
    let list = co + u32(best[0].y);
    choice[(seq * num_workgroups.y + grp) * num_workgroups.x + pair] = vec4<u32>(list, bitcast<u32>(w), bitcast<u32>(w * list_bound[list]), 0u);
  }
}
