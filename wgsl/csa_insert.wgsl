// Streaming update (paper Sec. 3.3, step 5): the key just written at step.pos is scored against
// every centroid (one thread per list) and joins each list whose minimum it beats. Lists have room
// for every generated key, so nothing is evicted and the minimum never changes: it stays the last
// entry, and the new key goes just before it, or to the front if it is a new maximum (the old one
// taking its slot), so the two ends stay the extremes that csa_centroid_assign bounds scores by.
// Entries in between are in no particular order, which the gather-and-sum does not need: O(1) per
// list instead of moving its tail.
// Call once per position.
struct Params { m: u32, centroids: u32, ds4: u32, lcap: u32, kv_heads: u32, per_kv: u32 }
struct Step { pos: u32 }
@group(0) @binding(0) var<storage, read> ksub: array<vec4<f32>>;       // [m, kv_heads, ds]
@group(0) @binding(1) var<storage, read> cent: array<vec4<f32>>;       // [groups, m, C, ds]
@group(0) @binding(2) var<storage, read_write> list_idx: array<u32>;   // [lists, lcap]
@group(0) @binding(3) var<storage, read_write> list_score: array<f32>;
@group(0) @binding(4) var<storage, read_write> list_len: array<u32>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> p: Params;

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let jc = gid.x;  // subspace j, centroid c
  let grp = gid.y;
  if (jc >= p.m * p.centroids) { return; }
  let list = grp * p.m * p.centroids + jc;
  let ko = (jc / p.centroids * p.kv_heads + grp / p.per_kv) * p.ds4;
  var s = 0.0;
  for (var i = 0u; i < p.ds4; i++) { s += dot(cent[list * p.ds4 + i], ksub[ko + i]); }
  let h = quantizeToF16(clamp(s, -65504.0, 65504.0));
  s = select(h, 0.0, h == 0.0);
  let base = list * p.lcap;
  let len = list_len[list];
  if (len >= p.lcap) { return; }
  if (len == 0u) {
    list_idx[base] = step.pos;
    list_score[base] = s;
  } else {
    let last = base + len - 1u;
    if (!(s > list_score[last])) { return; }
    list_idx[last + 1u] = list_idx[last];
    list_score[last + 1u] = list_score[last];
    var at = last;
    if (last > base && s > list_score[base]) {  // a new maximum: to the front, the old one to its slot
      list_idx[last] = list_idx[base];
      list_score[last] = list_score[base];
      at = base;
    }
    list_idx[at] = step.pos;
    list_score[at] = s;
  }
  list_len[list] = len + 1u;
}
