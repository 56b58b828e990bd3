// Cosine k-means, an iteration's first half: each normalised point goes to the centroid with the
// largest dot product (the lowest index on ties), and a workgroup adds its chunk's points into
// their centroids' sums. WGSL has atomics only on integers, so the sums are fixed point (x * 2^18)
// in workgroup memory: components are <= 1 in size, so a chunk of at most 4096 points stays below
// 2^30; the sum is exact and independent of the order of the atomics (deterministic results), and
// its resolution 2^-18 is far below what cosine assignment needs. Sub-vectors are read as vec4
// (ds % 4 == 0, ds <= 64). A thread takes PPT points at a time (pt, pt + WG, ...), so each
// centroid it loads serves PPT points; the points are read once, for the choice and the sum.
struct Params { points: u32, centroids: u32, group: u32, m: u32, chunk: u32, chunks: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;      // [m, points, ds]
@group(0) @binding(1) var<storage, read> cent: array<vec4<f32>>;   // [groups, m, C, ds]
@group(0) @binding(2) var<storage, read_write> part: array<f32>;   // [m, chunks, C, ds]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256;
// Sub-vector length / 4 as a pipeline constant: with loops of constant length the private arrays
// can stay in registers (indexed by loops of unknown length they land in local memory: design.md).
override DS4: u32 = 1u;
override CAP: u32 = 1024; // C * ds
const MAX_DS4 = 16u;
const PPT = 4u;
const SCALE = 262144.0; // 2^18

var<workgroup> acc: array<atomic<i32>, CAP>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.x;
  let j = wid.y;
  for (var e = lid; e < CAP; e += WG) { atomicStore(&acc[e], 0); }
  workgroupBarrier();
  let first = chunk * p.chunk;
  let last = min(first + p.chunk, p.points);
  let co = (p.group * p.m + j) * p.centroids * DS4;
  for (var b0 = first; b0 < last; b0 += WG * PPT) {
    let b = b0 + lid;
    var v: array<array<vec4<f32>, MAX_DS4>, PPT>;
    for (var u = 0u; u < PPT; u++) {
      // A point past the chunk reads its first point (and adds nothing).
      let pt = select(first, b + u * WG, b + u * WG < last);
      let xo = (j * p.points + pt) * DS4;
      for (var i = 0u; i < DS4; i++) { v[u][i] = x[xo + i]; }
    }
    var best: array<f32, PPT>;
    var arg: array<u32, PPT>;
    for (var u = 0u; u < PPT; u++) { best[u] = -3.0e38; arg[u] = 0u; }
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
      if (b + u * WG >= last) { continue; }
      for (var i = 0u; i < DS4; i++) {
        let q = vec4<i32>(round(v[u][i] * SCALE));
        let a = (arg[u] * DS4 + i) * 4u;
        atomicAdd(&acc[a], q.x);
        atomicAdd(&acc[a + 1u], q.y);
        atomicAdd(&acc[a + 2u], q.z);
        atomicAdd(&acc[a + 3u], q.w);
      }
    }
  }
  workgroupBarrier();
  let n = p.centroids * DS4 * 4u;
  let po = (j * p.chunks + chunk) * n;
  for (var e = lid; e < n; e += WG) { part[po + e] = f32(atomicLoad(&acc[e])) / SCALE; }
}
