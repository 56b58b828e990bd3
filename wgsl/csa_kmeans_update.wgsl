// Cosine k-means update, part 2: add the chunks' sums of each centroid in chunk order (so the
// result is deterministic) and normalise. A zero sum (an empty cluster) keeps the old centroid.
struct Params { centroids: u32, chunks: u32, group: u32, m: u32 }
@group(0) @binding(0) var<storage, read> part: array<vec4<f32>>;      // [m, chunks, C, ds]
@group(0) @binding(1) var<storage, read_write> cent: array<vec4<f32>>; // [groups, m, C, ds]
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64;
// Sub-vector length / 4 as a pipeline constant: with loops of constant length the private arrays
// can stay in registers (indexed by loops of unknown length they land in local memory: design.md).
override DS4: u32 = 1u;
const MAX_DS4 = 16u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let j = gid.y;
  if (c >= p.centroids) { return; }
  var s: array<vec4<f32>, MAX_DS4>;
  for (var i = 0u; i < DS4; i++) { s[i] = vec4<f32>(0.0); } // lavapipe may skip the zero-init
  for (var ch = 0u; ch < p.chunks; ch++) {
    let po = ((j * p.chunks + ch) * p.centroids + c) * DS4;
    for (var i = 0u; i < DS4; i++) { s[i] += part[po + i]; }
  }
  var ss = 0.0;
  for (var i = 0u; i < DS4; i++) { ss += dot(s[i], s[i]); }
  if (ss == 0.0) { return; }
  let inv = 1.0 / sqrt(ss);
  let co = ((p.group * p.m + j) * p.centroids + c) * DS4;
  for (var i = 0u; i < DS4; i++) { cent[co + i] = s[i] * inv; }
}
