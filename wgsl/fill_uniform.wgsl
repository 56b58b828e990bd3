// Fills an f16 tensor with uniform random values on [center - half, center + half]: the weights of
// a synthetic model made on the GPU (benchmarks: speed does not depend on weight values). Two
// values per u32 word; a counter-based hash (PCG-style) of (seed, index) needs no state.
struct Params { words: u32, seed: u32, center: f32, half: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

fn hash(x: u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn uniform01(i: u32) -> f32 {
  return f32(hash(i ^ hash(p.seed)) >> 8u) / 16777216.0;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = gid.x + gid.y * n.x * 256u;
  if (i >= p.words) { return; }
  let v = vec2<f32>(uniform01(2u * i), uniform01(2u * i + 1u)) * 2.0 - 1.0;
  out[i] = pack_h2(p.center + p.half * v);
}
