// Decode step, 1: each query head's sub-vectors pick their nearest centroid (cosine: the largest
// dot product, the lowest index on ties), one workgroup per (head, subspace) pair of a table group,
// a thread per centroid. The sub-vector is read from the query, rotated back by -pos for the
// pre-RoPE option. Writes (list, w, w * max|score| of the list): w = ||q^(j)|| ('qnorm') or 1;
// csa_score turns the group's bounds into the fixed-point multipliers.
//
// With p.insert, the same threads also do the streaming update (paper Sec. 3.3, step 5), which
// scores a vector against the same centroids: the key just written at step.pos (from the f16 cache)
// joins each list whose minimum it beats; the workgroups of the group's first head take one
// subspace each, a thread per list. Lists have room for every generated key, so nothing is evicted,
// the minimum never changes (list_range keeps it), and the new key, the largest position yet, goes
// at the end: lists stay in ascending key order. csa_score reads context entries only, so the new
// entries do not change this step's scores.
struct Params {
  per_group: u32, m: u32, centroids: u32, ds4: u32, qnorm: u32, d: u32, unrope: u32,
  insert: u32, lcap: u32, per_kv: u32, capacity: u32,
}
struct Step { pos: u32 }
@group(0) @binding(0) var<storage, read> q: array<f32>;                  // [heads, d] this step's queries
@group(0) @binding(1) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(2) var<storage, read> cent: array<vec4<f32>>;         // [groups, m, C, ds]
@group(0) @binding(3) var<storage, read> list_range: array<vec2<f32>>;   // [lists] min, max |score|
@group(0) @binding(4) var<storage, read_write> choice: array<vec4<u32>>; // [groups, per_group * m]
@group(0) @binding(5) var<storage, read> kc: array<u32>;                 // f16 [kv_heads, capacity, d]
@group(0) @binding(6) var<storage, read_write> list_idx: array<u32>;     // [lists, lcap]
@group(0) @binding(7) var<storage, read_write> list_score: array<f32>;
@group(0) @binding(8) var<storage, read_write> list_len: array<u32>;     // [lists]
@group(0) @binding(9) var<uniform> step: Step;
@group(0) @binding(10) var<uniform> p: Params;

const WG = 64u;
var<workgroup> best: array<vec2<f32>, WG>; // score, centroid (as f32: exact below 2^24)

#include unrope

// Elements 4i .. 4i+3 of the sub-vector, as the tables see them.
fn sub4(head: u32, j: u32, i: u32) -> vec4<f32> {
  let e = head * p.d + (j * p.ds4 + i) * 4u;
  let x = vec4(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
  if (p.unrope == 0u) { return x; }
  let half = p.d / 2u;
  var r: vec4<f32>;
  for (var c = 0u; c < 4u; c++) {
    let at = e - head * p.d + c;
    r[c] = unrope(x[c], q[head * p.d + partner(at, half)], at, half, step.pos);
  }
  return r;
}

fn key_elem(row: u32, i: u32) -> f32 {
  let e = row * p.d + i;
  let w = unpack_h2(kc[e >> 1u]);
  return select(w.x, w.y, (e & 1u) == 1u);
}

// Elements 4i .. 4i+3 of sub-vector j of the key at step.pos of KV head h, as the tables see them.
fn key4(h: u32, j: u32, i: u32) -> vec4<f32> {
  let row = h * p.capacity + step.pos;
  let e = (j * p.ds4 + i) * 4u;
  var r = vec4(key_elem(row, e), key_elem(row, e + 1u), key_elem(row, e + 2u), key_elem(row, e + 3u));
  if (p.unrope == 1u) {
    let half = p.d / 2u;
    for (var c = 0u; c < 4u; c++) { r[c] = unrope(r[c], key_elem(row, partner(e + c, half)), e + c, half, step.pos); }
  }
  return r;
}

// The streaming insert of the key at step.pos into list `list` (subspace j of group grp).
fn insert(grp: u32, j: u32, list: u32) {
  var s = 0.0;
  for (var i = 0u; i < p.ds4; i++) { s += dot(key4(grp / p.per_kv, j, i), cent[list * p.ds4 + i]); }
  let h = quantizeToF16(clamp(s, -65504.0, 65504.0));
  s = select(h, 0.0, h == 0.0);
  let len = list_len[list];
  if (len >= p.lcap || !(s > list_range[list].x)) { return; }
  list_idx[list * p.lcap + len] = step.pos;
  list_score[list * p.lcap + len] = s;
  list_len[list] = len + 1u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let pair = wid.x;
  let grp = wid.y;
  let head = grp * p.per_group + pair / p.m;
  let j = pair % p.m;
  let co = (grp * p.m + j) * p.centroids;
  var top = vec2<f32>(-3.0e38, 0.0);
  for (var c = t; c < p.centroids; c += WG) {
    var s = 0.0;
    for (var i = 0u; i < p.ds4; i++) { s += dot(sub4(head, j, i), cent[(co + c) * p.ds4 + i]); }
    if (s > top.x) { top = vec2<f32>(s, f32(c)); }
  }
  if (p.insert == 1u && pair < p.m) {
    for (var c = t; c < p.centroids; c += WG) { insert(grp, pair, co + c); }
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
      for (var i = 0u; i < p.ds4; i++) { let v = sub4(head, j, i); n += dot(v, v); }
      w = sqrt(n);
    }
    let list = co + u32(best[0].y);
    choice[grp * p.per_group * p.m + pair] = vec4<u32>(list, bitcast<u32>(w), bitcast<u32>(w * list_range[list].y), 0u);
  }
}
