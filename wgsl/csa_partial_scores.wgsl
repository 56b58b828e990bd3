// Partial scores <centroid, key sub-vector> of every centroid against every context key, rounded
// to f16 (lists store f16-exact scores, so the bundle holds them without loss), packed two per u32.
// -0 becomes +0 so that float comparisons and the bit order of the top-L select agree.
struct Params { keys: u32, words: u32, centroids: u32, group: u32, m: u32 }
@group(0) @binding(0) var<storage, read> ksub: array<vec4<f32>>;    // [m, keys, ds]
@group(0) @binding(1) var<storage, read> cent: array<vec4<f32>>;    // [groups, m, C, ds]
@group(0) @binding(2) var<storage, read_write> scores: array<u32>;  // [m, C, words] f16 pairs
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64;
// Sub-vector length / 4 as a pipeline constant: with loops of constant length the private arrays
// can stay in registers (indexed by loops of unknown length they land in local memory: design.md).
override DS4: u32 = 1u;
const MAX_DS4 = 16u;

fn score(j: u32, key: u32, mu: ptr<function, array<vec4<f32>, MAX_DS4>>) -> f32 {
  if (key >= p.keys) { return 0.0; }
  var s = 0.0;
  let ko = (j * p.keys + key) * DS4;
  for (var i = 0u; i < DS4; i++) { s += dot((*mu)[i], ksub[ko + i]); }
  let h = quantizeToF16(clamp(s, -65504.0, 65504.0));
  return select(h, 0.0, h == 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.x;
  let c = gid.y;
  let j = gid.z;
  if (w >= p.words) { return; }
  var mu: array<vec4<f32>, MAX_DS4>;
  let co = ((p.group * p.m + j) * p.centroids + c) * DS4;
  for (var i = 0u; i < DS4; i++) { mu[i] = cent[co + i]; }
  scores[(j * p.centroids + c) * p.words + w] = pack_h2(vec2<f32>(score(j, 2u * w, &mu), score(j, 2u * w + 1u, &mu)));
}
