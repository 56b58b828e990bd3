// Cosine k-means assignment: each normalised point goes to the centroid with the largest dot
// product, the lowest centroid index on ties. Sub-vectors are read as vec4 (ds % 4 == 0, ds <= 64).
// A thread takes PPT points (pt, pt + WG, ...), so each centroid it loads serves PPT points: with
// one point a thread, every dot product waited on its own centroid load.
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
const PPT = 4u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = wid.y;
  let first = wid.x * WG * PPT + lid;
  var v: array<array<vec4<f32>, MAX_DS4>, PPT>;
  for (var u = 0u; u < PPT; u++) {
    // A point past the end reads point 0 (its result is not written).
    let pt = select(0u, first + u * WG, first + u * WG < p.points);
    let xo = (j * p.points + pt) * DS4;
    for (var i = 0u; i < DS4; i++) { v[u][i] = x[xo + i]; }
  }
  let co = (p.group * p.m + j) * p.centroids * DS4;
  var best: array<f32, PPT>;
  var arg: array<u32, PPT>;
  for (var u = 0u; u < PPT; u++) { best[u] = -3.0e38; }
  for (var c = 0u; c < p.centroids; c++) {
    var cv: array<vec4<f32>, MAX_DS4>;
    for (var i = 0u; i < DS4; i++) { cv[i] = cent[co + c * DS4 + i]; }
    for (var u = 0u; u < PPT; u++) {
      var s = 0.0;
      for (var i = 0u; i < DS4; i++) { s += dot(v[u][i], cv[i]); }
      if (s > best[u]) { best[u] = s; arg[u] = c; }
    }
  }
  for (var u = 0u; u < PPT; u++) {
    let pt = first + u * WG;
    if (pt < p.points) { assign[j * p.points + pt] = arg[u]; }
  }
}
