// Streaming update (paper Sec. 3.3, step 5): the key just written at step.pos is scored against
// every centroid (one workgroup per list) and inserted into each list where it beats the current
// minimum (the last entry). Lists have room for every generated key, so nothing is evicted, and
// they stay sorted descending: the key goes after the entries with an equal or larger score (it
// has the largest index), and the tail moves down by one, a block of WG entries at a time.
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

override WG: u32 = 128;
var<workgroup> plan: vec4<u32>; // insert?, position, length, score bits

fn plan_insert(grp: u32, jc: u32, list: u32) -> vec4<u32> {
  let j = jc / p.centroids;
  let ko = (j * p.kv_heads + grp / p.per_kv) * p.ds4;
  var s = 0.0;
  for (var i = 0u; i < p.ds4; i++) { s += dot(cent[list * p.ds4 + i], ksub[ko + i]); }
  let h = quantizeToF16(clamp(s, -65504.0, 65504.0));
  s = select(h, 0.0, h == 0.0);
  let base = list * p.lcap;
  let len = list_len[list];
  let beats = len < p.lcap && (len == 0u || s > list_score[base + len - 1u]);
  if (!beats) { return vec4<u32>(0u); }
  var lo = 0u;
  var hi = len;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (list_score[base + mid] >= s) { lo = mid + 1u; } else { hi = mid; }
  }
  return vec4<u32>(1u, lo, len, bitcast<u32>(s));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let grp = wid.y;
  let list = grp * p.m * p.centroids + wid.x;
  if (lid == 0u) { plan = plan_insert(grp, wid.x, list); }
  let pl = workgroupUniformLoad(&plan);
  if (pl.x == 0u) { return; }
  let base = list * p.lcap;
  var end = pl.z;
  loop {
    if (end <= pl.y) { break; }
    let start = max(pl.y, select(0u, end - WG, end > WG));
    let i = start + lid;
    var idx = 0u;
    var sc = 0.0;
    if (i < end) { idx = list_idx[base + i]; sc = list_score[base + i]; }
    storageBarrier();
    if (i < end) { list_idx[base + i + 1u] = idx; list_score[base + i + 1u] = sc; }
    storageBarrier();
    end = start;
  }
  if (lid == 0u) {
    list_idx[base + pl.y] = step.pos;
    list_score[base + pl.y] = bitcast<f32>(pl.w);
    list_len[list] = pl.z + 1u;
  }
}
