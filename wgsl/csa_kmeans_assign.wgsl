// Cosine k-means assignment: each normalised point goes to the centroid with the largest dot
// product, the lowest centroid index on ties. Sub-vectors are read as vec4 (ds % 4 == 0, ds <= 64).
struct Params { points: u32, centroids: u32, group: u32, m: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;     // [m, points, ds]
@group(0) @binding(1) var<storage, read> cent: array<vec4<f32>>;  // [groups, m, C, ds]
@group(0) @binding(2) var<storage, read_write> assign: array<u32>; // [m, points]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64;
// Sub-vector length / 4 as a pipeline constant: with loops of constant length the private arrays
// can stay in registers (indexed by loops of unknown length they land in local memory: design.md).
override DS4: u32 = 1u;
const MAX_DS4 = 16u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pt = gid.x;
  let j = gid.y;
  if (pt >= p.points) { return; }
  var v: array<vec4<f32>, MAX_DS4>;
  let xo = (j * p.points + pt) * DS4;
  for (var i = 0u; i < DS4; i++) { v[i] = x[xo + i]; }
  let co = (p.group * p.m + j) * p.centroids * DS4;
  var best = -3.0e38;
  var arg = 0u;
  for (var c = 0u; c < p.centroids; c++) {
    var s = 0.0;
    for (var i = 0u; i < DS4; i++) { s += dot(v[i], cent[co + c * DS4 + i]); }
    if (s > best) { best = s; arg = c; }
  }
  assign[j * p.points + pt] = arg;
}
