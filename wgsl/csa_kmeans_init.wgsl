// Cosine k-means init: centroid c of subspace j is the (already normalised) point pick[j, c].
struct Params { points: u32, centroids: u32, ds: u32, group: u32, m: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;          // [m, points, ds]
@group(0) @binding(1) var<storage, read> pick: array<u32>;       // [m, C]
@group(0) @binding(2) var<storage, read_write> cent: array<f32>; // [groups, m, C, ds]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let j = gid.y;
  if (e >= p.centroids * p.ds) { return; }
  let c = e / p.ds;
  let i = e % p.ds;
  let src = (j * p.points + pick[j * p.centroids + c]) * p.ds + i;
  cent[((p.group * p.m + j) * p.centroids + c) * p.ds + i] = x[src];
}
