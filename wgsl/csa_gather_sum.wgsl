// Decode step, 2: gather-and-sum. Every entry of the chosen lists adds its score, in fixed point
// (round(score * mult), see csa_centroid_assign), to its key's total: integer atomics make the sum
// exact and order-independent. Keys at or past the context end are skipped (always attended).
// Keys in no chosen list keep 0, so a listed key with a positive sum ranks above them.
struct Params { keys: u32, lcap: u32, per_group: u32 }
@group(0) @binding(0) var<storage, read> choice: array<vec4<u32>>;   // [groups, per_group]
@group(0) @binding(1) var<storage, read> list_idx: array<u32>;       // [lists, lcap]
@group(0) @binding(2) var<storage, read> list_score: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<i32>>; // [groups, keys]
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let grp = gid.z;
  let ch = choice[grp * p.per_group + gid.y];
  let e = gid.x;
  if (e >= ch.y) { return; }
  let at = ch.x * p.lcap + e;
  let key = list_idx[at];
  if (key >= p.keys) { return; }
  let v = i32(round(list_score[at] * bitcast<f32>(ch.z)));
  if (v != 0) { atomicAdd(&acc[grp * p.keys + key], v); }
}
