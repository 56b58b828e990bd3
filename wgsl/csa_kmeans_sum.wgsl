// Cosine k-means update, part 1: per chunk of points, the sum of the points assigned to each
// centroid. WGSL has atomics only on integers, so a workgroup accumulates fixed point (x * 2^18)
// in shared memory: normalised components are <= 1 in size, so a chunk of at most 4096 points
// stays below 2^30 and cannot overflow; the resolution 2^-18 is far below what cosine assignment
// needs. The sum is exact and independent of the order of the atomics, so results are deterministic.
struct Params { points: u32, centroids: u32, ds: u32, chunk: u32, chunks: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;            // [m, points, ds]
@group(0) @binding(1) var<storage, read> assign: array<u32>;       // [m, points]
@group(0) @binding(2) var<storage, read_write> part: array<f32>;   // [m, chunks, C, ds]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256;
override CAP: u32 = 1024; // C * ds
const SCALE = 262144.0;   // 2^18

var<workgroup> acc: array<atomic<i32>, CAP>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.x;
  let j = wid.y;
  let n = p.centroids * p.ds;
  for (var e = lid; e < n; e += WG) { atomicStore(&acc[e], 0); }
  workgroupBarrier();
  let first = chunk * p.chunk;
  let last = min(first + p.chunk, p.points);
  for (var pt = first + lid; pt < last; pt += WG) {
    let c = assign[j * p.points + pt];
    let xo = (j * p.points + pt) * p.ds;
    for (var i = 0u; i < p.ds; i++) {
      atomicAdd(&acc[c * p.ds + i], i32(round(x[xo + i] * SCALE)));
    }
  }
  workgroupBarrier();
  let po = (j * p.chunks + chunk) * n;
  for (var e = lid; e < n; e += WG) { part[po + e] = f32(atomicLoad(&acc[e])) / SCALE; }
}
