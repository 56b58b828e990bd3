// Streaming update (paper Sec. 3.3, step 5): the key just written at step.pos is scored against
// every centroid (one thread per list) and joins each list whose minimum it beats. Lists have room
// for every generated key, so nothing is evicted, the minimum never changes (list_range keeps it),
// and the new key, the largest position so far, goes at the end: lists stay in ascending key order.
// Call once per position.
// The key's sub-vector is read from the f16 cache (rotated back by -pos for the pre-RoPE option).
struct Params { m: u32, centroids: u32, ds: u32, lcap: u32, kv_heads: u32, per_kv: u32, capacity: u32, d: u32, unrope: u32 }
struct Step { pos: u32 }
@group(0) @binding(0) var<storage, read> kc: array<u32>;               // f16 [kv_heads, capacity, d]
@group(0) @binding(1) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(2) var<storage, read> cent: array<f32>;             // [groups, m, C, ds]
@group(0) @binding(3) var<storage, read_write> list_idx: array<u32>;   // [lists, lcap]
@group(0) @binding(4) var<storage, read_write> list_score: array<f32>;
@group(0) @binding(5) var<storage, read_write> list_len: array<u32>;
@group(0) @binding(6) var<storage, read> list_range: array<vec2<f32>>; // [lists] min, max |score|
@group(0) @binding(7) var<uniform> step: Step;
@group(0) @binding(8) var<uniform> p: Params;

const WG = 64u;

#include unrope

fn key_elem(row: u32, i: u32) -> f32 {
  let e = row * p.d + i;
  let w = unpack_h2(kc[e >> 1u]);
  return select(w.x, w.y, (e & 1u) == 1u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let jc = gid.x;  // subspace j, centroid c
  let grp = gid.y;
  if (jc >= p.m * p.centroids) { return; }
  let list = grp * p.m * p.centroids + jc;
  let row = grp / p.per_kv * p.capacity + step.pos;
  let i0 = jc / p.centroids * p.ds;
  let half = p.d / 2u;
  var s = 0.0;
  for (var i = 0u; i < p.ds; i++) {
    var k = key_elem(row, i0 + i);
    if (p.unrope == 1u) { k = unrope(k, key_elem(row, partner(i0 + i, half)), i0 + i, half, step.pos); }
    s += cent[list * p.ds + i] * k;
  }
  let h = quantizeToF16(clamp(s, -65504.0, 65504.0));
  s = select(h, 0.0, h == 0.0);
  let len = list_len[list];
  if (len >= p.lcap || !(s > list_range[list].x)) { return; }
  list_idx[list * p.lcap + len] = step.pos;
  list_score[list * p.lcap + len] = s;
  list_len[list] = len + 1u;
}
